"""The load test's patients: persons of the population who sign up on the patient pages (/m/)
like a real patient does, so that the load test gets e-vouchers and online filings the only way
there is now (no public endpoint acts for a person named in the request).

`make_patients` gives each chosen person a phone on file (a reference document listing the
person as the population has them, plus `phone`, through the real reference loader), then over
HTTP: GET /m/api/session (cookie + CSRF token) -> POST /m/api/signup {certno, name} -> the code
from the dev SMS outbox (`<data_dir>/sms-outbox.jsonl`) -> POST /m/api/verify {code, password}.
Optionally files a long-term residence filing for them (POST /m/api/filings). Locust's users then
sign in with the password (POST /m/api/login) and ask POST /m/api/evoucher for tokens.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from gateway.portal.sms import read_outbox

PASSWORD = "loadtest-patient-pw"


def phone_of(psn_no: str) -> str:
    digits = "".join(c for c in psn_no if c.isdigit())[-8:].rjust(8, "0")
    return f"166{digits}"


def population_rows(path: Path, psn_nos: set[str]) -> dict[str, dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return {r["psn_no"]: r for r in csv.DictReader(f) if r["psn_no"] in psn_nos}


async def give_phones(database_url: str, rows: list[dict]) -> None:
    """The persons as the population lists them, with a phone, through the reference loader."""
    from infra.reference.make_demo import document_for_today
    from services.common.db import create_pool
    from services.refdata.schema import parse_document
    from services.refdata.store import load_document

    demo = document_for_today()
    persons = [{"psn_no": r["psn_no"], "certno": r["certno"], "name": r["name"], "gender": r["gender"],
                "birthdate": r["birthdate"], "phone": phone_of(r["psn_no"]),
                "enrollments": [{"pool": r["pool"], "insutype": r["insutype"], "year": int(r["year"]),
                                 "psn_type": r["psn_type"], "benefit_start": r["benefit_start"],
                                 "benefit_end": r["benefit_end"], "status": r["status"]}]} for r in rows]
    doc = {k: demo[k] for k in ("format", "pools", "hospitals", "catalogues", "policies")}
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        await load_document(pool, parse_document({**doc, "persons": persons}))
    finally:
        await pool.close()


async def _code(outbox: Path, phone: str, after: int) -> str:
    for _ in range(200):
        sent = [m for m in read_outbox(outbox)[after:] if m["phone"] == phone]
        if sent:
            return str(sent[-1]["code"])
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no code for {phone[-4:]} in {outbox}")


async def sign_up(http, outbox: Path, row: dict, password: str = PASSWORD) -> str:
    """Sign one person up through /m/api; return the signed-in session's CSRF token."""
    async with http.get("/m/api/session") as r:
        csrf = (await r.json())["csrf"]
    after = len(read_outbox(outbox))
    async with http.post("/m/api/signup", json={"certno": row["certno"], "name": row["name"]},
                         headers={"X-CSRF-Token": csrf}) as r:
        if r.status != 202:
            raise RuntimeError(f"signup: HTTP {r.status} {await r.text()}")
    code = await _code(outbox, phone_of(row["psn_no"]), after)
    async with http.post("/m/api/verify", json={"code": code, "password": password, "password2": password},
                         headers={"X-CSRF-Token": csrf}) as r:
        if r.status != 200:
            raise RuntimeError(f"verify: HTTP {r.status} {await r.text()}")
        return str((await r.json())["csrf"])


async def make_patients(gateway_url: str, database_url: str, data_dir: Path, population: Path,
                        psn_nos: list[str], *, filing: dict | None = None) -> list[str]:
    """Sign these persons up (and file `filing` for each, when given); return those that worked."""
    import aiohttp

    rows = population_rows(population, set(psn_nos))
    chosen = [rows[p] for p in psn_nos if p in rows]
    await give_phones(database_url, chosen)
    outbox = Path(data_dir) / "sms-outbox.jsonl"
    done: list[str] = []
    for row in chosen:
        # One cookie jar per patient; unsafe=True: aiohttp keeps no cookies of an IP host otherwise.
        async with aiohttp.ClientSession(base_url=gateway_url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            try:
                csrf = await sign_up(http, outbox, row)
                if filing is not None:
                    async with http.post("/m/api/filings", json=filing, headers={"X-CSRF-Token": csrf}) as r:
                        if r.status not in (201, 409):
                            raise RuntimeError(f"filing: HTTP {r.status} {await r.text()}")
            except RuntimeError as e:
                print(f"patients: {row['psn_no']}: {e}")
                continue
        done.append(row["psn_no"])
    return done
