"""The operator console /console/ in a real Chromium (desktop viewport), against the whole suite as
real processes: sign-in, a wrong password, lock-out, a non-operator sent to the login page, a
settlement found by the HIS's msgid with its whole story (request, reply, explanation, fund lines,
ledger, trace id), the reconciliation and clearing pages, a wrong role's 403 page, a cross-site
POST refused. Operators are made through the console's own use cases on the suite's database.

Screenshots go to docs/screenshots/console-*.png when MEDSETTLE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest_asyncio

from gateway.console.accounts import Actor, Console
from gateway.console.repository import ConsoleRepository
from services.common.clock import Clock
from services.common.config import REPO_ROOT
from tests.e2e.conftest import fresh_person, now_text
from tests.e2e.test_his_flows import DRUG, SX3, fee, ok

SHOTS = REPO_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1360, "height": 900}
ROOT = Actor("admin", "admin", "cli")


async def shot(page, name: str, tmp_path: Path) -> None:
    target = SHOTS if os.environ.get("MEDSETTLE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"console-{name}.png"), full_page=True)


@pytest_asyncio.fixture(loop_scope="session")
async def console(db_pool):
    return Console(repo=ConsoleRepository(db_pool), clock=Clock())


@pytest_asyncio.fixture(loop_scope="session")
async def desk(browser, suite):
    ctx = await browser.new_context(viewport=DESKTOP, base_url=suite.gateway_url, locale="zh-CN")
    pg = await ctx.new_page()
    yield pg
    await ctx.close()


async def operator(console, role: str = "operator") -> tuple[str, str]:
    name = f"{role[:3]}{secrets.token_hex(4)}"
    password = "pw-" + secrets.token_urlsafe(12)
    await console.create_operator(ROOT, name, role, f"Test {role}", password)
    return name, password


async def sign_in(page, name: str, password: str, then: str = "/console/") -> None:
    await page.goto("/console/login?next=" + then)
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("#login-form button[type=submit]")


async def settle_one(his_factory, admin) -> dict:
    """A fresh person's outpatient visit settled (2201, 2204, 2207): the 2207 msgid and its reply."""
    psn_no = await fresh_person(admin)
    async with admin.get(f"/api/v1/persons/{psn_no}") as r:
        certno = (await r.json())["baseinfo"]["certno"]
    his = await his_factory(SX3)
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}
    kw = {"insuplc_admdvs": "330600"}
    reg = ok(await his.call("2201", {"data": {"psn_no": psn_no, "insutype": "390", "begntime": now_text(-1),
                                              "ipt_otp_no": "MZ" + his.last_msgid[-10:], "dept_code": "A01",
                                              "dept_name": "内科", **cert}}, **kw))["data"]
    mdtrt_id = reg["mdtrt_id"]
    ok(await his.call("2204", {"feedetail": [fee("F1", mdtrt_id, psn_no, DRUG, "12.50", "80", now_text(-1))]}, **kw))
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "insutype": "390", "med_type": "11", "medfee_sumamt": "1000.00",
            "psn_setlway": "01", "acct_used_flag": "0", "chrg_bchno": "B1", **cert}
    setl = ok(await his.call("2207", {"data": data}, **kw))
    return {"msgid": his.last_msgid, "setl_id": setl["setlinfo"]["setl_id"], "psn_no": psn_no, "his": his,
            "mdtrt_id": mdtrt_id}


# ----------------------------------------------------------------------------- sign-in


async def test_a_visitor_gets_the_login_page_and_an_operator_signs_in(desk, console, tmp_path):
    for path in ("/console/", "/console/find?msgid=x", "/console/clearing", "/console/audit"):
        r = await desk.goto(path)
        assert r.status == 200 and "/console/login" in desk.url, path
    await shot(desk, "login", tmp_path)
    name, password = await operator(console)
    await sign_in(desk, name, password)
    await desk.wait_for_url("**/console/")
    assert await desk.inner_text("#me") == name
    cookie = next(c for c in await desk.context.cookies() if c["name"] == "msc_sid")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"
    entries = await console.repo.audit_log(actor=name, action="login")
    assert entries and entries[0].outcome == "ok" and entries[0].via == "console"


async def test_a_wrong_password_is_refused_and_repeated_ones_lock_the_name_out(desk, console, suite, tmp_path):
    name, password = await operator(console)
    await sign_in(desk, name, "not-the-password")
    assert "用户名或密码错误" in await desk.inner_text("p.error")
    assert await desk.get_attribute("p.error", "data-code") == "LOGIN_FAILED"
    await shot(desk, "login-failed", tmp_path)
    for _ in range(suite.settings.console_max_attempts - 1):
        await sign_in(desk, name, "still-wrong")
    assert await desk.get_attribute("p.error", "data-code") == "LOCKED_OUT"
    await sign_in(desk, name, password)  # the right password, but locked out now
    assert await desk.get_attribute("p.error", "data-code") == "LOCKED_OUT"
    assert "/console/login" in desk.url or await desk.locator("#login-form").count() == 1
    # an unknown name gets the same answer as a wrong password
    await sign_in(desk, "nobody" + secrets.token_hex(3), "whatever-password")
    assert await desk.get_attribute("p.error", "data-code") == "LOGIN_FAILED"
    # the password reset lifts nothing by itself here (no Redis in this Console), but the audit saw it all
    refused = [e for e in await console.repo.audit_log(actor=name, action="login") if e.outcome == "refused"]
    assert len(refused) >= suite.settings.console_max_attempts


# ----------------------------------------------------------------------------- a settlement's story


async def test_find_a_settlement_by_msgid_shows_its_whole_story(desk, console, his_factory, admin, tmp_path):
    s = await settle_one(his_factory, admin)
    name, password = await operator(console, "auditor")
    await sign_in(desk, name, password, then="/console/find")
    await desk.wait_for_url("**/console/find")
    await desk.fill("#find-form input[name=hospital]", SX3)
    await desk.fill("#find-form input[name=msgid]", s["msgid"])
    await desk.click("#find-form button[type=submit]")
    await desk.wait_for_selector("#setl-id")
    assert await desk.inner_text("#setl-id") == s["setl_id"]
    assert await desk.inner_text("#msgid") == s["msgid"]
    assert await desk.locator("#explanation li").count() >= 3
    assert await desk.locator("#fund-lines tbody tr").count() >= 1
    assert await desk.locator("#ledger tbody tr").count() >= 2
    assert s["setl_id"] in await desk.inner_text("#reply")  # the stored reply the HIS got
    infnos = await desk.locator("#journal tbody td:nth-child(2)").all_inner_texts()
    assert {"2201", "2204", "2207"} <= set(infnos)
    traces = [t for t in await desk.locator("#journal code.trace").all_inner_texts() if t != "—"]
    assert traces and all(len(t) == 32 for t in traces)
    await shot(desk, "settlement", tmp_path)
    # any msgid of the visit (here the 2201's) leads to the same settlement
    first = (await desk.locator("#journal tbody tr:first-child td:nth-child(3)").inner_text()).strip()
    await desk.goto(f"/console/find?hospital={SX3}&msgid={first}")
    assert await desk.inner_text("#setl-id") == s["setl_id"]
    # bad input: a clear message naming the field, nothing else
    await desk.goto("/console/find?msgid=abc")
    assert await desk.get_attribute("p.error", "data-field") == "hospital"
    await desk.goto(f"/console/find?hospital={SX3}&msgid=NO-SUCH-{secrets.token_hex(4)}")
    assert await desk.get_attribute("p.error", "data-field") == "msgid"


async def test_the_settlements_list_filters_by_hospital_and_shows_refusals(desk, console, his_factory, admin,
                                                                        tmp_path):
    s = await settle_one(his_factory, admin)
    refused = await s["his"].call("2207", {"data": {"psn_no": s["psn_no"], "mdtrt_id": "NO-SUCH-VISIT",
                                                    "insutype": "390", "med_type": "11", "medfee_sumamt": "1.00",
                                                    "psn_setlway": "01", "acct_used_flag": "0"}},
                                  insuplc_admdvs="330600")
    assert refused["infcode"] == -1
    name, password = await operator(console)
    await sign_in(desk, name, password, then=f"/console/?hospital={SX3}")
    await desk.wait_for_selector("#settlements")
    assert await desk.locator(f"#settlements tr[data-msgid='{s['msgid']}']").count() == 1
    assert s["his"].last_msgid in await desk.inner_text("#refusals")
    await shot(desk, "settlements", tmp_path)
    await desk.goto("/console/?date=yesterday")
    assert await desk.get_attribute("p.error", "data-field") is not None or "yyyy-MM-dd" in await desk.inner_text(
        "p.error")


# ----------------------------------------------------------------------------- roles and CSRF


async def test_a_wrong_role_gets_a_403_page_and_a_cross_site_post_is_refused(desk, console, suite, tmp_path):
    name, password = await operator(console, "auditor")
    await sign_in(desk, name, password)
    await desk.wait_for_url("**/console/")
    r = await desk.goto("/console/operators")
    assert r.status == 403 and "无权访问" in await desk.inner_text("h1")
    await shot(desk, "forbidden", tmp_path)
    # a POST without the CSRF token (as another site's form would send) is refused before anything is read
    status = await desk.evaluate("""async () => {
        const r = await fetch('/console/logout', {method: 'POST', body: new URLSearchParams({csrf: 'forged'})});
        return r.status; }""")
    assert status == 403
    await desk.goto("/console/")
    assert await desk.inner_text("#me") == name  # still signed in: the forged sign-out did nothing


# ----------------------------------------------------------------------------- reconciliation, clearing, audit


async def test_reconciliation_shows_the_platforms_day_and_the_hospitals_3201(desk, console, his_factory, admin,
                                                                          tmp_path):
    s = await settle_one(his_factory, admin)
    day = now_text()[:10]
    r = ok(await s["his"].call("3201", {"data": {"insutype": "390", "clr_type": "11", "setl_optins": "330600",
                                                 "stmt_begndate": day, "stmt_enddate": day, "medfee_sumamt": "1.00",
                                                 "fund_pay_sumamt": "0.00", "acct_pay": "0.00",
                                                 "fixmedins_setl_cnt": "1"}}))
    assert r["stmtinfo"]["stmt_rslt"] == "1"  # the hospital's figures disagree with the platform's
    name, password = await operator(console, "auditor")
    await sign_in(desk, name, password, then=f"/console/reconciliation?hospital={SX3}")
    await desk.wait_for_selector("#days")
    rows = await desk.locator("#days tbody tr").all_inner_texts()
    assert any(day in row and SX3 in row for row in rows)
    assert s["his"].last_msgid in await desk.inner_text("#calls")
    row = desk.locator("#calls tbody tr", has_text=s["his"].last_msgid)
    assert await row.locator("td[data-result]").get_attribute("data-result") == "disagree"
    assert "platform: count" in await row.inner_text()  # the platform's figures beside the hospital's verdict
    await shot(desk, "reconciliation", tmp_path)
    await desk.goto(f"/console/reconciliation?date_from={now_text()[:4]}-13-01")
    assert await desk.get_attribute("p.error", "data-field") == "date_from"


async def test_an_operator_runs_the_clearing_and_an_auditor_may_only_look(desk, console, browser, suite, tmp_path):
    import datetime as dt

    first = dt.date.fromisoformat(now_text()[:10]).replace(day=1)
    month = (first - dt.timedelta(days=1)).strftime("%Y%m")
    name, password = await operator(console, "operator")
    await sign_in(desk, name, password, then="/console/clearing")
    await desk.wait_for_url("**/console/clearing")
    await desk.fill("#clearing-form input[name=setlym]", f"{now_text()[:4]}-01")
    await desk.click("#clearing-form button[type=submit]")
    assert await desk.get_attribute("p.error", "data-field") == "setlym"
    await desk.fill("#clearing-form input[name=setlym]", month)
    await desk.click("#clearing-form button[type=submit]")
    await desk.wait_for_url(f"**/console/clearing?setlym={month}*")
    assert await desk.locator(f"#runs tr[data-setlym='{month}']").count() == 1
    assert month in await desk.inner_text("#run h2")  # statements and net positions of the run (none when the
    assert await desk.locator("#statements li").count() >= 1  # month had no cross-pool settlement: it says so)
    # the picture: a run of this century with cross-pool statements when the test database has one
    for row in await desk.locator("#runs tbody tr").all():
        setlym = await row.get_attribute("data-setlym") or ""
        cells = await row.locator("td").all_inner_texts()
        if setlym.startswith("20") and len(cells) == 5 and cells[3].strip() not in ("0", ""):
            await desk.goto(f"/console/clearing?setlym={setlym}")
            break
    await shot(desk, "clearing", tmp_path)
    runs = [e for e in await console.repo.audit_log(actor=name, action="clearing.run")]
    assert runs and runs[0].target == month and runs[0].outcome == "ok"

    ctx = await browser.new_context(viewport=DESKTOP, base_url=suite.gateway_url, locale="zh-CN")
    other = await ctx.new_page()
    try:
        a_name, a_password = await operator(console, "auditor")
        await sign_in(other, a_name, a_password, then="/console/clearing")
        await other.wait_for_url("**/console/clearing")
        assert await other.locator("#clearing-form").count() == 0  # no button for a read-only role
        status = await other.evaluate("""async (month) => {
            const csrf = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch('/console/clearing', {method: 'POST', body: new URLSearchParams({csrf, setlym: month})});
            return r.status; }""", month)
        assert status == 403
        refused = await console.repo.audit_log(actor=a_name, action="forbidden")
        assert refused and refused[0].outcome == "refused"
    finally:
        await ctx.close()


async def test_the_audit_log_page_shows_who_did_what(desk, console, tmp_path):
    name, password = await operator(console, "reviewer")
    await sign_in(desk, name, password, then=f"/console/audit?actor={name}")
    await desk.wait_for_selector("#audit")
    assert await desk.locator("#audit tr[data-action='login']").count() >= 1
    await desk.goto("/console/audit")
    await shot(desk, "audit", tmp_path)
    for path, sel in (("/console/imports", "#imports"), ("/console/reference", "#policies")):
        r = await desk.goto(path)
        assert r.status == 200 and await desk.locator(sel).count() == 1, path
    assert await desk.locator("#policies tbody tr").count() >= 1
    await shot(desk, "reference", tmp_path)


# ----------------------------------------------------------------------------- API tokens


async def test_api_tokens_per_account_carry_the_accounts_role(desk, console, suite, tmp_path):
    import aiohttp

    name, password = await operator(console, "auditor")
    await sign_in(desk, name, password, then="/console/account")
    await desk.wait_for_url("**/console/account")
    await desk.fill("#token-form input[name=name]", "reporting script")
    await desk.click("#token-form button[type=submit]")
    token = await desk.inner_text("#new-token")
    assert token.startswith("mso_")
    await shot(desk, "account", tmp_path)
    stored = await console.repo.tokens_of(name)
    assert stored and all(token not in repr(t) for t in stored)  # only its hash is kept
    async with aiohttp.ClientSession(base_url=suite.gateway_url,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
        async with api.get("/api/v1/persons/330600000000000004") as r:
            assert r.status == 200  # reading: every role
        async with api.post("/api/v1/admin/clearing-runs", json={"setlym": f"{now_text()[:4]}01"}) as r:
            body = await r.json()
            assert r.status == 403 and body["error"]["code"] == "FORBIDDEN_ROLE"  # an auditor changes nothing
        await desk.click(f"#tokens tr[data-token='{stored[0].token_id}'] button")
        await desk.wait_for_url("**/console/account")
        async with api.get("/api/v1/persons/330600000000000004") as r:
            assert r.status == 401  # revoked: refused at once
    async with aiohttp.ClientSession(base_url=suite.gateway_url,
                                     headers={"Authorization": "Bearer mso_not-a-token"}) as api:
        async with api.get("/api/v1/persons/330600000000000004") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "UNAUTHORIZED"
    actions = {e.action for e in await console.repo.audit_log(actor=name)}
    assert {"token.create", "token.revoke", "forbidden"} <= actions


async def test_an_operators_api_change_is_audited(console, suite, admin):
    import aiohttp

    name, _ = await operator(console, "operator")
    token = await console.create_token(Actor(name, "operator", "cli"), "test")
    async with aiohttp.ClientSession(base_url=suite.gateway_url,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
        psn_no = await fresh_person(api)
    rows = await console.repo.audit_log(actor=name, action="enrollment.upsert")
    assert rows and rows[0].target == psn_no and rows[0].via == "api" and rows[0].outcome == "ok"
    assert "certno" not in repr(rows[0].detail)


# ----------------------------------------------------------------------------- supervision alerts


async def test_alerts_page_lists_alerts_and_a_reviewer_decides_them(browser, suite, console, his_factory, admin,
                                                                     db_pool, tmp_path):
    import datetime as dt

    from services.refdata.cache import ReferenceCache
    from services.settlement.supervise import supervise
    from tests.e2e import test_supervision as sv

    # a settlement with a quantity finding (40 units of a drug capped lower), then the batch makes it an alert
    his = await his_factory(sv.SX3)
    psn_no, certno = await sv.new_person(admin, "1")
    mdtrt_id = await sv.register(his, psn_no, certno)
    ok(await his.call("2204", {"feedetail": [sv.fee("F1", mdtrt_id, psn_no, sv.CONSULT, "20.00"),
                                             sv.fee("F2", mdtrt_id, psn_no, sv.PARA, "0.50", "40")]}, **sv.KW))
    ok(await his.call("2207", sv.settle_data(psn_no, certno, mdtrt_id, "40.00"), **sv.KW))
    day = dt.date.fromisoformat(now_text(-1)[:10])
    await supervise(db_pool, await ReferenceCache.load(db_pool), day - dt.timedelta(days=1), day + dt.timedelta(days=1))

    ctx = await browser.new_context(viewport=DESKTOP, base_url=suite.gateway_url, locale="zh-CN")
    try:
        # an auditor reads the alerts but has no decision to make
        auditor, pw = await operator(console, "auditor")
        page = await ctx.new_page()
        await sign_in(page, auditor, pw, then=f"/console/alerts?psn_no={psn_no}")
        await page.wait_for_url("**/console/alerts**")
        row = page.locator("#alerts tbody tr[data-status=open]")
        assert await row.count() == 1 and "finding:quantity" in await row.inner_text()
        assert await page.locator("#alerts .review-form").count() == 0
        await ctx.clear_cookies()

        # a reviewer: a decision without a note is refused naming the note; with one it is made
        reviewer, pw = await operator(console, "reviewer")
        await sign_in(page, reviewer, pw, then=f"/console/alerts?psn_no={psn_no}")
        await page.wait_for_url("**/console/alerts**")
        alert_id = await row.get_attribute("data-alert")
        await shot(page, "alerts", tmp_path)
        await row.locator("button.confirm").click()
        await page.wait_for_load_state()
        err = page.locator("p.error")
        assert await err.get_attribute("data-field") == "note"
        assert await page.locator("#alerts tbody tr").count() == 1  # the list keeps its filter
        await page.locator(f"#alerts tr[data-alert='{alert_id}'] textarea[name=note]").fill("超量开药，约谈医院")
        await page.locator(f"#alerts tr[data-alert='{alert_id}'] button.confirm").click()
        await page.wait_for_url(f"**/console/alerts?status=open&psn_no={psn_no}&done=confirmed")
        assert await page.locator("p.notice").count() == 1
        await page.goto(f"/console/alerts?status=&psn_no={psn_no}")
        done = page.locator(f"#alerts tr[data-alert='{alert_id}']")
        assert await done.get_attribute("data-status") == "confirmed"
        assert await done.locator(".reviewer").inner_text() == reviewer
        assert await done.locator(".note").inner_text() == "超量开药，约谈医院"
        assert await done.locator(".review-form").count() == 0  # decided once
    finally:
        await ctx.close()
    rows = [(e.actor, e.outcome, e.detail.get("decision"), e.detail.get("status"))
            for e in await console.repo.audit_log(action="alert.review") if e.target == alert_id]
    assert sorted(rows) == sorted([(reviewer, "refused", "confirmed", 400), (reviewer, "ok", "confirmed", 200)])
