"""A minimal pipelined Redis client for hot per-request commands: the eligibility cache's reads
(MGET, GET) and the gateway's guard script (EVALSHA).

Why: under cProfile a cached lookup spent more in redis-py's asyncio client (connection pool
checkout and release, command packing, its layered RESP parser, a timeout task per socket
write) than in the rest of the service. This client keeps ONE connection, writes each command
as soon as it is issued and matches replies to callers in order (Redis answers a connection's
commands in order), parsing the few RESP2 reply types those commands return.

In eligibility it is used only for reads whose freshness the caller checks itself (cache.py
compares the entry's epoch/version with the ones read in the same MGET); fills, locks,
invalidations and everything else still go through the ordinary (traced) redis-py client. The
gateway sends its one guard script per request through it (gateway/his/security.py), which maps
errors to redis-py's exceptions. Any error — cannot
connect, connection lost, an error reply — is raised to the caller, which treats it like a
redis-py error (answer from PostgreSQL, counted). A caller that gives up (timeout) leaves its
future in the queue; the late reply is matched to it and dropped, so order is kept.
"""

from __future__ import annotations

import asyncio
from collections import deque


class RedisReplyError(Exception):
    """Redis answered with an error reply."""


class _Error(str):
    pass


def _parse(buf: bytes, pos: int):
    """(value, next position) of the reply starting at pos, or None if it is incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    t = buf[pos]
    if t == 36:  # $ bulk string
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        stop = end + 2 + n
        if len(buf) < stop + 2:
            return None
        return buf[end + 2:stop], stop + 2
    if t == 42:  # * array
        n = int(buf[pos + 1:end])
        if n < 0:
            return None, end + 2
        items = []
        p = end + 2
        for _ in range(n):
            r = _parse(buf, p)
            if r is None:
                return None
            items.append(r[0])
            p = r[1]
        return items, p
    if t == 43:  # + simple string
        return buf[pos + 1:end], end + 2
    if t == 58:  # : integer
        return int(buf[pos + 1:end]), end + 2
    if t == 45:  # - error
        return _Error(buf[pos + 1:end].decode("utf-8", "replace")), end + 2
    raise ValueError(f"unexpected RESP reply type {chr(t)!r}")


def encode(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b"%d" % a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiters: deque[asyncio.Future] = deque()
        self.buf = b""
        self.lost = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        waiters = self.waiters
        try:
            while waiters and pos < len(buf):
                r = _parse(buf, pos)
                if r is None:
                    break
                value, pos = r
                fut = waiters.popleft()
                if not fut.done():
                    if isinstance(value, _Error):
                        fut.set_exception(RedisReplyError(str(value)))
                    else:
                        fut.set_result(value)
        except ValueError as exc:  # not RESP: this connection is unusable
            self.buf = b""
            if self.transport is not None:
                self.transport.close()
            self._fail(ConnectionError(f"redis protocol error: {exc}"))
            return
        self.buf = buf[pos:]

    def connection_lost(self, exc) -> None:
        self._fail(ConnectionError(f"redis connection lost: {exc!r}"))

    def _fail(self, err: Exception) -> None:
        self.lost = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(err)


class PipelinedRedis:
    """One connection, commands pipelined, replies matched in order. Not for blocking commands."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 6379, path: str | None = None, db: int = 0,
                 username: str | None = None, password: str | None = None) -> None:
        self._host, self._port, self._path = host, port, path
        self._db, self._username, self._password = db, username, password
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future | None = None

    @classmethod
    def like(cls, client) -> PipelinedRedis | None:
        """One reaching the same server as a redis.asyncio client (None for TLS or anything
        unusual: the caller then keeps using redis-py)."""
        try:
            pool = client.connection_pool
            kw = pool.connection_kwargs
            name = pool.connection_class.__name__
        except AttributeError:
            return None
        if name == "UnixDomainSocketConnection":
            return cls(path=kw["path"], db=int(kw.get("db") or 0), username=kw.get("username"),
                       password=kw.get("password"))
        if name != "Connection":
            return None
        return cls(host=kw.get("host") or "127.0.0.1", port=int(kw.get("port") or 6379), db=int(kw.get("db") or 0),
                   username=kw.get("username"), password=kw.get("password"))

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._path:
            _, proto = await loop.create_unix_connection(_Protocol, self._path)
        else:
            _, proto = await loop.create_connection(_Protocol, self._host, self._port)
        if self._password:
            auth = (self._username, self._password) if self._username else (self._password,)
            await self._send(proto, encode("AUTH", *auth))
        if self._db:
            await self._send(proto, encode("SELECT", self._db))
        return proto

    async def _ready(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.lost:
            return proto
        if self._connecting is None:  # one connect for all callers arriving meanwhile
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            fresh = await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None
        if self._proto is not fresh:
            old, self._proto = self._proto, fresh
            if old is not None and old.transport is not None:
                old.transport.close()
        return fresh

    @staticmethod
    def _send(proto: _Protocol, payload: bytes) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        proto.waiters.append(fut)
        assert proto.transport is not None  # _connected() returns only a connected protocol
        proto.transport.write(payload)
        return fut

    async def execute(self, *args):
        proto = await self._ready()
        return await self._send(proto, encode(*args))

    async def mget(self, *keys) -> list:
        return await self.execute("MGET", *keys)

    async def get(self, key):
        return await self.execute("GET", key)

    async def evalsha(self, sha: str, script: str, numkeys: int, *args):
        """EVALSHA; on NOSCRIPT (a Redis restarted or flushed) load the script and send it again."""
        try:
            return await self.execute("EVALSHA", sha, numkeys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.execute("SCRIPT", "LOAD", script)
        return await self.execute("EVALSHA", sha, numkeys, *args)

    def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
