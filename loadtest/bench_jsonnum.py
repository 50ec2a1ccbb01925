"""Micro-benchmark of gateway/his/jsonnum.dumps on a typical 2207 reply, side by side with plain
json.dumps of the same reply written with amounts as strings (today's wire) and as floats.

Not a test. Run: .venv/bin/python loadtest/bench_jsonnum.py [rounds]
The reply is the response envelope with a 2207 output carrying every field of the spec's setlinfo
(each 数值型 field a Decimal with two decimals, pool_prop_selfpay four) and three setldetail rows.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import timeit
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateway.his import jsonnum  # noqa: E402
from gateway.his.contract import output_nodes, problems  # noqa: E402

SAMPLE_TEXT = {"C": "310100", "D": "2026-01-05", "DT": "2026-01-05 10:00:00"}


def _row(fields: dict, i: int) -> dict:
    row = {}
    for n, (name, spec) in enumerate(fields.items()):
        if spec["type"] == "N":
            scale = int(spec["len"].split(",")[1]) if "," in spec["len"] else 0
            fen = 12340 + 1111 * n + 7 * i
            row[name] = Decimal(fen).scaleb(-2) if scale == 2 else Decimal(f"{fen % 10000}E-{scale}") if scale else \
                Decimal(fen % 100)
        else:
            row[name] = SAMPLE_TEXT.get(spec["type"], "")
    row["exp_content"] = ""
    row.setdefault("psn_name", "张三")
    return row


def reply_2207() -> dict:
    nodes = output_nodes("2207")
    output = {"setlinfo": _row(nodes["setlinfo"]["fields"], 0),
              "setldetail": [_row(nodes["setldetail"]["fields"], i) for i in range(3)]}
    assert problems(output, nodes) == [], problems(output, nodes)
    return {"infcode": 0, "inf_refmsgid": "330602202601051000000010000001", "refmsg_time": "20260105100000123",
            "respond_time": "20260105100000130", "err_msg": "", "warn_msg": "", "output": output}


def _convert(obj, fn):
    if isinstance(obj, dict):
        return {k: _convert(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v, fn) for v in obj]
    return fn(obj) if isinstance(obj, Decimal) else obj


def _us(fn, number: int, rounds: int) -> tuple[float, float]:
    times = [t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=rounds)]
    return min(times), statistics.median(times)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    reply = reply_2207()
    as_text = _convert(reply, str)
    as_float = _convert(reply, float)
    with_nul = {**reply, "warn_msg": "a NUL \x00 in a user string takes the safe path"}
    n_dec = sum(isinstance(v, Decimal) for v in reply["output"]["setlinfo"].values()) + \
        sum(isinstance(v, Decimal) for row in reply["output"]["setldetail"] for v in row.values())
    plain = {"ensure_ascii": False, "separators": (",", ":")}
    cases = [
        ("jsonnum.dumps (Decimals as exact numbers)", lambda: jsonnum.dumps(reply)),
        ("json.dumps, amounts as strings", lambda: json.dumps(as_text, **plain)),
        ("json.dumps, amounts as floats (inexact)", lambda: json.dumps(as_float, **plain)),
        ("jsonnum.dumps, safe path (a NUL in a string)", lambda: jsonnum.dumps(with_nul)),
    ]
    size = len(jsonnum.dumps(reply).encode())
    print(f"typical 2207 reply: {size} bytes, {n_dec} Decimals; µs per dumps over {rounds} rounds")
    print(f"  {'':<46} {'min':>8}  {'median':>8}   min vs json.dumps with strings")
    results = [(label, *_us(fn, 2000, rounds)) for label, fn in cases]
    base = results[1][1]
    for label, best, median in results:
        print(f"  {label:<46} {best:8.1f}  {median:8.1f}   x{best / base:4.2f}")


if __name__ == "__main__":
    main()
