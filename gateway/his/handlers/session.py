"""9001 sign-in and 9002 sign-out: the HIS terminal's session (a sign_no), kept by the Guard in Redis.

Real clients send the input under the spec's node (`signIn{}`, `signOut{}`), under `data{}`, or
flat in `input`; all three are read, and every value is checked wherever it came from. 9001
answers `signinoutb{sign_no, sign_time}` and the same object under `result` (clients built against
editions that read `output.result`).
"""

from __future__ import annotations

from gateway.his import envelope as f
from gateway.his.dispatch import Call, transaction


def _node(call: Call, name: str) -> tuple[dict, str]:
    """The input object: `input.<name>`, else `input.data`, else `input` itself (flat)."""
    inp = call.input
    for key in (name, "data"):
        if inp.get(key) is not None:
            return f.obj(inp, key, "input"), f"input.{key}"
    return inp, "input"


@transaction("9001", "签到 sign-in")
async def sign_in(call: Call) -> dict:
    o, p = _node(call, "signIn")
    opter_no = f.text(o, "opter_no", p, max_len=30)
    f.text(o, "mac", p, required=False, max_len=64)
    f.text(o, "ip", p, required=False, max_len=64)
    sign_no, sign_time = await call.guard.sign_in(call.principal, opter_no)
    out = {"sign_no": sign_no, "sign_time": sign_time}
    return {"signinoutb": out, "result": dict(out)}


@transaction("9002", "签退 sign-out")
async def sign_out(call: Call) -> dict:
    """Ends the sign_no named in the input (else the envelope's); one that is not live for this
    hospital is refused (NOT_SIGNED_IN), and nothing is changed."""
    o, p = _node(call, "signOut")
    sign_no = f.text(o, "sign_no", p, required=False, max_len=64)
    where = f"{p}.sign_no"
    if not sign_no:
        sign_no, where = call.env.sign_no, "sign_no"
    if not sign_no:
        raise f.FieldError(f"{p}.sign_no", "必填: 要签退的签到编号 (required: the sign_no to sign out)")
    f.text(o, "opter_no", p, max_len=30)
    sign_time = await call.guard.sign_out(call.principal, sign_no, field=where)
    return {"signoutoutb": {"sign_time": sign_time}}
