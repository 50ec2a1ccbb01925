"""Demo hospitals and persons (infra/reference/make_demo.py, this Beijing year) for gateway tests."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def document() -> dict:
    from infra.reference.make_demo import document_for_today

    return document_for_today()


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
