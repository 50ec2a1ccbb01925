"""A small async HIS client (aiohttp only): what a hospital's system does to talk to the gateway.

Used by the demo, the e2e tests and the load test:

    async with HisClient(url, fixmedins_code="H33060200001", paasid="his-sx-001", secret="...",
                         admdvs="330602") as his:
        await his.sign_in()
        reply = await his.call("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno}})
        reply["infcode"], reply["output"]

Every call gets a fresh msgid (fixmedins_code + yyyyMMddHHmmss + 4-digit sequence), fresh TIF
headers (timestamp, random nonce, signature) and the sign_no from the last sign-in.

It can also behave like the real clients the gateway must accept unchanged (docs/HIS_INTERFACE.md
§3, §4): `auth="api_hmac_sha1"` signs with the _api_* headers (HMAC-SHA1, milliseconds) instead
of TIF; `content_type="text/plain"` or None labels the JSON body that way (or not at all);
`msgid_style="uuid"` sends 30 hex characters of a UUID4 ("seq": a bare counter) instead of the
30-character code+time+sequence; `empty_sign_no="null"` (or None: the key left out) is what it
sends while it holds no sign_no or `send_sign_no=False`. `call(..., omit=("mdtrtarea_admvs",))` leaves
envelope fields out, `input_as_string=True` sends `input` as a JSON string.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import secrets
import time
import uuid
from decimal import Decimal
from typing import Any

import aiohttp

from gateway.his import jsonnum
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


def api_headers(access_key: str, secret: str, *, name: str = "callService", version: str = "1.0.0",
                timestamp_ms: int | None = None) -> dict[str, str]:
    """The api_hmac_sha1 profile: Base64(HMAC-SHA1(secret, the four headers as sorted key=value&...))."""
    ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    text = f"_api_access_key={access_key}&_api_name={name}&_api_timestamp={ts}&_api_version={version}"
    sig = base64.b64encode(hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()).decode()
    return {"_api_access_key": access_key, "_api_name": name, "_api_version": version, "_api_timestamp": ts,
            "_api_signature": sig}


def new_msgid(fixmedins_code: str, at: dt.datetime | None = None) -> str:
    seq = _SEQUENCES.setdefault(fixmedins_code, itertools.count(secrets.randbelow(10000)))
    when = as_beijing(at) if at is not None else Clock().now()  # an HIS dates its ids in Beijing time
    return fixmedins_code + when.strftime("%Y%m%d%H%M%S") + f"{next(seq) % 10000:04d}"


_SEQ_MSGIDS = itertools.count(secrets.randbelow(10**9))


class HisClient:
    def __init__(self, base_url: str, *, fixmedins_code: str, paasid: str, secret: str, admdvs: str,
                 fixmedins_name: str = "", opter: str = "op001", opter_name: str = "收费员",
                 session: aiohttp.ClientSession | None = None, timeout_s: float = 30.0, clock: Clock | None = None,
                 auth: str = "tif", content_type: str | None = "application/json", msgid_style: str = "strict",
                 empty_sign_no: str | None = "", send_sign_no: bool = True, path: str = CALL_SERVICE_PATH,
                 api_name: str = "callService", api_version: str = "1.0.0"):
        if auth not in ("tif", "api_hmac_sha1"):
            raise ValueError(f"auth must be tif or api_hmac_sha1, got {auth!r}")
        if msgid_style not in ("strict", "uuid", "seq"):
            raise ValueError(f"msgid_style must be strict, uuid or seq, got {msgid_style!r}")
        self.clock = clock or Clock()
        self.base_url = base_url.rstrip("/")
        self.fixmedins_code = fixmedins_code
        self.paasid = paasid
        self.secret = secret
        self.admdvs = admdvs
        self.fixmedins_name = fixmedins_name
        self.opter = opter
        self.opter_name = opter_name
        self.auth = auth
        self.content_type = content_type
        self.msgid_style = msgid_style
        self.empty_sign_no = empty_sign_no
        self.send_sign_no = send_sign_no
        self.path = path
        self.api_name = api_name
        self.api_version = api_version
        self.sign_no = ""
        self.last_text = ""
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

    def new_msgid(self) -> str:
        if self.msgid_style == "uuid":
            return uuid.uuid4().hex[:30]  # a UUID's 32 hex digits do not fit the 30-character msgid
        if self.msgid_style == "seq":
            return str(next(_SEQ_MSGIDS))
        return new_msgid(self.fixmedins_code, self.clock.now())

    def envelope(self, infno: str, input: dict, *, msgid: str | None = None, insuplc_admdvs: str | None = None,
                 sign_no: str | None = None, omit: tuple[str, ...] = (), input_as_string: bool = False,
                 **overrides: Any) -> dict:
        env: dict[str, Any] = {
            "infno": infno, "msgid": msgid or self.new_msgid(),
            "mdtrtarea_admvs": self.admdvs, "insuplc_admdvs": insuplc_admdvs or "",
            "recer_sys_code": "MDS", "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "",
            "infver": "V1.0", "opter_type": "1", "opter": self.opter, "opter_name": self.opter_name,
            "inf_time": self.clock.now().strftime("%Y-%m-%d %H:%M:%S"),
            "fixmedins_code": self.fixmedins_code, "fixmedins_name": self.fixmedins_name,
            "input": jsonnum.dumps(input) if input_as_string else input,
        }
        held = self.sign_no if self.send_sign_no else ""
        chosen = held if sign_no is None else sign_no
        if chosen:
            env["sign_no"] = chosen
        elif self.empty_sign_no is not None:
            env["sign_no"] = self.empty_sign_no
        env.update(overrides)
        for key in omit:
            env.pop(key, None)
        return env

    def headers(self, **kw) -> dict[str, str]:
        """Fresh authentication headers of this client's profile (tif: `timestamp`, `nonce`;
        api_hmac_sha1: `timestamp_ms`), and its Content-Type."""
        if self.auth == "api_hmac_sha1":
            h = api_headers(self.paasid, self.secret, name=self.api_name, version=self.api_version, **kw)
        else:
            h = tif_headers(self.paasid, self.secret, **kw)
        if self.content_type is not None:
            h["Content-Type"] = self.content_type
        return h

    async def post(self, path: str, body: bytes | str | dict | list, headers: dict[str, str] | Any | None = None
                   ) -> tuple[int, Any]:
        """POST anything (tests send malformed bodies); returns (HTTP status, parsed JSON or text).
        `headers` may be a multidict (a header sent twice)."""
        assert self._session is not None, "use `async with HisClient(...)`"
        data = body if isinstance(body, (bytes, str)) else jsonnum.dumps(body)
        if isinstance(data, str):
            data = data.encode("utf-8")  # bytes: aiohttp adds no Content-Type of its own
        headers = self.headers() if headers is None else headers
        async with self._session.post(self.base_url + path, data=data, headers=headers,
                                      skip_auto_headers=("Content-Type",)) as r:
            text = await r.text()
            self.last_status = r.status
            self.last_text = text
            try:
                # 数值型 output fields are JSON numbers (390.00): read them as exact Decimals.
                return r.status, json.loads(text, parse_float=Decimal)
            except ValueError:
                return r.status, text

    async def send(self, env: dict, *, headers: dict[str, str] | None = None, path: str | None = None) -> dict:
        self.last_msgid = env.get("msgid", "")
        status, body = await self.post(path or self.path, env, headers)
        if not isinstance(body, dict):
            raise RuntimeError(f"the gateway answered HTTP {status} with a non-JSON body: {str(body)[:200]}")
        return body

    async def call(self, infno: str, input: dict, *, path: str | None = None, **kw) -> dict:
        """One transaction; returns the response envelope (check `infcode`)."""
        return await self.send(self.envelope(infno, input, **kw), path=path)

    async def sign_in(self, shape: str = "signIn") -> str:
        """9001; `shape`: the input under signIn{} (the spec), data{} or flat."""
        node = {"opter_no": self.opter, "mac": "00-00-00-00-00-00", "ip": "127.0.0.1"}
        reply = await self.call("9001", node if shape == "flat" else {shape: node})
        if reply.get("infcode") != 0:
            raise RuntimeError(f"9001 sign-in failed: {reply.get('err_msg')}")
        self.sign_no = reply["output"]["signinoutb"]["sign_no"]
        return self.sign_no

    async def sign_out(self) -> dict:
        """9002 for the held sign_no; returns the reply (the sign_no is forgotten when it succeeds)."""
        reply = await self.call("9002", {"signOut": {"sign_no": self.sign_no, "opter_no": self.opter}})
        if reply.get("infcode") == 0:
            self.sign_no = ""
        return reply
