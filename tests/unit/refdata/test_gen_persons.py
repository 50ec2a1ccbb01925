import csv
import datetime as dt

import pytest

from services.common.ids import valid_certno
from services.refdata.cli import CSV_HEADER, demo_document, gen_persons
from tests.dates import THIS_YEAR


def read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_rows_are_valid_and_spread_over_the_demo_pools(tmp_path):
    out = tmp_path / "p.csv"
    assert gen_persons(5000, out, seed=3) == 5000
    rows = read(out)
    assert tuple(rows[0]) == CSV_HEADER
    body = [dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]]
    assert len(body) == 5000
    pools = {p.code: p for p in demo_document().pools}
    assert len({r["psn_no"] for r in body}) == 5000
    assert len({r["certno"] for r in body}) == 5000
    assert {r["pool"] for r in body} == set(pools)
    for r in body:
        assert valid_certno(r["certno"]), r
        assert r["certno"][6:14] == r["birthdate"].replace("-", "")
        assert (int(r["certno"][16]) % 2 == 1) == (r["gender"] == "1")
        pool = pools[r["pool"]]
        assert r["insutype"] in pool.insutypes
        assert r["certno"][:6] in pool.admdvs
        assert (r["psn_type"] == "resident") == (r["insutype"] == "390")
        assert dt.date.fromisoformat(r["benefit_start"]) <= dt.date.fromisoformat(r["benefit_end"])
        assert r["status"] in ("active", "paused", "lapsed")
        assert len(r["psn_no"]) == 18 and r["year"] == str(THIS_YEAR)
    # never collides with the demo persons (their serial tag is 000)
    demo = {p.psn_no for p in demo_document().persons}
    assert not demo & {r["psn_no"] for r in body}


def test_deterministic_by_seed(tmp_path):
    gen_persons(500, tmp_path / "a.csv", seed=11)
    gen_persons(500, tmp_path / "b.csv", seed=11)
    gen_persons(500, tmp_path / "c.csv", seed=12)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_pool_selection(tmp_path):
    gen_persons(300, tmp_path / "a.csv", seed=1, pools=["43CZT"])
    assert {r[5] for r in read(tmp_path / "a.csv")[1:]} == {"43CZT"}
    with pytest.raises(ValueError, match="unknown pool"):
        gen_persons(1, tmp_path / "b.csv", pools=["999999"])


def test_large_population_has_unique_ids(tmp_path):
    # Speed is measured by loadtest/bench_eligibility.py, not here; this checks uniqueness at scale.
    gen_persons(20_000, tmp_path / "big.csv", seed=5)
    rows = read(tmp_path / "big.csv")[1:]
    assert len(rows) == 20_000
    assert len({r[0] for r in rows}) == 20_000 and len({r[1] for r in rows}) == 20_000


def test_populations_of_different_seeds_share_no_person(tmp_path):
    # The load test imports a second population on top of the first during its peak phase.
    gen_persons(5_000, tmp_path / "a.csv", seed=1)
    gen_persons(5_000, tmp_path / "b.csv", seed=2)
    a, b = read(tmp_path / "a.csv")[1:], read(tmp_path / "b.csv")[1:]
    assert not {r[0] for r in a} & {r[0] for r in b}
    assert not {r[1] for r in a} & {r[1] for r in b}
    for r in a[:200] + b[:200]:
        assert valid_certno(r[1]) and r[1][6:14] == r[4].replace("-", "")  # birthdate still agrees
