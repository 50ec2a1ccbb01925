"""A reference load acknowledged by the admin API is visible at once: no eligibility read after
the reply returns a person's old status (the cache is invalidated before the reply)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from services.common.ids import make_certno
from tests.e2e.conftest import this_year
from tests.e2e.demo import document

pytestmark = pytest.mark.e2e
YEAR = this_year()


def _doc(psn_no: str, certno: str, birthdate: str, status: str) -> dict:
    pool = next(p for p in document()["pools"] if p["code"] == "330600")
    return {"format": "medsettle.reference/v1", "pools": [pool], "persons": [{
        "psn_no": psn_no, "certno": certno, "name": "缓存测试", "gender": "1", "birthdate": birthdate,
        "enrollments": [{"pool": "330600", "insutype": "390", "year": YEAR, "psn_type": "resident",
                         "benefit_start": f"{YEAR}-01-01", "benefit_end": f"{YEAR}-12-31", "status": status}],
        "identities": [], "chronic": [], "filings": [], "account_balance": "0.00", "social_card": None,
        "cvlserv": False}]}


async def _status(admin, psn_no: str) -> str:
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    return {i["insutype"]: i for i in body["insuinfo"]}["390"]["psn_insu_stas"]


async def test_admin_reference_load_is_never_served_stale(admin):
    psn_no = "3306" + "".join(random.choice("0123456789") for _ in range(14))
    # A certno of its own every run (the test database keeps earlier runs' persons): random birthdate
    # and sequence; the sex digit is odd (male).
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(18_000))
    certno = make_certno(f"330602{birth:%Y%m%d}{random.randrange(100):02d}{random.choice('13579')}")
    async with admin.post("/api/v1/admin/reference", json=_doc(psn_no, certno, birth.isoformat(), "active")) as r:
        assert r.status == 200, await r.text()
    active = await _status(admin, psn_no)  # fills the eligibility cache
    assert active == "1"
    for _ in range(2):
        assert await _status(admin, psn_no) == active  # served from the cache now
    async with admin.post("/api/v1/admin/reference", json=_doc(psn_no, certno, birth.isoformat(), "lapsed")) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["changed"] >= 1
    assert await _status(admin, psn_no) != active  # the very next read sees the lapse
