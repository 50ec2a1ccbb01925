"""A small async HIS client (aiohttp only): what a hospital's system does to talk to the gateway.

Used by the demo, the e2e tests and the load test:

    async with HisClient(url, fixmedins_code="H33060200001", paasid="his-sx-001", secret="...",
                         admdvs="330602") as his:
        await his.sign_in()
        reply = await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}})
        reply["infcode"], reply["output"]

Every call gets a fresh msgid (fixmedins_code + yyyyMMddHHmmss + 4-digit sequence), fresh TIF
headers (timestamp, random nonce, signature) and the sign_no from the last sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import secrets
import time
from decimal import Decimal
from typing import Any

import aiohttp

from services.common.clock import Clock, as_beijing

CALL_SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"

# One sequence per hospital per process, starting at a random point so two test runs in the
# same second are unlikely to collide (the msgid is the platform's idempotency key).
_SEQUENCES: dict[str, itertools.count] = {}


def yuan(fen: int) -> str:
    """12345 -> '123.45'."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(int(fen)), 100)
    return f"{sign}{q}.{r:02d}"


def fen(amount: str | int | Decimal) -> int:
    """'123.45' -> 12345 (exact; at most two decimals)."""
    d = Decimal(str(amount))
    if d != d.quantize(Decimal("0.01")):
        raise ValueError(f"more than two decimals: {amount!r}")
    return int(d * 100)


def tif_headers(paasid: str, secret: str, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    sig = hashlib.sha256((ts + secret + nonce + ts).encode("utf-8")).hexdigest()
    return {"x-tif-paasid": paasid, "x-tif-timestamp": ts, "x-tif-nonce": nonce, "x-tif-signature": sig}


def new_msgid(fixmedins_code: str, at: dt.datetime | None = None) -> str:
    seq = _SEQUENCES.setdefault(fixmedins_code, itertools.count(secrets.randbelow(10000)))
    when = as_beijing(at) if at is not None else Clock().now()  # an HIS dates its ids in Beijing time
    return fixmedins_code + when.strftime("%Y%m%d%H%M%S") + f"{next(seq) % 10000:04d}"


class HisClient:
    def __init__(self, base_url: str, *, fixmedins_code: str, paasid: str, secret: str, admdvs: str,
                 fixmedins_name: str = "", opter: str = "op001", opter_name: str = "收费员",
                 session: aiohttp.ClientSession | None = None, timeout_s: float = 30.0, clock: Clock | None = None):
        self.clock = clock or Clock()
        self.base_url = base_url.rstrip("/")
        self.fixmedins_code = fixmedins_code
        self.paasid = paasid
        self.secret = secret
        self.admdvs = admdvs
        self.fixmedins_name = fixmedins_name
        self.opter = opter
        self.opter_name = opter_name
        self.sign_no = ""
        self.last_status = 0
        self.last_msgid = ""
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> HisClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def envelope(self, infno: str, input: dict, *, msgid: str | None = None, insuplc_admdvs: str | None = None,
                 sign_no: str | None = None, **overrides: Any) -> dict:
        env = {
            "infno": infno, "msgid": msgid or new_msgid(self.fixmedins_code, self.clock.now()),
            "mdtrtarea_admvs": self.admdvs, "insuplc_admdvs": insuplc_admdvs or "",
            "recer_sys_code": "MDS", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "",
            "infver": "V1.0", "opter_type": "1", "opter": self.opter, "opter_name": self.opter_name,
            "inf_time": self.clock.now().strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.fixmedins_code, "fixmedins_name": self.fixmedins_name,
            "sign_no": self.sign_no if sign_no is None else sign_no, "input": input,
        }
        env.update(overrides)
        return env

    def headers(self, **kw) -> dict[str, str]:
        h = tif_headers(self.paasid, self.secret, **kw)
        h["Content-Type"] = "application/json"
        return h

    async def post(self, path: str, body: bytes | str | dict | list, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        """POST anything (tests send malformed bodies); returns (HTTP status, parsed JSON or text)."""
        assert self._session is not None, "use `async with HisClient(...)`"
        data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
        async with self._session.post(self.base_url + path, data=data,
                                      headers=self.headers() if headers is None else headers) as r:
            text = await r.text()
            self.last_status = r.status
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def send(self, env: dict, *, headers: dict[str, str] | None = None, path: str = CALL_SERVICE_PATH) -> dict:
        self.last_msgid = env.get("msgid", "")
        status, body = await self.post(path, env, headers)
        if not isinstance(body, dict):
            raise RuntimeError(f"the gateway answered HTTP {status} with a non-JSON body: {str(body)[:200]}")
        return body

    async def call(self, infno: str, input: dict, **kw) -> dict:
        """One transaction; returns the response envelope (check `infcode`)."""
        return await self.send(self.envelope(infno, input, **kw))

    async def sign_in(self) -> str:
        reply = await self.call("9001", {"signIn": {"opter_no": self.opter, "mac": "00-00-00-00-00-00",
                                                    "ip": "127.0.0.1"}})
        if reply.get("infcode") != 0:
            raise RuntimeError(f"9001 sign-in failed: {reply.get('err_msg')}")
        self.sign_no = reply["output"]["signinoutb"]["sign_no"]
        return self.sign_no
