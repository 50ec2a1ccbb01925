"""Moved to services/common/fastredis.py (the gateway's guard uses it too); kept so existing
imports keep working."""

from services.common.fastredis import PipelinedRedis, RedisReplyError, _Error, _parse, _Protocol, encode  # noqa: F401
