"""The JSON layout both NHSA generators write (make_fields.py, make_codes.py): one line per entry,
so a change in the source document is a readable diff of the generated file."""

from __future__ import annotations

import json
from typing import Any


def _is_scalar_dict(v: Any) -> bool:
    return isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values())


def render(obj: Any, indent: int = 0) -> str:
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict) and obj and not _is_scalar_dict(obj):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {render(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj:
        return "[\n" + ",\n".join(inner + render(v, indent + 2) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)
