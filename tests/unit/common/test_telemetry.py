"""Structured logs carry the trace id; certificate numbers and names are masked."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from services.common.telemetry import JsonFormatter, mask


def test_mask_keeps_only_the_ends():
    assert mask("330602199001011231") == "330***********1231"
    assert mask("张三") == "张*"
    assert mask("王建国") == "王*国"
    assert mask("") == ""
    assert "199001" not in mask("330602199001011231")


def test_log_line_is_json_with_the_current_trace_id():
    tracer = TracerProvider().get_tracer("t")
    fmt = JsonFormatter("gateway")
    with tracer.start_as_current_span("request") as span:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "settled %s", ("S1",), None)
        record.setl_id = "S1"
        line = json.loads(fmt.format(record))
    assert line["msg"] == "settled S1"
    assert line["service"] == "gateway"
    assert line["setl_id"] == "S1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_log_line_outside_a_span_has_no_trace_id():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "plain", (), None)
    line = json.loads(JsonFormatter("eligibility").format(record))
    assert "trace_id" not in line and line["level"] == "warning"
