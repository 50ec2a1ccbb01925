"""The settlement service's internal layout (issue #14): domain types with no I/O, SQL only in the
repository, protobuf only at the edge, 2601 by a table, clients that implement the Protocols the
use cases type against."""

from __future__ import annotations

import ast
import inspect
import re

from services.common.config import REPO_ROOT
from services.settlement import ports
from services.settlement.domain import Effect
from services.settlement.eligibility_client import EligibilityClient
from services.settlement.filing_client import FilingClient
from services.settlement.reversal import UNDO

PACKAGE = REPO_ROOT / "services" / "settlement"
MODULES = {p.stem: p for p in PACKAGE.glob("*.py")}
USE_CASES = ("visits", "fees", "settle", "reversal", "queries", "reconciliation", "clearing")
EDGE = {"server", "eligibility_client", "filing_client"}  # the only modules that speak protobuf
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE settlement|DELETE FROM|FOR UPDATE|pg_advisory)\b")


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _strings(path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_the_domain_module_does_no_io_and_knows_no_protobuf():
    allowed = {"__future__", "datetime", "secrets", "collections.abc", "dataclasses", "decimal", "enum", "operator", "typing",
               "services.common.clock", "services.common.outcomes", "services.engine", "services.engine.model",
               "services.supervision.model"}  # the supervision rules' pure data contract
    assert _imports(MODULES["domain"]) <= allowed


def test_protobuf_is_known_only_at_the_edge():
    for name, path in MODULES.items():
        speaks = {m for m in _imports(path) if m.startswith(("medsettle", "google.protobuf"))}
        if name not in EDGE:
            assert not speaks, f"{name}.py imports {speaks}"
    assert any(m.startswith("medsettle.settlement") for m in _imports(MODULES["server"]))


def test_sql_lives_in_the_repository_only():
    # audit.py is the independent auditor: it recomputes every invariant with its own queries;
    # supervision_repository.py is the repository of the supervision schema.
    for name, path in MODULES.items():
        if name in ("repository", "audit", "supervision_repository"):
            continue
        found = [s for s in _strings(path) if SQL.search(s)]
        assert not found, f"{name}.py: {found}"


def test_use_case_modules_stay_small():
    for name in USE_CASES:
        lines = MODULES[name].read_text(encoding="utf-8").count("\n")
        assert lines < 400, f"{name}.py has {lines} lines"


def test_2601_undoes_every_effect_by_its_handler_or_says_it_cannot():
    not_reversible = {Effect.DIAGNOSIS, Effect.APPLY_CLEARING}
    assert set(UNDO) | not_reversible == set(Effect) and not set(UNDO) & not_reversible


def test_the_clients_implement_the_protocols_the_use_cases_type_against():
    for client, protocol, method in ((EligibilityClient, ports.EligibilityService, "snapshot"),
                                     (FilingClient, ports.FilingService, "filing_group")):
        mine, theirs = inspect.signature(getattr(client, method)), inspect.signature(getattr(protocol, method))
        assert list(mine.parameters) == list(theirs.parameters)
        assert [p.kind for p in mine.parameters.values()] == [p.kind for p in theirs.parameters.values()]
        assert mine.return_annotation == theirs.return_annotation
        assert inspect.iscoroutinefunction(getattr(client, method))


def test_every_effect_has_a_default_infno():
    assert all(len(e.infno) == 4 for e in Effect)
