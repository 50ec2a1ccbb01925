"""What `medsettle load` and `medsettle gen-persons` run.

load_file: validate the whole file first, then apply it in one transaction; on any error print
every problem with its path and apply nothing.
gen_persons: a synthetic, deterministic population in the bulk enrollment CSV of
docs/REFERENCE_DATA.md, spread over the pools of the demo data.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from services.common.ids import gb11643_check_digit
from services.refdata.schema import ReferenceError, read_document

# `load_file(dsn, DEMO)`: the demo document for this year in Beijing (infra/reference/make_demo.py).
DEMO = "(demo data)"
CSV_HEADER = ("psn_no", "certno", "name", "gender", "birthdate", "pool", "insutype", "year", "psn_type",
              "benefit_start", "benefit_end", "status")

EXIT_OK = 0
EXIT_INVALID = 2  # the file does not match the format: nothing applied
EXIT_FAILED = 1  # the database refused or is unreachable: nothing applied


def demo_document(clock=None):
    """The parsed demo document for the clock's Beijing year (last, this and next year)."""
    from infra.reference.make_demo import document_for_today
    from services.refdata.schema import parse_document

    return parse_document(document_for_today(clock))


async def load_file(dsn: str, path: str | Path, *, redis_url: str | None = None, out: TextIO | None = None,
                    err: TextIO | None = None) -> int:
    """Load a reference file; print the report (or every path error); return the exit code.

    With `redis_url`, the eligibility cache of every loaded person is invalidated before returning."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        # References to what is already stored are checked by load_document, in its transaction.
        doc = demo_document() if path == DEMO else read_document(path, stored=None)
    except ReferenceError as exc:
        return _invalid(path, exc, err)

    from services.common.db import create_pool
    from services.refdata.store import PersonsStoreUnavailable, load_document

    try:
        pool = await create_pool(dsn, min_size=1, max_size=2)
    except Exception as exc:  # noqa: BLE001 - asyncpg raises many kinds; all mean "cannot connect"
        print(f"cannot connect to the database: {exc}", file=err)
        return EXIT_FAILED
    try:
        report = await load_document(pool, doc)
    except ReferenceError as exc:  # a reference neither in the file nor stored: rolled back
        return _invalid(path, exc, err)
    except PersonsStoreUnavailable as exc:
        print(str(exc), file=err)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the transaction rolled back: nothing applied
        print(f"{path}: load failed, nothing applied: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILED
    finally:
        await pool.close()
    if redis_url and doc.persons:
        from services.common.telemetry import traced_redis
        from services.refdata.store import invalidate_loaded_persons

        redis = traced_redis(redis_url)
        try:
            await invalidate_loaded_persons(redis, doc)
        except Exception as exc:  # noqa: BLE001 - the data is committed; say the cache may lag by its TTL
            print(f"warning: loaded, but the eligibility cache could not be invalidated ({exc}); cached "
                  "statuses expire within ELIGIBILITY_CACHE_TTL_S", file=err)
        finally:
            await redis.aclose()
    print(f"{path}: loaded", file=out)
    print(report.render(), file=out)
    return EXIT_OK


def _invalid(path: str | Path, exc: ReferenceError, err: TextIO) -> int:
    print(f"{path}: {len(exc.errors)} error(s), nothing loaded:", file=err)
    for line in exc.errors:
        print(f"  {line}", file=err)
    return EXIT_INVALID


# ----------------------------------------------------------------------------- synthetic persons

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
             "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅海燕文辉林斌婷雪飞鹏浩宇晨欣怡子涵佳琪梓轩俊杰思远雨萱"


def _demo_pools(path: str | Path | None = None) -> list[dict]:
    if path is None:
        from infra.reference.make_demo import document_for_today

        return document_for_today()["pools"]
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data["pools"]


def gen_persons(count: int, out_path: str | Path, seed: int = 1, pools: Sequence[str] | None = None,
                year: int | None = None, demo_path: str | Path | None = None) -> int:
    """Write `count` synthetic enrollments as CSV; return the number of rows written.

    `year` defaults to this year in Beijing. Deterministic for a given (count, seed, pools, year).
    psn_no is 18 digits: the pool's first admdvs + a 3-digit seed tag + a 9-digit serial, so populations
    generated with different seeds (up to 1000) do not collide with each other or with the demo persons
    (tag 000 is never used).
    certno carries a valid GB 11643 check digit and agrees with birthdate and gender; its two
    sequence digits are the seed tag mod 100, so populations of seeds 1..99 never share a certno.
    Mix: 390 residents and 310 employees/retirees by what each pool carries; about 6% benefit
    from later in the year (waiting period), 2% paused, 1% lapsed.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    if count > 999_999_999:
        raise ValueError("count must be below 10**9 (the psn_no serial has 9 digits)")
    rng = random.Random(seed)
    if year is None:
        from services.common.clock import Clock

        year = Clock().today().year
    defs = _demo_pools(demo_path)
    if pools:
        wanted = set(pools)
        unknown = wanted - {p["code"] for p in defs}
        if unknown:
            raise ValueError(f"unknown pool(s) {', '.join(sorted(unknown))}; known: {', '.join(p['code'] for p in defs)}")
        defs = [p for p in defs if p["code"] in wanted]
    if not defs:
        raise ValueError("no pools to spread the population over")
    tag = (seed % 999) + 1  # 001..999
    # (pool, insutype, admdvs list, psn_no prefix) choices; weighting by insurance type: residents are most people.
    choices = []
    weights = []
    for p in defs:
        admdvs = sorted(p["admdvs"])
        prefix = (admdvs[0] if admdvs[0].isdigit() else "999999")[:6]
        for t in p["insutypes"]:
            choices.append((p["code"], t, admdvs, prefix))
            weights.append(3 if t == "390" else 2)

    year_start = dt.date(year, 1, 1).isoformat()
    year_end = dt.date(year, 12, 31).isoformat()
    base_day = dt.date(1940, 1, 1).toordinal()
    seen_certno: set[str] = set()
    picks = rng.choices(range(len(choices)), weights=weights, k=count)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_HEADER)
        rand = rng.random
        randrange = rng.randrange
        for i in range(count):
            pool, insutype, admdvs, prefix = choices[picks[i]]
            gender = "1" if rand() < 0.5 else "2"
            if insutype == "310":
                retired = rand() < 0.25
                psn_type = "retired" if retired else "employee"
                # retirees born 1940-1966, employees 1966-2006
                birth_ord = base_day + (randrange(0, 26 * 365) if retired else randrange(26 * 365, 66 * 365))
            else:
                psn_type = "resident"
                birth_ord = base_day + randrange(0, (year - 1940) * 365)
            birth = dt.date.fromordinal(birth_ord)
            region = admdvs[randrange(len(admdvs))]
            # The two sequence digits carry the seed tag, so files generated with seeds whose tags
            # differ mod 100 never share a certno (a load test imports a second population on top
            # of the first); within a file a clash moves the birthdate by a day.
            while True:
                sex_digit = randrange(1, 10, 2) if gender == "1" else randrange(0, 10, 2)
                first17 = f"{region}{birth:%Y%m%d}{tag % 100:02d}{sex_digit}"
                certno = first17 + gb11643_check_digit(first17)
                if certno not in seen_certno:
                    seen_certno.add(certno)
                    break
                birth = birth - dt.timedelta(days=1)
            r = rand()
            start, status = year_start, "active"
            if r < 0.06:
                start = (dt.date(year, 1, 1) + dt.timedelta(days=randrange(30, 300))).isoformat()
            elif r < 0.08:
                status = "paused"
            elif r < 0.09:
                status = "lapsed"
            name = _SURNAMES[randrange(len(_SURNAMES))] + _GIVEN[randrange(len(_GIVEN))]
            if rand() < 0.6:
                name += _GIVEN[randrange(len(_GIVEN))]
            w.writerow((f"{prefix}{tag:03d}{i:09d}", certno, name, gender, birth.isoformat(), pool, insutype, year,
                        psn_type, start, year_end, status))
    return count
