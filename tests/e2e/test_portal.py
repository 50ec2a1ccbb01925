"""The patient's phone pages /m/ in a real Chromium at a phone viewport (390x844), against the
whole suite as real processes: real-name sign-up with the code read from the dev SMS outbox, the
e-voucher QR and a hospital's 1101 with its token, password login, wrong code, lock-out,
cross-site posts, online filing for oneself only (and the retiree-only type refused), revoke,
the session cookie missing or forged. One browser for the module, a fresh context per test.

Screenshots of each page go to docs/screenshots/m-*.png when MEDSETTLE_SCREENSHOTS=1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from pathlib import Path

import aiohttp

from gateway.portal.sms import read_outbox
from services.common.clock import Clock
from services.common.config import REPO_ROOT
from services.common.ids import make_certno
from services.refdata.schema import parse_document
from services.refdata.store import load_document
from tests.e2e.conftest import PHONE
from tests.e2e.test_his_flows import ok

SX3 = "H33060200001"
SHOTS = REPO_ROOT / "docs" / "screenshots"
PASSWORD = "medsettle-pw-1"



def _today() -> dt.date:
    return Clock().today()


async def shot(page, name: str, tmp_path: Path) -> None:
    target = SHOTS if os.environ.get("MEDSETTLE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target / f"m-{name}.png"), full_page=True)


async def patient(db_pool, *, psn_type: str = "resident", insutype: str = "390", phone: bool = True,
                  phone_of=None) -> dict:
    """A new insured person with a phone on file, loaded through the real reference loader."""
    from infra.reference.make_demo import document_for_today

    demo = document_for_today()
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(18_000))
    certno = make_certno(f"9{random.randrange(100_000):05d}{birth:%Y%m%d}{random.randrange(100):02d}1")
    year = _today().year
    psn_no = "W" + "".join(random.choice("0123456789") for _ in range(17))
    p = {"psn_no": psn_no, "certno": certno,
         "name": random.choice("赵钱孙李周吴郑王") + random.choice(["小明", "海燕", "建华", "秀兰"]), "gender": "1",
         "birthdate": birth.isoformat(),
         "enrollments": [{"pool": "330600", "insutype": insutype, "year": y, "psn_type": psn_type,
                          "benefit_start": f"{y}-01-01", "benefit_end": f"{y}-12-31", "status": "active"}
                         for y in (year, year + 1)]}
    if phone:
        p["phone"] = phone_of(psn_no) if phone_of else "13" + "".join(random.choice("0123456789") for _ in range(9))
    doc = {k: demo[k] for k in ("format", "pools", "hospitals", "catalogues", "policies")}
    await load_document(db_pool, parse_document({**doc, "persons": [p]}))
    return p


async def code_for(suite, phone: str, purpose: str, after: int) -> str:
    """The code the dev SMS sender wrote to the outbox for `phone` (after the first `after` lines)."""
    outbox = Path(suite.settings.data_dir) / "sms-outbox.jsonl"
    for _ in range(100):
        sent = [m for m in read_outbox(outbox)[after:] if m["phone"] == phone and m["purpose"] == purpose]
        if sent:
            return str(sent[-1]["code"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {purpose} code for the phone in {outbox}")


def outbox_len(suite) -> int:
    return len(read_outbox(Path(suite.settings.data_dir) / "sms-outbox.jsonl"))


async def signup(page, suite, p: dict, tmp_path: Path | None = None) -> None:
    await page.goto("/m/signup")
    if tmp_path is not None:
        await shot(page, "signup", tmp_path)
    before = outbox_len(suite)
    await page.fill("input[name=certno]", p["certno"])
    await page.fill("input[name=name]", p["name"])
    await page.click("#signup-form button[type=submit]")
    await page.wait_for_url("**/m/verify**")
    code = await code_for(suite, p["phone"], "signup", before)
    await page.fill("input[name=code]", code)
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=password2]", PASSWORD)
    await page.click("#verify-form button[type=submit]")
    await page.wait_for_url("**/m/")


async def accounts(db_pool, psn_no: str) -> int:
    return await db_pool.fetchval("SELECT count(*) FROM portal.accounts WHERE psn_no = $1", psn_no)


async def filings_of(admin, psn_no: str) -> list[dict]:
    async with admin.get(f"/api/v1/persons/{psn_no}/filings?all=1") as r:
        assert r.status == 200
        return (await r.json())["filings"]


# ----------------------------------------------------------------------------- sign-up, QR, 1101


async def test_signup_with_the_sms_code_shows_the_qr_and_1101_resolves_the_signed_in_person(
        page, suite, db_pool, his_factory, tmp_path):
    p = await patient(db_pool)
    await signup(page, suite, p, tmp_path)
    assert p["name"] in await page.inner_text("h1.hello")
    assert await accounts(db_pool, p["psn_no"]) == 1
    await shot(page, "home", tmp_path)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "msm_sid")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/m/"

    await page.click("#show-qr")
    await page.wait_for_url("**/m/evoucher")
    qr = page.locator("#qr")
    assert await qr.locator("svg").count() == 1
    token = await qr.get_attribute("data-token")
    assert token and int(await qr.get_attribute("data-ttl")) > 0
    await shot(page, "evoucher", tmp_path)

    his = await his_factory(SX3)
    info = ok(await his.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": token,
                                               "begntime": Clock().now().strftime("%Y-%m-%d %H:%M:%S")}}))
    assert info["baseinfo"]["psn_no"] == p["psn_no"] and info["baseinfo"]["certno"] == p["certno"]


async def test_the_qr_page_fetches_a_fresh_token_through_the_session_api(page, suite, db_pool):
    p = await patient(db_pool)
    await signup(page, suite, p)
    await page.goto("/m/evoucher")
    first = await page.get_attribute("#qr", "data-token")
    # What the page's script calls before expiry: POST with the page's CSRF token, same origin.
    fresh = await page.evaluate("""async () => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch('/m/api/evoucher', {method: 'POST', headers: {'X-CSRF-Token': csrf}});
        return [r.status, await r.json()];
    }""")
    assert fresh[0] == 200 and fresh[1]["token"] and fresh[1]["token"] != first and "<svg" in fresh[1]["svg"]
    without = await page.evaluate("async () => (await fetch('/m/api/evoucher', {method: 'POST'})).status")
    assert without == 403


async def test_login_with_password_and_wrong_password(page, suite, db_pool, browser, tmp_path):
    p = await patient(db_pool)
    await signup(page, suite, p)
    ctx = await browser.new_context(viewport=PHONE, base_url=suite.gateway_url, locale="zh-CN")
    try:
        other = await ctx.new_page()
        await other.goto("/m/login")
        await shot(other, "login", tmp_path)
        await other.fill("input[name=certno]", p["certno"])
        await other.fill("input[name=password]", "not-the-password")
        await other.click("#login-form button[type=submit]")
        assert "密码错误" in await other.inner_text(".error")
        await other.fill("input[name=certno]", p["certno"])
        await other.fill("input[name=password]", PASSWORD)
        await other.click("#login-form button[type=submit]")
        await other.wait_for_url("**/m/")
        assert p["name"] in await other.inner_text("h1.hello")
    finally:
        await ctx.close()


async def test_the_load_tests_patient_path_gets_e_vouchers(suite, db_pool):
    # loadtest/patients.py signs its patients up over /m/api with the dev outbox, Locust then asks
    # /m/api/evoucher in the patient's session: the same calls, against the real suite.
    from loadtest.patients import phone_of, sign_up

    p = await patient(db_pool, phone_of=phone_of)
    async with aiohttp.ClientSession(base_url=suite.gateway_url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await sign_up(http, Path(suite.settings.data_dir) / "sms-outbox.jsonl", p)
        async with http.post("/m/api/evoucher", json={}, headers={"X-CSRF-Token": csrf}) as r:
            body = await r.json()
            assert r.status == 200 and body["token"] and body["mdtrt_cert_type"] == "01"
        async with http.post("/m/api/logout", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        async with http.get("/m/api/filings") as r:
            assert r.status == 401


async def test_code_login(page, suite, db_pool):
    p = await patient(db_pool)
    await page.goto("/m/login?mode=code&next=/m/filings")
    before = outbox_len(suite)
    await page.fill("input[name=certno]", p["certno"])
    await page.fill("input[name=name]", p["name"])
    await page.click("#code-login-form button[type=submit]")
    await page.wait_for_url("**/m/verify**")
    assert await page.locator("input[name=password]").count() == 0
    await page.fill("input[name=code]", await code_for(suite, p["phone"], "login", before))
    await page.click("#verify-form button[type=submit]")
    await page.wait_for_url("**/m/filings")
    assert await accounts(db_pool, p["psn_no"]) == 1


# ----------------------------------------------------------------------------- bad codes, no leaks


async def test_wrong_code_is_refused_then_lockout_and_nothing_written(page, suite, db_pool):
    p = await patient(db_pool)
    await page.goto("/m/signup")
    before = outbox_len(suite)
    await page.fill("input[name=certno]", p["certno"])
    await page.fill("input[name=name]", p["name"])
    await page.click("#signup-form button[type=submit]")
    await page.wait_for_url("**/m/verify**")
    code = await code_for(suite, p["phone"], "signup", before)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    messages = []
    for _ in range(suite.settings.portal_max_attempts):
        await page.fill("input[name=code]", wrong)
        await page.fill("input[name=password]", PASSWORD)
        await page.fill("input[name=password2]", PASSWORD)
        await page.click("#verify-form button[type=submit]")
        messages.append(await page.inner_text(".error"))
    assert "验证码错误" in messages[0] and "锁定" in messages[-1]
    await page.fill("input[name=code]", code)  # the right code, too late
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=password2]", PASSWORD)
    await page.click("#verify-form button[type=submit]")
    assert "锁定" in await page.inner_text(".error") or "过期" in await page.inner_text(".error")
    assert await accounts(db_pool, p["psn_no"]) == 0


async def test_unknown_person_wrong_name_and_no_phone_see_the_same_page(page, suite, db_pool):
    known = await patient(db_pool)
    nophone = await patient(db_pool, phone=False)
    unknown = make_certno(f"8{random.randrange(100_000):05d}19800101{random.randrange(100):02d}1")
    texts = []
    before = outbox_len(suite)
    for certno, name in ((known["certno"], known["name"]), (known["certno"], "错名字"),
                         (nophone["certno"], nophone["name"]), (unknown, "无此人")):
        await page.goto("/m/signup")
        await page.fill("input[name=certno]", certno)
        await page.fill("input[name=name]", name)
        await page.click("#signup-form button[type=submit]")
        await page.wait_for_url("**/m/verify**")
        texts.append(await page.inner_text("main"))
    assert len(set(texts)) == 1, texts
    await code_for(suite, known["phone"], "signup", before)
    assert [m for m in read_outbox(Path(suite.settings.data_dir) / "sms-outbox.jsonl")[before:]
            if m["phone"] != known["phone"]] == []  # only the match got a code


def _all_logs(log_dir: Path) -> str:
    return "\n".join(f.read_text(encoding="utf-8") for f in sorted(log_dir.glob("*.log")))


async def test_refusals_are_logged_and_no_secret_is(page, suite, db_pool, his_factory):
    """A wrong code, a forged e-voucher and another person's ID number each leave a log line
    (who, which outcome, the certificate masked); no log line anywhere holds a certificate
    number, the token, the code, the password, the phone or the session cookie."""
    p, q = await patient(db_pool), await patient(db_pool)
    await signup(page, suite, p)
    code = str([m for m in read_outbox(Path(suite.settings.data_dir) / "sms-outbox.jsonl")
                if m["phone"] == p["phone"]][-1]["code"])
    session = next(c["value"] for c in await page.context.cookies() if c["name"] == "msm_sid")
    await page.goto("/m/evoucher")
    token = await page.get_attribute("#qr", "data-token")
    assert token
    # q starts a sign-up and types a wrong code
    await page.context.clear_cookies()
    await page.goto("/m/signup")
    before = outbox_len(suite)
    await page.fill("input[name=certno]", q["certno"])
    await page.fill("input[name=name]", q["name"])
    await page.click("#signup-form button[type=submit]")
    await page.wait_for_url("**/m/verify**")
    q_code = await code_for(suite, q["phone"], "signup", before)
    await page.fill("input[name=code]", f"{(int(q_code) + 1) % 1_000_000:06d}")
    await page.fill("input[name=password]", PASSWORD)
    await page.fill("input[name=password2]", PASSWORD)
    await page.click("#verify-form button[type=submit]")
    assert "验证码错误" in await page.inner_text(".error")
    # the hospital: a forged token, then p registered with q's ID number
    his = await his_factory(SX3)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    now = Clock().now().strftime("%Y-%m-%d %H:%M:%S")
    r = await his.call("1101", {"data": {"mdtrt_cert_type": "01", "mdtrt_cert_no": forged, "begntime": now}})
    assert r["infcode"] != 0
    r = await his.call("2201", {"data": {"psn_no": p["psn_no"], "insutype": "390", "begntime": now,
                                         "ipt_otp_no": "MZ" + his.last_msgid[-10:], "mdtrt_cert_type": "02",
                                         "mdtrt_cert_no": q["certno"]}}, insuplc_admdvs="330600")
    assert r["infcode"] != 0 and "mdtrt_cert_no" in r["err_msg"]

    logs = Path(suite.log_dir)
    wanted = {"wrong code": False, "EVOUCHER_INVALID": False, "CERT_PERSON_MISMATCH (type 02": False}
    for _ in range(50):
        text = _all_logs(logs)
        wanted = {k: k in text for k in wanted}
        if all(wanted.values()):
            break
        await asyncio.sleep(0.1)
    assert all(wanted.values()), wanted
    assert any("CERT_PERSON_MISMATCH" in line and p["psn_no"] in line for line in text.splitlines())
    for secret in (p["certno"], q["certno"], token, forged, PASSWORD, p["phone"], q["phone"], session,
                   f'"{code}"', f'"{q_code}"', f"code {code}", f"code {q_code}"):
        assert secret not in text, f"a secret is in the logs: {secret[:4]}…"


# ----------------------------------------------------------------------------- CSRF, sessions


async def test_cross_site_posts_are_refused_and_write_nothing(page, suite, db_pool, admin):
    p = await patient(db_pool)
    await signup(page, suite, p)
    today = _today()
    form = {"insutype": "390", "type": "temporary", "destination": "45", "begin": today.isoformat(),
            "end": (today + dt.timedelta(days=179)).isoformat()}
    fields = "".join(f'<input name="{k}" value="{v}">' for k, v in form.items())
    # Another site's page (here: an opaque origin) posting a form to the gateway in the same browser.
    await page.goto("about:blank")
    await page.set_content(f'<form id=f method=post action="{suite.gateway_url}/m/filings">{fields}'
                           f'<input name=csrf value=guessed><button>go</button></form>')
    async with page.expect_response(f"{suite.gateway_url}/m/filings") as resp:
        await page.click("button")
    assert (await resp.value).status == 403
    # The same session's cookie from a script without the CSRF token, or with a foreign Origin.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with aiohttp.ClientSession(base_url=suite.gateway_url, cookies=cookies) as s:
        async with s.post("/m/filings", data=form) as r:
            assert r.status == 403 and "请求被拒绝" in await r.text()
        async with s.get("/m/api/session") as r:
            csrf = (await r.json())["csrf"]
        async with s.post("/m/filings", data={**form, "csrf": csrf}, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with s.post("/m/api/filings", json=form, headers={"X-CSRF-Token": "wrong"}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "CSRF_REFUSED"
    assert await filings_of(admin, p["psn_no"]) == []


async def test_missing_or_forged_session_cookie(suite):
    async with aiohttp.ClientSession(base_url=suite.gateway_url) as s:
        async with s.get("/m/api/filings") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "SIGN_IN_REQUIRED"
        async with s.get("/m/evoucher", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/m/login?next=/m/evoucher")
    forged = "A" * 43 + "." + "B" * 32
    async with aiohttp.ClientSession(base_url=suite.gateway_url, cookies={"msm_sid": forged}) as s:
        async with s.get("/m/api/filings") as r:
            assert r.status == 401
        async with s.post("/m/api/evoucher", headers={"X-CSRF-Token": "x"}) as r:
            assert r.status == 403


# ----------------------------------------------------------------------------- filings


async def test_online_filing_for_oneself_then_revoke(page, suite, db_pool, admin, tmp_path):
    p = await patient(db_pool)
    await signup(page, suite, p)
    today = _today()
    await page.goto("/m/filings")
    await page.select_option("select[name=insutype]", "390")
    await page.select_option("select[name=type]", "temporary")
    await page.fill("input[name=destination]", "45")
    await page.fill("input[name=begin]", today.isoformat())
    await page.fill("input[name=end]", (today + dt.timedelta(days=179)).isoformat())
    await page.click("#filing-form button[type=submit]")
    await page.wait_for_url("**/m/filings?done=created")
    stored = await filings_of(admin, p["psn_no"])
    assert [(f["type"], f["source"], f["status"], f["destination"]) for f in stored] == [
        ("temporary", "online", "active", "45")]
    await shot(page, "filings", tmp_path)
    item = page.locator(f'li[data-filing="{stored[0]["filing_id"]}"]')
    await item.locator("button").click()
    await page.wait_for_url("**/m/filings?done=revoked")
    assert await page.get_attribute(f'li[data-filing="{stored[0]["filing_id"]}"]', "data-status") == "revoked"
    assert [f["status"] for f in await filings_of(admin, p["psn_no"])] == ["revoked"]


async def test_retiree_only_filing_is_refused_for_a_non_retiree(page, suite, db_pool, admin):
    p = await patient(db_pool, psn_type="resident")
    await signup(page, suite, p)
    await page.goto("/m/filings")
    await page.select_option("select[name=type]", "retired_relocated")
    await page.fill("input[name=destination]", "45")
    await page.fill("input[name=begin]", _today().isoformat())
    await page.click("#filing-form button[type=submit]")
    err = page.locator(".error")
    assert await err.get_attribute("data-code") == "NOT_RETIRED" and "退休" in await err.inner_text()
    assert await filings_of(admin, p["psn_no"]) == []


async def test_another_persons_filing_cannot_be_made_or_revoked(page, suite, db_pool, admin):
    me, other = await patient(db_pool), await patient(db_pool)
    await signup(page, suite, other)
    today = _today()
    body = {"insutype": "390", "type": "temporary", "destination": "45", "begin": today.isoformat(),
            "end": (today + dt.timedelta(days=179)).isoformat()}
    csrf = await page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]').content")
    async def api(path, payload):
        return await page.evaluate("""async ([path, payload, csrf]) => {
            const r = await fetch(path, {method: 'POST', headers: {'X-CSRF-Token': csrf,
                                  'Content-Type': 'application/json'}, body: JSON.stringify(payload)});
            return [r.status, await r.json()];
        }""", [path, payload, csrf])
    theirs = await api("/m/api/filings", body)
    assert theirs[0] == 201 and theirs[1]["psn_no"] == other["psn_no"]
    await page.context.clear_cookies()
    await signup(page, suite, me)
    csrf = await page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]').content")
    status, reply = await api("/m/api/filings", {**body, "psn_no": other["psn_no"]})
    assert status == 400 and reply["error"]["field"] == "psn_no"
    status, reply = await api(f"/m/api/filings/{theirs[1]['filing_id']}/revoke", {})
    assert status == 404, reply
    assert await filings_of(admin, me["psn_no"]) == []
    assert [f["status"] for f in await filings_of(admin, other["psn_no"])] == ["active"]


# ----------------------------------------------------------------------------- own records


async def test_accumulators_page(page, suite, db_pool, tmp_path):
    p = await patient(db_pool)
    await signup(page, suite, p)
    await page.goto("/m/accumulators")
    assert await page.locator('section[data-insutype="390"]').count() == 1
    await shot(page, "accumulators", tmp_path)


async def test_my_settlements_with_explanation_and_split(page, suite, db_pool, his_factory, tmp_path):
    """A settlement made at a hospital shows on the patient's own page with its split and
    explanation; another person cannot open it."""
    p = await patient(db_pool, insutype="390")
    await signup(page, suite, p)
    his = await his_factory(SX3)
    now = Clock().now()
    t = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    kw = {"insuplc_admdvs": "330600"}
    cert = {"mdtrt_cert_type": "02", "mdtrt_cert_no": p["certno"]}
    reg = ok(await his.call("2201", {"data": {"psn_no": p["psn_no"], "insutype": "390", "begntime": t,
                                              "ipt_otp_no": "MZ" + his.last_msgid[-10:], **cert}}, **kw))["data"]
    drug = "XC10AAA089A001010104327"
    ok(await his.call("2204", {"feedetail": [{
        "feedetl_sn": "F1", "mdtrt_id": reg["mdtrt_id"], "psn_no": p["psn_no"], "chrg_bchno": "BF1",
        "fee_ocur_time": t, "med_list_codg": drug, "medins_list_codg": "HOSP-XC10AAA0", "det_item_fee_sumamt":
        "350.00", "cnt": "28", "pric": "12.50"}]}, **kw))
    data = {"psn_no": p["psn_no"], "mdtrt_id": reg["mdtrt_id"], "insutype": "390", "med_type": "11",
            "medfee_sumamt": "350.00", "psn_setlway": "01", "acct_used_flag": "0", "chrg_bchno": "B1", **cert}
    pre = ok(await his.call("2206", {"data": data}, **kw))["setlinfo"]
    s = ok(await his.call("2207", {"data": {**data, "fulamt_ownpay_amt": pre["fulamt_ownpay_amt"],
                                            "overlmt_selfpay": pre["overlmt_selfpay"],
                                            "preselfpay_amt": pre["preselfpay_amt"],
                                            "inscp_scp_amt": pre["inscp_scp_amt"]}}, **kw))["setlinfo"]
    await page.goto("/m/settlements")
    link = page.locator(f'a[data-setl="{s["setl_id"]}"]')
    assert await link.count() == 1
    await shot(page, "settlements", tmp_path)
    await link.click()
    await page.wait_for_url(f"**/m/settlements/{s['setl_id']}")
    assert await page.inner_text("#fund") == str(s["fund_pay_sumamt"])
    assert await page.inner_text("#cash") == str(s["psn_cash_pay"])
    assert await page.locator("#explanation li").count() > 0
    await shot(page, "settlement", tmp_path)
    # Another person's settlement id is not found for me.
    other = await patient(db_pool)
    await page.context.clear_cookies()
    await signup(page, suite, other)
    resp = await page.goto(f"/m/settlements/{s['setl_id']}")
    assert resp.status == 404

