"""Another hospital's visit or settlement is answered exactly as an id nobody has (issue #17):
same infcode, same outcome, same text and output, so a caller cannot learn that the visit or
settlement of another hospital exists. Over HTTP against the whole suite."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import now_text
from tests.e2e.test_his_impersonation import (
    KW,
    OTHER,
    H,
    fee,
    id_cert,
    ok,
    outpatient,
    person,
    settle_data,
)

pytestmark = pytest.mark.e2e


def same_shape(ident: str) -> str:
    """An id of the same length and prefix that no visit or settlement has."""
    return ident[:1] + "9" * (len(ident) - 1)


def seen(reply: dict, ident: str) -> tuple:
    """What a caller learns from a reply, with the id it sent replaced (msgid and times left out)."""
    def scrub(v):
        if isinstance(v, str):
            return v.replace(ident, "<id>")
        if isinstance(v, dict):
            return {k: scrub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [scrub(x) for x in v]
        return v
    return reply["infcode"], scrub(reply.get("err_msg")), scrub(reply.get("output")), scrub(reply.get("warn_msg"))


async def test_another_hospitals_visit_and_settlement_are_answered_as_unknown_ids(suite, admin, his_factory):
    his, other = await his_factory(H), await his_factory(OTHER)
    b = await person(suite, admin)
    psn, cert = b["psn_no"], id_cert(b)
    mdtrt_id = ok(await his.call("2201", outpatient(psn, cert, his.new_msgid()[-10:]), **KW))["data"]["mdtrt_id"]
    ok(await his.call("2204", {"feedetail": [fee("O1", mdtrt_id, psn)]}, **KW))
    setl_id = ok(await his.call("2207", settle_data(psn, mdtrt_id, cert), **KW))["setlinfo"]["setl_id"]

    def by_visit(m: str) -> list[tuple[str, dict]]:
        return [
            ("2202", {"data": {"mdtrt_id": m, "psn_no": psn}}),
            ("2203", {"mdtrtinfo": {"mdtrt_id": m, "psn_no": psn, "med_type": "11", "begntime": now_text(-2),
                                    "dise_codg": "J06.900", "dise_name": "上感"},
                      "diseinfo": [{"diag_type": "1", "diag_srt_no": "1", "diag_code": "J06.900",
                                    "diag_name": "急性上呼吸道感染"}]}),
            ("2204", {"feedetail": [fee("O2", m, psn)]}),
            ("2205", {"data": {"mdtrt_id": m, "psn_no": psn, "feedetl_sn": "O1"}}),
            ("2206", settle_data(psn, m, cert)),
            ("2207", settle_data(psn, m, cert)),
            ("5203", {"data": {"psn_no": psn, "mdtrt_id": m}}),
        ]

    def by_settlement(s: str) -> list[tuple[str, dict]]:
        return [
            ("2208", {"data": {"setl_id": s, "mdtrt_id": mdtrt_id, "psn_no": psn}}),
            ("5203", {"data": {"psn_no": psn, "setl_id": s}}),
        ]

    for real, make in ((mdtrt_id, by_visit), (setl_id, by_settlement)):
        fake = same_shape(real)
        for (infno, body), (_, fake_body) in zip(make(real), make(fake), strict=True):
            theirs = await other.call(infno, body, **KW)
            nobodys = await other.call(infno, fake_body, **KW)
            expected = "VISIT_NOT_FOUND" if make is by_visit and infno != "5203" else "SETTLEMENT_NOT_FOUND"
            assert f"[{expected}]" in nobodys["err_msg"], (infno, nobodys["err_msg"])  # the service was asked
            assert seen(theirs, real) == seen(nobodys, fake), (infno, theirs["err_msg"], nobodys["err_msg"])
            assert "OTHER_HOSPITAL" not in theirs["err_msg"] and "another hospital" not in theirs["err_msg"]
    # The owner's visit and settlement are untouched.
    q = ok(await his.call("5203", {"data": {"psn_no": psn, "setl_id": setl_id}}, **KW))
    assert q["setlinfo"]["setl_id"] == setl_id and q["setlinfo"]["medfee_sumamt"] > 0
