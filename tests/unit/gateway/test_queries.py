"""1901 dictionary query and 1312 catalogue query (gateway/his/handlers/queries.py), pure: their input
readers (every malformed value names its field), dictionary lookup, catalogue rows, filters and
paging, and both handlers run on the demo reference data in a real ReferenceCache, their outputs
walked against the field reference."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway.his import envelope as f
from gateway.his.contract import output_nodes, problems
from gateway.his.handlers import HANDLERS, queries
from gateway.his.handlers.queries import (
    COLUMNS,
    CatalogueQuery,
    DictQuery,
    catalogue_rows,
    dictionary_rows,
    page,
    parse_catalogue_query,
    parse_dict_query,
    treatment_pools,
)
from infra.reference.make_demo import document
from services.engine.model import Catalogue, CatalogueItem, Pool
from services.refdata.cache import ReferenceCache, _Snapshot
from services.refdata.schema import parse_document

SX3, XJ3 = "H33060200001", "H65010200001"
DRUG, BED, STENT = "XC10AAA089A001010104327", "001104000010000", "C03010101001001123456"


def _reference(doc: dict) -> ReferenceCache:
    parsed = parse_document(doc)
    return ReferenceCache(_Snapshot(pools={p.code: p for p in parsed.pools},
                                    hospitals={h.code: h for h in parsed.hospitals},
                                    catalogues={c.pool: c for c in parsed.catalogues}))


@pytest.fixture(scope="module")
def ref() -> ReferenceCache:
    return _reference(document(2026))


def _call(ref, code: str, inp: dict):
    """What the handlers read of a Call: its input, the authenticated hospital and the reference cache."""
    return SimpleNamespace(input=inp, principal=SimpleNamespace(code=code), reference=ref)


def _run(handler, call):
    return asyncio.run(handler(call))


def _field_error(fn, *args) -> f.FieldError:
    with pytest.raises(f.FieldError) as e:
        fn(*args)
    return e.value


# ============================================================================= 1901

DICT_OK = {"type": "psn_type", "parent_value": "", "admdvs": "330602", "date": "2026-05-20", "Vali_Flag": "1"}


def test_1901_reads_its_input():
    q = parse_dict_query({"data": DICT_OK})
    assert q == DictQuery(type="psn_type", parent_value="", admdvs="330602", date="2026-05-20", vali_flag="1")
    # the national baseline's spelling vali_flag is read too; a datetime is cut to its date
    q = parse_dict_query({"data": {**DICT_OK, "Vali_Flag": None, "vali_flag": "0", "date": "2026-05-20 10:00:00"}})
    assert (q.vali_flag, q.date) == ("0", "2026-05-20")


@pytest.mark.parametrize("change,field,words", [
    ({"type": None}, "input.data.type", "required"),
    ({"type": "nosuch"}, "input.data.type", "unknown dictionary type 'nosuch'"),
    ({"type": "setl_type"}, "input.data.type", "the document has no table for it"),
    ({"type": 310}, "input.data.type", "must be a string"),
    ({"parent_value": "A" * 11}, "input.data.parent_value", "length"),
    ({"admdvs": "33060"}, "input.data.admdvs", "length must be 6..6"),
    ({"admdvs": "33060X"}, "input.data.admdvs", "6 digits"),
    ({"admdvs": ""}, "input.data.admdvs", "required"),
    ({"date": "2026-02-30"}, "input.data.date", "yyyy-MM-dd"),
    ({"date": None}, "input.data.date", "required"),
    ({"Vali_Flag": "2"}, "input.data.Vali_Flag", "not a code of the vali_flag dictionary"),
    ({"Vali_Flag": None}, "input.data.Vali_Flag", "required"),
    ({"Vali_Flag": 1}, "input.data.Vali_Flag", "must be a string"),
    ({"vali_flag": "0"}, "input.data.vali_flag", "differs from Vali_Flag"),
])
def test_1901_names_each_malformed_field(change, field, words):
    e = _field_error(parse_dict_query, {"data": {**DICT_OK, **change}})
    assert e.field == field and words in e.message and e.outcome == "INVALID_INPUT"


@pytest.mark.parametrize("inp,field", [({}, "input.data"), ({"data": []}, "input.data")])
def test_1901_needs_its_data_object(inp, field):
    assert _field_error(parse_dict_query, inp).field == field


def test_1901_rows_of_a_national_dictionary(ref):
    rows = dictionary_rows(parse_dict_query({"data": DICT_OK}), ref)
    assert len(rows) == 30
    assert rows[0] == {"type": "psn_type", "label": "在职", "value": "11", "parentValue": "", "sort": 1,
                       "valiFlag": "1", "createUser": "", "createDate": "", "version": 1}
    assert [r["sort"] for r in rows] == list(range(1, 31))
    assert dictionary_rows(DictQuery("psn_type", "", "330602", "2026-05-20", "0"), ref) == []  # all ours are valid


def test_1901_parent_value_selects_the_children(ref):
    rows = dictionary_rows(DictQuery("dept", "A04.01", "330602", "2026-05-20", "1"), ref)
    assert [(r["value"], r["label"]) for r in rows] == [("A04.01.01", "肝脏移植项目"), ("A04.01.02", "胰腺移植项目"),
                                                        ("A04.01.03", "小肠移植项目")]
    assert {r["parentValue"] for r in rows} == {"A04.01"}
    whole = dictionary_rows(DictQuery("dept", "", "330602", "2026-05-20", "1"), ref)
    assert len(whole) == 222 and rows[0]["sort"] == next(r["sort"] for r in whole if r["value"] == "A04.01.01")
    assert dictionary_rows(DictQuery("psn_type", "11", "330602", "2026-05-20", "1"), ref) == []  # flat


def test_1901_our_own_dictionaries_come_from_the_pools(ref):
    pools = dictionary_rows(DictQuery("poolarea_no", "", "330602", "2026-05-20", "1"), ref)
    assert [(r["value"], r["label"]) for r in pools][:2] == [("150500", "通辽市"), ("330600", "绍兴市")]
    assert len(pools) == 6
    adm = dictionary_rows(DictQuery("admdvs", "", "330602", "2026-05-20", "1"), ref)
    assert len(adm) == sum(len(p.admdvs) for p in ref.pools().values())
    assert {(r["value"], r["parentValue"]) for r in adm if r["value"] == "650102"} == {("650102", "650000"),
                                                                                     ("650102", "650100")}
    sx = dictionary_rows(DictQuery("admdvs", "330600", "330602", "2026-05-20", "1"), ref)
    assert [r["value"] for r in sx] == ["330600", "330602", "330603", "330604", "330624", "330681", "330683"]
    assert {r["label"] for r in sx} == {"绍兴市"}


def test_every_served_dictionary_answers_whole_against_the_field_reference(ref):
    spec = output_nodes("1901")
    for type_ in sorted(queries.known_types()):
        out = _run(queries.dictionary_query, _call(ref, SX3, {"data": {**DICT_OK, "type": type_}}))
        assert out["list"], type_
        assert problems(out, spec) == [], type_
        assert {r["type"] for r in out["list"]} == {type_}
        assert all(isinstance(r["sort"], int) and isinstance(r["version"], int) for r in out["list"])
    # required (R = Y) fields left "" are the ones we have no value for, and only those
    out = _run(queries.dictionary_query, _call(ref, SX3, {"data": {**DICT_OK, "type": "dept"}}))
    empty = {p.split(".")[-1].split(":")[0] for p in problems(out, spec, nonempty=True)}
    assert empty == {"parentValue", "createUser", "createDate"}


# ============================================================================= 1312

CAT_OK = {"updt_time": "2000-01-01", "page_num": 1, "page_size": 100}


def test_1312_reads_its_input():
    q = parse_catalogue_query({"data": {**CAT_OK, "hilist_code": DRUG, "hilist_name": "他汀", "chrgitm_lv": "02",
                                        "list_type": "101", "insu_admdvs": "330600", "query_date": "2026-05-20",
                                        "page_num": "2", "page_size": 20}})
    assert (q.page_num, q.page_size, q.hilist_code, q.hilist_name, q.insu_admdvs) == (2, 20, DRUG, "他汀", "330600")
    assert q.equal == (("chrgitm_lv", "02"), ("list_type", "101")) and q.query_date == "2026-05-20"


@pytest.mark.parametrize("change,field,words", [
    ({"updt_time": None}, "input.data.updt_time", "required"),
    ({"updt_time": "2026/05/20"}, "input.data.updt_time", "yyyy-MM-dd"),
    ({"page_num": None}, "input.data.page_num", "required"),
    ({"page_num": 0}, "input.data.page_num", "1..9999"),
    ({"page_num": Decimal("1.5")}, "input.data.page_num", "must be an integer"),
    ({"page_num": "one"}, "input.data.page_num", "must be an integer"),
    ({"page_num": True}, "input.data.page_num", "must be an integer"),
    ({"page_size": 10000}, "input.data.page_size", "1..9999"),
    ({"page_size": -1}, "input.data.page_size", "1..9999"),
    ({"hilist_code": "XC10 AAA"}, "input.data.hilist_code", "bad format"),
    ({"hilist_code": "X" * 65}, "input.data.hilist_code", "length"),
    ({"hilist_name": 12}, "input.data.hilist_name", "must be a string"),
    ({"insu_admdvs": "33060X"}, "input.data.insu_admdvs", "6 digits"),
    ({"med_chrgitm_type": "99"}, "input.data.med_chrgitm_type", "not a code of the med_chrgitm_type dictionary"),
    ({"chrgitm_lv": 2}, "input.data.chrgitm_lv", "must be a string"),
    ({"chrgitm_lv": "2"}, "input.data.chrgitm_lv", "01/02/03"),
    ({"list_type": "999"}, "input.data.list_type", "list_type dictionary"),
    ({"lmt_used_flag": "Y"}, "input.data.lmt_used_flag", "lmt_used_flag dictionary"),
    ({"med_use_flag": "2"}, "input.data.med_use_flag", "med_use_flag dictionary"),
    ({"matn_used_flag": "2"}, "input.data.matn_used_flag", "matn_used_flag dictionary"),
    ({"lmt_cpnd_type": "5"}, "input.data.lmt_cpnd_type", "lmt_cpnd_type dictionary"),
    ({"vali_flag": "9"}, "input.data.vali_flag", "vali_flag dictionary"),
    ({"hilist_use_type": "1234"}, "input.data.hilist_use_type", "length"),
    ({"wubi": "x" * 31}, "input.data.wubi", "length"),
    ({"pinyin": "a\tb"}, "input.data.pinyin", "control characters"),
    ({"query_date": "2026-13-01"}, "input.data.query_date", "yyyy-MM-dd"),
    ({"begndate": "yesterday!"}, "input.data.begndate", "yyyy-MM-dd"),
    ({"page_size": Decimal("20.0")}, "input.data.page_size", "must be an integer"),
])
def test_1312_names_each_malformed_field(change, field, words):
    e = _field_error(parse_catalogue_query, {"data": {**CAT_OK, **change}})
    assert e.field == field and words in e.message and e.outcome == "INVALID_INPUT"


def _q(**kw) -> CatalogueQuery:
    return CatalogueQuery(**{"updt_time": "2000-01-01", "page_num": 1, "page_size": 1000, **kw})


def test_1312_rows_of_an_item(ref):
    (pool,) = treatment_pools(ref, ref.hospital(SX3))
    rows = {r["hilist_code"]: r for r in catalogue_rows(ref, [pool])}
    assert len(rows) == len(ref.catalogue("330600").items) == 38
    drug = rows[DRUG]
    assert tuple(drug) == COLUMNS
    assert {k: drug[k] for k in ("hilist_name", "insu_admdvs", "poolarea_no", "chrgitm_lv", "list_type",
                                 "med_chrgitm_type", "vali_flag", "lmt_used_flag", "med_use_flag")} == {
        "hilist_name": "阿托伐他汀钙片", "insu_admdvs": "330600", "poolarea_no": "330600", "chrgitm_lv": "02",
        "list_type": "101", "med_chrgitm_type": "09", "vali_flag": "1", "lmt_used_flag": "0", "med_use_flag": "1"}
    assert (rows[BED]["list_type"], rows[BED]["med_chrgitm_type"], rows[BED]["chrgitm_lv"]) == ("201", "14", "01")
    assert (rows[STENT]["list_type"], rows[STENT]["med_chrgitm_type"], rows[STENT]["chrgitm_lv"]) == ("301", "08", "03")
    assert len({r["rid"] for r in rows.values()}) == 38 and all(len(r["rid"]) == 40 for r in rows.values())
    assert list(rows) == sorted(rows)


def test_the_drug_code_letter_decides_the_fee_class():
    pool = Pool(code="P1", name="p", insutypes=("390",), admdvs=frozenset({"110101", "110100"}))
    items = {c: CatalogueItem(code=c, name=c, kind="drug", cls="01") for c in ("Z123", "T456", "X789", "9")}
    rows = {r["hilist_code"]: r for r in (queries.catalogue_row(pool, i) for i in items.values())}
    assert {c: (r["med_chrgitm_type"], r["list_type"]) for c, r in rows.items()} == {
        "Z123": ("11", "101"), "T456": ("10", "102"), "X789": ("09", "101"), "9": ("09", "101")}
    assert {r["insu_admdvs"] for r in rows.values()} == {"110100"}  # the pool's smallest admdvs


def test_a_hospital_in_two_pools_gets_both_catalogues(ref):
    pools = treatment_pools(ref, ref.hospital(XJ3))
    assert [p.code for p in pools] == ["650000", "650100"]
    rows = catalogue_rows(ref, pools)
    assert len(rows) == 76
    assert [(r["hilist_code"], r["poolarea_no"], r["insu_admdvs"]) for r in rows if r["hilist_code"] == DRUG] == [
        (DRUG, "650000", "650000"), (DRUG, "650100", "650100")]
    only_310 = page(rows, _q(insu_admdvs="650100"))
    assert len(only_310) == 38 and {r["poolarea_no"] for r in only_310} == {"650100"}


@pytest.mark.parametrize("kw,expect", [
    ({"hilist_code": DRUG}, [DRUG]),
    ({"hilist_code": "XC10AAA089A00101010432"}, []),  # exact, not a prefix
    ({"hilist_name": "他汀"}, None),
    ({"equal": (("list_type", "301"),)}, None),
    ({"equal": (("chrgitm_lv", "03"), ("list_type", "301"))}, None),
    ({"equal": (("vali_flag", "0"),)}, []),
    ({"equal": (("lmt_used_flag", "1"),)}, []),
    ({"pinyin": "ATFT"}, []),  # we hold no mnemonic codes: a mnemonic search finds nothing
    ({"wubi": "B"}, []),
    ({"hilist_use_type": "1"}, []),
    ({"insu_admdvs": "330602"}, []),  # the rows' insu_admdvs is the pool's 330600
])
def test_1312_filters(ref, kw, expect):
    rows = catalogue_rows(ref, treatment_pools(ref, ref.hospital(SX3)))
    got = page(rows, _q(**kw))
    if expect is not None:
        assert [r["hilist_code"] for r in got] == expect
        return
    assert got  # a filter that selects something: exactly the rows it names
    names = {k: v for k, v in kw.items() if k != "equal"}
    for r in rows:
        ok = all(r[k] == v for k, v in kw.get("equal", ())) and all(v in r[k] for k, v in names.items())
        assert (r in got) == ok, r["hilist_code"]


def test_1312_date_filters_pass_rows_whose_dates_we_do_not_hold(ref):
    rows = catalogue_rows(ref, treatment_pools(ref, ref.hospital(SX3)))
    for kw in ({"updt_time": "2999-12-31"}, {"begndate": "2999-12-31"}, {"query_date": "1990-01-01"}):
        assert len(page(rows, _q(**kw))) == 38
    dated = [{**rows[0], "updt_time": "2026-01-01", "begndate": "2026-01-01", "enddate": "2026-06-30"}]
    assert page(dated, _q(updt_time="2026-01-02")) == [] and page(dated, _q(updt_time="2026-01-01")) == dated
    assert page(dated, _q(query_date="2026-07-01")) == [] and page(dated, _q(query_date="2025-12-31")) == []
    assert page(dated, _q(query_date="2026-03-01")) == dated and page(dated, _q(begndate="2026-01-02")) == []


def test_1312_paging(ref):
    rows = catalogue_rows(ref, treatment_pools(ref, ref.hospital(XJ3)))
    pages = [page(rows, _q(page_num=n, page_size=10)) for n in range(1, 9)]
    assert [len(p) for p in pages] == [10] * 7 + [6]
    assert [r for p in pages for r in p] == [dict(r) for r in rows]  # in order, each once
    assert page(rows, _q(page_num=9, page_size=10)) == [] and page(rows, _q(page_num=9999, page_size=9999)) == []
    assert page(rows, _q(page_num=2, page_size=36, equal=(("chrgitm_lv", "01"),))) == []  # pages count matches only
    first = page(rows, _q(page_size=1))
    first[0]["hilist_name"] = "changed"  # a page is a copy: the shared rows stay as they were
    assert rows[0]["hilist_name"] != "changed"


def test_the_rows_are_rebuilt_after_a_reload(ref):
    pools = treatment_pools(ref, ref.hospital(SX3))
    assert catalogue_rows(ref, pools) is catalogue_rows(ref, pools)  # built once per snapshot
    doc = document(2026)
    for c in doc["catalogues"]:
        if c["pool"] == "330600":
            c["items"] = [i for i in c["items"] if i["code"] != DRUG]
    reloaded = _reference(doc)
    rows = catalogue_rows(reloaded, treatment_pools(reloaded, reloaded.hospital(SX3)))
    assert len(rows) == 37 and DRUG not in {r["hilist_code"] for r in rows}


def test_1312_handler_answers_whole_rows_under_output(ref):
    spec = output_nodes("1312")
    out = _run(queries.catalogue_query, _call(ref, XJ3, {"data": {**CAT_OK, "page_size": 50}}))
    assert isinstance(out, list) and len(out) == 50
    assert problems(out, spec) == []
    empty = {p.split(".")[-1].split(":")[0] for p in problems(out, spec, nonempty=True)}
    assert empty == {"begndate", "hilist_use_type", "updt_time", "crte_time"}  # dates and a code we do not hold
    rest = _run(queries.catalogue_query, _call(ref, XJ3, {"data": {**CAT_OK, "page_num": 2, "page_size": 50}}))
    assert len(rest) == 26 and problems(rest, spec) == []


def test_1312_of_a_hospital_in_no_pool(ref):
    lonely = _reference({**document(2026)})
    snap = lonely._snap
    h = snap.hospitals[SX3]
    lonely._snap = _Snapshot(pools={k: v for k, v in snap.pools.items() if not v.holds(h.admdvs)},
                             hospitals=snap.hospitals, catalogues=snap.catalogues)
    e = _field_error(lambda: _run(queries.catalogue_query, _call(lonely, SX3, {"data": CAT_OK})))
    assert (e.outcome, e.field) == ("NO_TREATMENT_POOL", "fixmedins_code")


def test_a_pool_without_a_catalogue_answers_no_rows():
    pool = Pool(code="P1", name="p", insutypes=("390",), admdvs=frozenset({"110101"}))
    from services.engine.model import Hospital

    h = Hospital(code="H11010100001", name="h", admdvs="110101", level=1, cross_province=False)
    ref = ReferenceCache(_Snapshot(pools={"P1": pool}, hospitals={h.code: h}, catalogues={}))
    assert _run(queries.catalogue_query, _call(ref, h.code, {"data": CAT_OK})) == []
    ref = ReferenceCache(_Snapshot(pools={"P1": pool}, hospitals={h.code: h},
                                   catalogues={"P1": Catalogue(pool="P1", items={})}))
    assert _run(queries.catalogue_query, _call(ref, h.code, {"data": CAT_OK})) == []


def test_without_the_reference_cache_on_the_call_it_is_a_wiring_bug(ref):
    call = SimpleNamespace(input={"data": DICT_OK}, principal=None)
    with pytest.raises(RuntimeError, match="call.reference"):
        _run(queries.dictionary_query, call)


def test_both_are_in_the_table():
    assert HANDLERS["1901"] is queries.dictionary_query and HANDLERS["1312"] is queries.catalogue_query
