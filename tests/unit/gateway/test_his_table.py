"""The HIS infno table is one explicit mapping (gateway/his/handlers/__init__.py): every labelled
handler is in it under its own infno, and importing a handler module registers nothing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from gateway.his import dispatch, handlers


def _labelled() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(handlers.__path__):
        module = importlib.import_module(f"{handlers.__name__}.{info.name}")
        for _, fn in inspect.getmembers(module, inspect.iscoroutinefunction):
            if fn.__module__ == module.__name__ and hasattr(fn, "infno"):
                assert fn.infno not in found, f"{fn.infno} labelled twice"
                found[fn.infno] = fn
    return found


def test_every_labelled_handler_is_in_the_table_under_its_infno():
    assert dict(handlers.HANDLERS) == _labelled()
    assert dispatch.table() is handlers.HANDLERS is dispatch.HANDLERS
    assert set(handlers.NAMES) == set(handlers.HANDLERS)
    assert handlers.NAMES["2207"] == handlers.HANDLERS["2207"].transaction_name == "门诊结算 outpatient settlement"


def test_the_table_is_read_only():
    try:
        handlers.HANDLERS["9999"] = handlers.HANDLERS["9001"]
    except TypeError:
        return
    raise AssertionError("HANDLERS can be changed at run time")


def test_the_label_registers_nothing():
    @dispatch.transaction("0000", "probe")
    async def probe(call):
        return {}

    assert probe.infno == "0000" and probe.transaction_name == "probe"
    assert "0000" not in dispatch.table()
