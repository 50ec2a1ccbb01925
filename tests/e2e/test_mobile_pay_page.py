"""The patient's pay page in real Chromium (phone viewport) against the whole suite: an order made by
a signed 6201, then the patient signed in sees the split, confirms, gets the receipt; a declined
payment shows why and offers a retry; a timed-out one is resolved on reload; another person's order
is "not found"; a POST without the CSRF token is refused and pays nothing.

Signing in: `_sign_in` below. Until gateway/portal is merged the pages use the stand-in session of
gateway/mobilepay/portal_api.py (a cookie signed with the installation's session key); once the
portal is in, `_sign_in` must use its real sign-in and this test runs against it unchanged otherwise.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.async_api import async_playwright

from gateway.mobilepay import portal_api
from services.common.clock import Clock
from tests.e2e.conftest import fresh_person
from tests.e2e.test_mobile_payment import KW, SX3, _order_input, _settlements, _sim_charge, _visit, ok

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


async def _sign_in(context, suite, psn_no: str) -> None:
    if portal_api.REAL_PORTAL:
        pytest.skip("gateway/portal is merged: _sign_in must use its real sign-in flow")
    secret = (suite.settings.data_dir / "secrets" / "session-key").read_text().strip()
    value = portal_api.session_cookie(secret, psn_no, int(Clock().timestamp()) + 600)
    await context.add_cookies([{"name": portal_api.COOKIE, "value": value, "url": suite.gateway_url}])


@pytest.fixture
async def browser():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _page_for(browser, suite, psn_no: str | None):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    if psn_no:
        await _sign_in(context, suite, psn_no)
    return context, await context.new_page()


async def _order(his, admin, suite, total: str):
    psn_no, certno, mdtrt_id, token = await _visit(his, admin, suite)
    created = ok(await his.call("6201", _order_input(psn_no, certno, mdtrt_id, token, total), **KW))
    return psn_no, mdtrt_id, created


def _amount(text: str) -> Decimal:
    return Decimal(text.strip().lstrip("¥"))


async def test_patient_confirms_and_gets_the_receipt(his_factory, admin, suite, browser):
    his = await his_factory(SX3)
    psn_no, mdtrt_id, created = await _order(his, admin, suite, "350.00")
    ext = created["extData"]
    context, page = await _page_for(browser, suite, psn_no)
    try:
        await page.goto(created["cashierUrl"].replace(created["cashierUrl"].split("/m/")[0], suite.gateway_url))
        assert _amount(await page.inner_text("#medfee")) == Decimal("350.00")
        assert _amount(await page.inner_text("#fund")) == ext["fundPay"]
        assert _amount(await page.inner_text("#acct")) == ext["psnAcctPay"]
        assert _amount(await page.inner_text("#cash")) == ext["ownPayAmt"]
        assert await page.get_attribute("#state", "data-state") == "payable"
        await page.click("#pay")
        await page.wait_for_selector("#receipt")
        assert await page.get_attribute("#state", "data-state") == "paid"
        setl_id = (await page.inner_text("#setl-id")).strip()
        rows = await _settlements(suite, mdtrt_id)
        assert [r["setl_id"] for r in rows] == [setl_id]
        # the hospital's 6202 afterwards replays the patient's payment; back + resubmit pays nothing more
        paid = ok(await his.call("6202", {"data": {"payOrdId": created["payOrdId"], "payToken": created["payToken"],
                                                   "orgCodg": SX3, "orgBizSer": "BIZ1", "mdtrtId": mdtrt_id}}, **KW))
        assert paid["ordStas"] == "6" and paid["extData"]["setlId"] == setl_id
        assert len(await _settlements(suite, mdtrt_id)) == 1
    finally:
        await context.close()


async def test_declined_then_retry_and_timeout_resolved_by_the_page(his_factory, admin, suite, browser):
    his = await his_factory(SX3)
    psn_no, mdtrt_id, created = await _order(his, admin, suite, "88.01")
    context, page = await _page_for(browser, suite, psn_no)
    try:
        await page.goto(f"{suite.gateway_url}/m/orders/{created['payOrdId']}")
        await page.click("#pay")
        await page.wait_for_selector("#state[data-state=failed]")
        assert "declined" in await page.inner_text("#state")
        assert "重新支付" in await page.inner_text("#pay")  # may retry
        assert await _settlements(suite, mdtrt_id) == []
    finally:
        await context.close()

    psn_no, mdtrt_id, created = await _order(his, admin, suite, "66.02")
    context, page = await _page_for(browser, suite, psn_no)
    try:
        await page.goto(f"{suite.gateway_url}/m/orders/{created['payOrdId']}")
        # the confirm's charge times out (pay_pending); the page it redirects to asks the provider,
        # finds the charge went through and books the settlement: one charge, one settlement
        await page.click("#pay")
        await page.wait_for_selector("#receipt")
        await page.reload()
        assert await page.get_attribute("#state", "data-state") == "paid"
        assert len(await _settlements(suite, mdtrt_id)) == 1
        assert len(await _sim_charge(suite, created["payOrdId"])) == 1
    finally:
        await context.close()


async def test_anothers_order_and_a_forged_post_reveal_and_pay_nothing(his_factory, admin, suite, browser):
    his = await his_factory(SX3)
    psn_no, mdtrt_id, created = await _order(his, admin, suite, "45.00")
    stranger = await fresh_person(admin)
    url = f"{suite.gateway_url}/m/orders/{created['payOrdId']}"
    context, page = await _page_for(browser, suite, stranger)
    try:
        r = await page.goto(url)
        assert r.status == 404 and await page.query_selector("#not-found")
        assert "45.00" not in await page.content()
    finally:
        await context.close()
    context, page = await _page_for(browser, suite, None)
    try:
        r = await page.goto(url)
        assert r.status == 401 and await page.query_selector("#signin-needed")
    finally:
        await context.close()
    context, page = await _page_for(browser, suite, psn_no)
    try:
        r = await page.request.post(url + "/pay", form={"csrf_token": "forged"})
        assert r.status == 403
        assert await _settlements(suite, mdtrt_id) == []
        r = await page.goto(url)
        assert await page.get_attribute("#state", "data-state") == "payable"
    finally:
        await context.close()
