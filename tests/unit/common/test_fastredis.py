"""The pipelined reader's RESP parsing and reply ordering (pure: bytes in, futures out; the
real connection is exercised by tests/integration/eligibility/test_cache.py, including Redis
stopped, restarted and hung)."""

from __future__ import annotations

import asyncio

import pytest

from services.common.fastredis import RedisReplyError, _parse, _Protocol, encode


def test_encode_is_resp_array_of_bulk_strings():
    assert encode("MGET", "a", "键") == b"*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$3\r\n\xe9\x94\xae\r\n"


def test_parse_each_reply_type_and_incomplete_input():
    reply = b"*3\r\n$1\r\n7\r\n$-1\r\n$5\r\na\r\nbc\r\n"
    assert _parse(reply, 0) == ([b"7", None, b"a\r\nbc"], len(reply))
    for cut in range(len(reply)):
        assert _parse(reply[:cut], 0) is None
    assert _parse(b":42\r\n", 0) == (42, 5)
    assert _parse(b"+OK\r\n", 0) == (b"OK", 5)
    assert _parse(b"-ERR wrong\r\n", 0)[0] == "ERR wrong"


class _Transport:
    def write(self, data):
        pass

    def close(self):
        pass


async def test_replies_go_to_callers_in_order_across_chunks_and_a_cancelled_caller_is_skipped():
    loop = asyncio.get_running_loop()
    proto = _Protocol()
    proto.connection_made(_Transport())
    a, b, c = (loop.create_future() for _ in range(3))
    proto.waiters.extend([a, b, c])
    b.cancel()  # gave up (timeout): its reply must still be consumed, not handed to c
    data = b"$1\r\nA\r\n$1\r\nB\r\n-ERR no\r\n"
    for i in range(0, len(data), 3):
        proto.data_received(data[i:i + 3])
    assert a.result() == b"A"
    with pytest.raises(RedisReplyError):
        c.result()
    d = loop.create_future()
    proto.waiters.append(d)
    proto.connection_lost(None)
    with pytest.raises(ConnectionError):
        d.result()
    assert proto.lost
