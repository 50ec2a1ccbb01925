"""Demo hospitals and persons (infra/reference/demo.json) for gateway tests."""

from __future__ import annotations

import json
from functools import lru_cache

from services.common.config import REPO_ROOT


@lru_cache(maxsize=1)
def document() -> dict:
    return json.loads((REPO_ROOT / "infra" / "reference" / "demo.json").read_text(encoding="utf-8"))


def hospital(code: str) -> dict:
    for h in document()["hospitals"]:
        if h["code"] == code:
            return h
    raise KeyError(code)


def person(psn_no: str) -> dict:
    for p in document()["persons"]:
        if p["psn_no"] == psn_no:
            return p
    raise KeyError(psn_no)


def client_for(base_url: str, code: str, **kw):
    from gateway.hisclient import HisClient

    h = hospital(code)
    return HisClient(base_url, fixmedins_code=h["code"], paasid=h["paasid"], secret=h["secret"], admdvs=h["admdvs"],
                     fixmedins_name=h["name"], **kw)
