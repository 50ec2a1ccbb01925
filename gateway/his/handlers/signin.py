"""9001 sign-in."""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.dispatch import Call, transaction


@transaction("9001", "签到 sign-in")
async def sign_in(call: Call) -> dict:
    o = f.obj(call.input, "signIn", "input")
    opter_no = f.text(o, "opter_no", "input.signIn", max_len=30)
    f.text(o, "mac", "input.signIn", required=False, max_len=64)
    f.text(o, "ip", "input.signIn", required=False, max_len=64)
    sign_no, sign_time = await call.guard.sign_in(call.principal, opter_no)
    return {"signinoutb": {"sign_no": sign_no, "sign_time": sign_time}}
