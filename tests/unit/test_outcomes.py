"""The one outcome catalogue (services/common/outcomes.py): every outcome the code can answer
with is in it once, with a kind and a Chinese and an English message; every raiser agrees with
its kind; every edge maps every kind."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from services.common import grpcutil
from services.common.config import REPO_ROOT
from services.common.outcomes import CATALOGUE, Kind, Refusal
from services.engine.outcomes import Outcome

SOURCES = sorted(p for d in ("services", "gateway") for p in (REPO_ROOT / d).rglob("*.py")
                 if not p.name.endswith(("_pb2.py", "_pb2_grpc.py")))
HELPER_KINDS = {"invalid": Kind.INVALID, "refused": Kind.REFUSED, "not_found": Kind.NOT_FOUND,
                "forbidden": Kind.FORBIDDEN, "conflict": Kind.CONFLICT, "retry": Kind.RETRY,
                "unavailable": Kind.UNAVAILABLE}
CJK = re.compile(r"[\u4e00-\u9fff]")

# (pattern, group of the kind or None): every way an outcome is raised or answered in the code.
RAISERS = (
    (re.compile(r"\b_?(invalid|refused|not_found|forbidden|conflict|retry|unavailable)\(\s*\"([A-Z][A-Z0-9_]+)\""), 1),
    (re.compile(r"FilingRefused\(\s*\"([a-z_]+)\",\s*\"([A-Z][A-Z0-9_]+)\""), 1),
    (re.compile(r"\b(?:Security)?Refusal\(\s*\"([A-Z][A-Z0-9_]+)\""), None),
    (re.compile(r"\boutcome\s*=\s*\"([A-Z][A-Z0-9_]+)\""), None),
    (re.compile(r"\berror\(\s*\d{3},\s*\"([A-Z][A-Z0-9_]+)\""), None),
    (re.compile(r"^[A-Z_]+ = \"([A-Z][A-Z0-9_]+)\"  # outcome", re.M), None),
)


def _raised() -> list[tuple[str, int, str, Kind | None]]:
    out = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for pattern, kind_group in RAISERS:
            for m in pattern.finditer(text):
                code = m.group(m.lastindex or 1)
                word = m.group(kind_group) if kind_group else None
                kind = HELPER_KINDS.get(word) or (Kind(word) if word in Kind._value2member_map_ else None)
                line = text.count("\n", 0, m.start()) + 1
                out.append((str(path.relative_to(REPO_ROOT)), line, code, kind))
    return out


def test_every_outcome_has_a_kind_and_both_messages():
    assert len(CATALOGUE) > 100
    for code, d in CATALOGUE.items():
        assert d.code == code and isinstance(d.kind, Kind)
        assert CJK.search(d.zh), f"{code}: the Chinese message has no Chinese"
        assert d.en and d.en.isascii() and not CJK.search(d.en), f"{code}: the English message"


def test_every_raised_outcome_is_catalogued_with_the_raisers_kind():
    found = _raised()
    assert len(found) > 150  # the scan sees the code (a pattern that matched nothing would pass vacuously)
    missing = [f"{p}:{n} {c}" for p, n, c, _ in found if c not in CATALOGUE]
    assert not missing, "outcomes raised but not in services/common/outcomes.py: " + ", ".join(missing)
    wrong = [f"{p}:{n} {c} raised as {k.value}, catalogued {CATALOGUE[c].kind.value}"
             for p, n, c, k in found if k is not None and CATALOGUE[c].kind is not k]
    assert not wrong, "raisers disagree with the catalogue: " + "; ".join(wrong)


def test_the_engines_outcomes_and_the_eligibility_and_evoucher_codes_are_catalogued():
    from services.eligibility import rules, tokens

    codes = [o.value for o in Outcome]
    codes += [rules.NOT_ENROLLED, rules.WAITING_PERIOD, rules.LAPSED, rules.PAUSED, rules.TERMINATED]
    codes += [tokens.EVOUCHER_MALFORMED, tokens.EVOUCHER_EXPIRED, tokens.EVOUCHER_USED, tokens.EVOUCHER_UNVERIFIABLE]
    from gateway.app import _HTTP_OUTCOMES

    codes += [code for code, _ in _HTTP_OUTCOMES.values()]
    assert [c for c in codes if c not in CATALOGUE] == []


def test_every_kind_is_mapped_at_every_edge():
    from gateway.rest import KIND_HTTP_STATUS

    assert set(grpcutil.KIND_STATUS) == set(Kind) == set(KIND_HTTP_STATUS)
    # A refusal is an answer (spans OK, passed on unchanged); the rest are failures to retry.
    for kind in (Kind.INVALID, Kind.REFUSED, Kind.NOT_FOUND, Kind.FORBIDDEN, Kind.CONFLICT):
        assert grpcutil.is_refusal(grpcutil.KIND_STATUS[kind])
    for kind in (Kind.RETRY, Kind.UNAVAILABLE, Kind.INTERNAL):
        assert not grpcutil.is_refusal(grpcutil.KIND_STATUS[kind])
        assert KIND_HTTP_STATUS[kind] == 503


@pytest.mark.parametrize(("outcome", "status"), [
    ("MSGID_CONFLICT", grpc.StatusCode.ALREADY_EXISTS), ("NOT_FILED", grpc.StatusCode.FAILED_PRECONDITION),
    ("AMOUNT_MISMATCH", grpc.StatusCode.INVALID_ARGUMENT), ("CONCURRENT_UPDATE", grpc.StatusCode.ABORTED),
    ("HOSPITAL_NOT_REGISTERED", grpc.StatusCode.PERMISSION_DENIED), ("VISIT_NOT_FOUND", grpc.StatusCode.NOT_FOUND),
])
def test_the_status_code_follows_the_catalogue_not_the_raiser(outcome, status):
    # Even raised through a helper of another kind, the catalogue decides.
    assert grpcutil.status_code_of(grpcutil.invalid(outcome, "x")) == status


def test_a_refusal_without_a_message_says_the_catalogues():
    r = Refusal("NOT_SIGNED_IN", field="sign_no")
    assert r.message == CATALOGUE["NOT_SIGNED_IN"].message and r.field == "sign_no" and not r.retriable
    assert Refusal("CONCURRENT_UPDATE").retriable


def test_status_details_carry_error_info_and_the_field_violation():
    from google.rpc import error_details_pb2, status_pb2

    r = Refusal("MSGID_CONFLICT", "同一 msgid / same msgid", "msgid")
    status = status_pb2.Status.FromString(grpcutil.status_details(r, grpc.StatusCode.ALREADY_EXISTS))
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad)
    assert (info.reason, info.domain, info.metadata["kind"]) == ("MSGID_CONFLICT", "medsettle", "conflict")
    assert [(v.field, v.description) for v in bad.field_violations] == [("msgid", r.message)]


def test_each_outcome_is_defined_once():
    text = Path(REPO_ROOT / "services" / "common" / "outcomes.py").read_text(encoding="utf-8")
    codes = re.findall(r"^\s+\(\"([A-Z][A-Z0-9_]+)\",", text, re.M)
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
