"""What the gateway's handlers need, and the typed keys they find it under."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.his.dispatch import Stubs
from gateway.his.security import Guard
from services.common.clock import Clock
from services.common.config import Settings

SERVICE_NAMES = {
    "eligibility": "medsettle.eligibility.v1.EligibilityService",
    "filing": "medsettle.filing.v1.FilingService",
    "settlement": "medsettle.settlement.v1.SettlementService",
}


@dataclass
class Deps:
    """Built by the composition root (gateway/main.py); tests may build one from real parts."""
    cache: Any                      # ReferenceCache: hospital_by_paasid / credentials / hospital
    redis: Any                      # redis.asyncio client (traced)
    stubs: Stubs
    health: dict[str, Any]          # service name -> grpc_health HealthStub
    db_pool: Any = None             # asyncpg pool: the admin reference loader only
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """Filled when the app starts (cleanup_ctx) and emptied when it stops; the clock is the
    process's one business clock (Beijing time), given to init_app by the composition root."""
    clock: Clock = field(default_factory=Clock)
    deps: Deps | None = None
    guard: Guard | None = None
    stopping: bool = False


SETTINGS = web.AppKey("settings", Settings)
RUNTIME = web.AppKey("runtime", Runtime)


def runtime(request: web.Request) -> tuple[Settings, Deps, Guard]:
    rt = request.app[RUNTIME]
    if rt.deps is None or rt.guard is None:  # only between shutdown and exit
        raise web.HTTPServiceUnavailable(reason="gateway is starting or stopping")
    return request.app[SETTINGS], rt.deps, rt.guard
