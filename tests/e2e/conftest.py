"""Gateway e2e helpers: signed-in HIS clients for demo hospitals against the running suite."""

from __future__ import annotations

import datetime as dt
import random

import asyncpg
import pytest_asyncio

from services.common.clock import Clock
from services.common.ids import make_certno
from tests.e2e.demo import client_for


@pytest_asyncio.fixture
async def his_factory(suite):
    clients = []

    async def make(code: str, sign_in: bool = True):
        c = client_for(suite.gateway_url, code)
        await c.__aenter__()
        clients.append(c)
        if sign_in:
            await c.sign_in()
        return c

    yield make
    for c in clients:
        await c.close()


@pytest_asyncio.fixture
async def admin(suite):
    import aiohttp

    async with aiohttp.ClientSession(base_url=suite.gateway_url,
                                     headers={"Authorization": f"Bearer {suite.admin_token}"}) as s:
        yield s


async def fresh_person(admin, *, pool: str = "330600", insutype: str = "390", psn_type: str = "resident",
                       birth: str | None = None, admdvs: str = "330602", years: tuple[int, ...] = (-1, 0)) -> str:
    """A new insured person for this test only (accumulators start at zero), via the admin API,
    enrolled for each of `years` (offsets from this Beijing year: by default last year and this one,
    so a visit that began before New Year settles too)."""
    psn_no = "T" + "".join(random.choice("0123456789") for _ in range(17))
    # The test database keeps every earlier run's persons: draw the certno from a wide space
    # (random birthdate unless given, random sequence, odd sex digit for gender 1).
    birth = birth or f"{dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(18_000)):%Y%m%d}"
    certno = make_certno(admdvs + birth + f"{random.randrange(100):02d}{random.choice('13579')}")
    for offset in years:
        year = this_year() + offset
        body = {"psn_no": psn_no, "pool": pool, "insutype": insutype, "year": year, "psn_type": psn_type,
                "benefit_start": f"{year}-01-01", "benefit_end": f"{year}-12-31", "status": "active",
                "certno": certno, "name": "测试" + psn_no[-4:], "gender": "1",
                "birthdate": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"}
        async with admin.post("/api/v1/admin/enrollments", json=body) as r:
            assert r.status in (200, 201), await r.text()
    return psn_no


def beijing_now() -> dt.datetime:
    """Beijing wall-clock time, whatever the host's zone (the suite's business clock)."""
    return Clock().naive_now()


def this_year() -> int:
    return beijing_now().year


def now_text(delta_h: float = 0) -> str:
    return (beijing_now() + dt.timedelta(hours=delta_h)).strftime("%Y-%m-%d %H:%M:%S")


COUNTED_SCHEMAS = ("settlement", "filing")


async def row_counts(database_url: str, code: str) -> dict[str, int]:
    """Rows attributable to one hospital in every settlement/filing table that records the hospital.
    (Other engineers' tests share this database and write concurrently, so whole-table counts would
    measure them too; the fuzz uses a hospital no other test uses.)"""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.columns "
                                  "WHERE table_schema = any($1::text[]) AND column_name = 'fixmedins_code'",
                                  list(COUNTED_SCHEMAS))
        return {f"{t['table_schema']}.{t['table_name']}": await conn.fetchval(
            f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}" WHERE fixmedins_code = $1', code)
            for t in tables}
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- the phone in Chromium
# Debian's Chromium driven by Playwright, at a phone viewport; one browser per test module, a fresh
# context (cookies, storage) per test. Used by the patient pages' and the pay pages' tests.

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser, suite):
    ctx = await browser.new_context(viewport=PHONE, base_url=suite.gateway_url, locale="zh-CN", is_mobile=True)
    pg = await ctx.new_page()
    yield pg
    await ctx.close()
