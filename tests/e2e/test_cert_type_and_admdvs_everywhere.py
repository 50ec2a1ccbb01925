"""psn_cert_type and the admdvs fields are checked wherever a request carries them (issue #17),
not only where part 1 looked (1101's psn_cert_type, the envelope's admdvs): 2001, 2201,
2206/2207/2303/2304 (`psn_cert_type`, and the `insuplc_admdvs` / `mdtrtarea_admvs` the spec puts
in their blocks), 2401 (`cert_type`, which uses the psn_cert_type dictionary), 6201/6301/6401
(`idType`). Each is refused naming its path, INVALID_INPUT, not retriable, nothing written.
Over HTTP against the whole suite."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import now_text, row_counts
from tests.e2e.test_his_impersonation import KW, H, admission, id_cert, ok, open_visits, outpatient, person, settle_data
from tests.e2e.test_mobile_payment import SX3, _ec_token, _order_input

pytestmark = pytest.mark.e2e

BAD_CERT_TYPES = ("77", "ab")          # not a code of the national psn_cert_type dictionary; not digits
BAD_ADMDVS = ("33060", "３３０６００", "33060A")   # five digits, fullwidth, a letter


def refused(reply: dict, field: str) -> None:
    assert reply["infcode"] == -1, reply
    assert reply["output"] == {"outcome": "INVALID_INPUT", "retriable": False, "field": field}, reply
    assert field.rsplit(".", 1)[-1] in reply["err_msg"]


def with_field(body: dict, block: str, key: str, value: str) -> dict:
    return {**body, block: {**body[block], key: value}}


async def test_psn_cert_type_and_admdvs_are_validated_wherever_they_are_sent(suite, admin, his_factory):
    his = await his_factory(H)
    b = await person(suite, admin)
    psn, cert = b["psn_no"], id_cert(b)
    out_id, adm_id = await open_visits(his, b)
    tag = his.new_msgid()[-10:]
    cases = [("2001", {"data": {"psn_no": psn, "insutype": "390", "med_type": "11", "begntime": now_text(-1)}},
              "data"),
             ("2201", outpatient(psn, cert, tag), "data"),
             ("2206", settle_data(psn, out_id, cert), "data"),
             ("2207", settle_data(psn, out_id, cert), "data"),
             ("2303", settle_data(psn, adm_id, cert, inpatient=True), "data"),
             ("2304", settle_data(psn, adm_id, cert, inpatient=True), "data"),
             ("2401", admission(psn, cert, tag), "mdtrtinfo")]
    before = await row_counts(suite.database_url, H)
    for infno, body, block in cases:
        key = "cert_type" if infno == "2401" else "psn_cert_type"
        for bad in BAD_CERT_TYPES:  # before: accepted (2201 registered a visit, 2207 settled)
            refused(await his.call(infno, with_field(body, block, key, bad), **KW), f"input.{block}.{key}")
        for key in ("insuplc_admdvs", "mdtrtarea_admvs"):
            for bad in BAD_ADMDVS:
                refused(await his.call(infno, with_field(body, block, key, bad), **KW), f"input.{block}.{key}")
    assert await row_counts(suite.database_url, H) == before, "nothing written"
    # The national codes and six digits pass: a visit registered with them, its settlement too.
    good = with_field(with_field(outpatient(psn, cert, his.new_msgid()[-10:]), "data", "psn_cert_type", "01"),
                      "data", "insuplc_admdvs", "330600")
    ok(await his.call("2201", good, **KW))
    ok(await his.call("2207", with_field(settle_data(psn, out_id, cert), "data", "psn_cert_type", "01"), **KW))

    # Scan-to-pay: idType is a psn_cert_type code (NHSA_MOBILE), at 6201 and at 6301/6401.
    pay = await his_factory(SX3)
    token = await _ec_token(suite, psn)
    before = await row_counts(suite.database_url, SX3)
    for bad in BAD_CERT_TYPES:
        body = _order_input(psn, b["certno"], "", token, "25.00", sn="T1")
        body["data"]["idType"] = bad
        refused(await pay.call("6201", body, **KW), "input.data.idType")
    assert await row_counts(suite.database_url, SX3) == before
    body = _order_input(psn, b["certno"], "", token, "25.00", sn="T2")
    body["data"]["feedetailList"][0].pop("mdtrtId")  # the platform registers the visit (empty mdtrtId)
    created = ok(await pay.call("6201", body, **KW))
    for infno in ("6301", "6401"):
        q = {"data": {"payOrdId": created["payOrdId"], "payToken": created["payToken"], "orgCodg": SX3,
                      "idType": "77"}}
        refused(await pay.call(infno, q, **KW), "input.data.idType")
