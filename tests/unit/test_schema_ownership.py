"""Each service's tables are its own (README: one schema per owner): no module touches another
service's schema, and nothing outside eligibility knows eligibility's Redis keys.

The scan reads every string literal (SQL lives in named queries, f-strings included) of every
module under services/ and gateway/, and finds `<schema>.<object>` for the objects each
schema's migrations create (infra/migrations/<schema>/), plus asyncpg's `schema_name=` argument.
A module may name its own service's schema, and `reference` (readable by all; written only by
services/refdata, which owns it). Writers outside a service go through the owner's code: the
reference loader hands persons to eligibility's and filing's reference_load modules, and
invalidates through eligibility's cache module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from services.common.config import REPO_ROOT

SCHEMAS = ("reference", "eligibility", "filing", "settlement", "supervision", "portal", "console")
# The folder under services/ that owns each schema (settlement also owns fund supervision's:
# its findings, alerts and death registry sit beside the settlements they are about).
OWNER = {"refdata": ("reference",), "eligibility": ("eligibility",), "filing": ("filing",),
         "settlement": ("settlement", "supervision")}
# The folder under gateway/ that owns each gateway schema.
GATEWAY_OWNER = {"portal": ("portal",), "mobilepay": ("portal",),  # patient accounts, pay orders
                 "console": ("console",)}  # operator accounts, API tokens, the audit log
# Modules allowed to name every schema, and why.
EXEMPT = {
    "services/common/db.py": "applies the migrations of every schema (infra/migrations/<schema>/)",
}
# Deliberate exceptions: (module, schema) -> why. None today.
EXCEPTIONS: dict[tuple[str, str], str] = {}

SOURCES = sorted(p for d in ("services", "gateway") for p in (REPO_ROOT / d).rglob("*.py")
                 if not p.name.endswith(("_pb2.py", "_pb2_grpc.py")))
_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|ALTER\s+TABLE|DROP\s+TABLE)\s+reference\.", re.I)
_ELIGIBILITY_KEY = re.compile(r"\belig:")


def _objects() -> dict[str, frozenset[str]]:
    """Schema -> the names its migrations use after `schema.` (tables, views, functions)."""
    out = {}
    for schema in SCHEMAS:
        names: set[str] = set()
        for path in (REPO_ROOT / "infra" / "migrations" / schema).glob("*.sql"):
            names |= set(re.findall(rf"(?<![\w.]){schema}\.([a-z_][a-z0-9_]*)", path.read_text(encoding="utf-8")))
        out[schema] = frozenset(names)
    return out


OBJECTS = _objects()
_REFERENCE = re.compile(r"(?<![\w.])(" + "|".join(SCHEMAS) + r")\.([a-z_][a-z0-9_]*)")


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _schemas_named(path: Path) -> dict[str, list[str]]:
    """Schema -> where the module names it ("line: schema.object")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for line, text in _strings(tree):
        for m in _REFERENCE.finditer(text):
            if m.group(2) in OBJECTS[m.group(1)]:
                found.setdefault(m.group(1), []).append(f"{line}: {m.group(0)}")
    for n in ast.walk(tree):
        if isinstance(n, ast.keyword) and n.arg == "schema_name" and isinstance(n.value, ast.Constant):
            found.setdefault(n.value.value, []).append(f"{n.value.lineno}: schema_name={n.value.value!r}")
    return found


def _rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _own_schemas(rel: str) -> tuple[str, ...]:
    parts = rel.split("/")
    if parts[0] == "gateway" and len(parts) > 2:
        return GATEWAY_OWNER.get(parts[1], ())
    return OWNER.get(parts[1], ()) if parts[0] == "services" and len(parts) > 2 else ()


def test_the_scan_sees_every_schema_and_its_owners_queries():
    assert all(OBJECTS[s] for s in SCHEMAS), OBJECTS  # the migrations were read
    named = {_rel(p): _schemas_named(p) for p in SOURCES}
    # Each owner's storage is seen (a scan that matched nothing would pass vacuously).
    assert "eligibility" in named["services/eligibility/repository.py"]
    assert "eligibility" in named["services/eligibility/import_repository.py"]
    assert "filing" in named["services/filing/repository.py"]
    assert "settlement" in named["services/settlement/repository.py"]
    assert "reference" in named["services/refdata/store.py"]
    assert "portal" in named["gateway/portal/repository.py"]
    assert "portal" in named["gateway/mobilepay/repository.py"]
    assert "supervision" in named["services/settlement/supervision_repository.py"]


def test_no_module_touches_another_services_schema():
    wrong = []
    for path in SOURCES:
        rel = _rel(path)
        if rel in EXEMPT:
            continue
        allowed = {"reference", *_own_schemas(rel)}
        for schema, where in sorted(_schemas_named(path).items()):
            if schema not in allowed and (rel, schema) not in EXCEPTIONS:
                wrong.append(f"{rel} names {schema}.* ({', '.join(where)})")
    assert not wrong, "modules touching another service's schema:\n" + "\n".join(wrong)


def test_only_refdata_writes_the_reference_schema():
    wrong = [f"{_rel(p)}:{line}" for p in SOURCES if "reference" not in _own_schemas(_rel(p)) and _rel(p) not in EXEMPT
             for line, text in _strings(ast.parse(p.read_text(encoding="utf-8"))) if _WRITE.search(text)]
    assert not wrong, "writes to reference.* outside services/refdata: " + ", ".join(wrong)


def test_only_eligibilitys_cache_module_knows_its_redis_keys():
    wrong = [f"{_rel(p)}:{line}" for p in SOURCES if _rel(p) != "services/eligibility/cache.py"
             for line, text in _strings(ast.parse(p.read_text(encoding="utf-8"))) if _ELIGIBILITY_KEY.search(text)]
    assert not wrong, "eligibility's Redis keys (elig:...) outside services/eligibility/cache.py: " + ", ".join(wrong)


def test_the_exceptions_are_still_needed():
    # An exception nobody needs any more is removed, so the list stays the true list.
    for (rel, schema), why in EXCEPTIONS.items():
        assert why and schema in _schemas_named(REPO_ROOT / rel), (rel, schema)
    for rel, why in EXEMPT.items():
        assert why and (REPO_ROOT / rel).is_file(), rel
