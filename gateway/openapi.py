"""The OpenAPI 3 document of /api/v1 (hand-written; a test checks every route appears here)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(desc: str, schema: dict | None = None, errors: tuple[int, ...] = (400, 401, 403, 404, 409, 503)) -> dict:
    out: dict[str, Any] = {"200": {"description": desc,
                                   "content": {"application/json": {"schema": schema or {"type": "object"}}}}}
    for code in errors:
        out[str(code)] = {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _body(props: dict[str, dict], required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": props, "required": required}}}}


_S = {"type": "string"}
_YUAN = {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$", "example": "525.00",
         "description": "yuan with exactly two decimals, made from integer fen (never a float)"}
_DATE = {"type": "string", "format": "date", "example": "2026-06-01"}
_ADMIN: list[dict[str, list[str]]] = [{"bearer": []}]
_PSN = {"name": "psn_no", "in": "path", "required": True, "schema": _S}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "medsettle gateway REST API", "version": "1.0.0",
                 "description": "Every amount is a yuan string with exactly two decimals (\"525.00\", "
                                "schema Yuan), never integer fen; counts and years are integers. Errors: "
                                "{\"error\": {\"code\", \"message\", \"field\"}}. HIS transactions are NOT here: "
                                "they use POST /fsi/api/rsfComIfsService/callService (NHSA envelope)."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "an operator account's API token (the console's "
                                                          "/console/account, or `medsettle operator token NAME`); "
                                                          "reads: every role; /api/v1/admin/*: operator or admin "
                                                          "(else 403 FORBIDDEN_ROLE); every change is audited"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": _S, "message": _S, "field": {"type": "string", "nullable": True}}}}},
                "Yuan": _YUAN,
                "Accumulators": {
                    "type": "object", "required": ["psn_no", "insutype", "year", "account_balance", "accumulators"],
                    "properties": {
                        "psn_no": _S, "insutype": _S, "year": {"type": "integer"},
                        "account_balance": {**_YUAN, "description": "personal account balance left (310), yuan"},
                        "accumulators": {"type": "array", "items": {"$ref": "#/components/schemas/Accumulator"}}}},
                "Accumulator": {
                    "type": "object", "required": ["key", "unit"],
                    "description": "One year-to-date accumulator. unit yuan: amount and cap (null: no cap) are "
                                   "yuan strings like every amount of this API. unit count (admissions:*): count "
                                   "and count_cap (null: no cap) are integers. No field holds fen.",
                    "properties": {
                        "key": {"type": "string", "example": "dedc:outpatient"},
                        "unit": {"type": "string", "enum": ["yuan", "count"]},
                        "amount": _YUAN, "cap": {**_YUAN, "nullable": True},
                        "count": {"type": "integer", "example": 1},
                        "count_cap": {"type": "integer", "nullable": True}}},
            },
        },
        "paths": {
            "/api/v1/openapi.json": {"get": {"summary": "this document", "responses": _resp("OpenAPI 3", errors=())}},
            "/api/v1/persons/{psn_no}": {"get": {
                "summary": "person, enrollments (insuinfo) and identities", "security": _ADMIN,
                "parameters": [_PSN], "responses": _resp("person")}},
            "/api/v1/persons/{psn_no}/filings": {"get": {
                "summary": "a person's filings", "security": _ADMIN,
                "parameters": [_PSN, {"name": "all", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
                "responses": _resp("filings")}},
            "/api/v1/persons/{psn_no}/accumulators": {"get": {
                "summary": "year-to-date accumulators", "security": _ADMIN,
                "parameters": [_PSN, {"name": "year", "in": "query", "required": True, "schema": {"type": "integer"}},
                               {"name": "insutype", "in": "query", "schema": _S}],
                "responses": _resp("accumulators", {"$ref": "#/components/schemas/Accumulators"})}},
            "/api/v1/settlements/{setl_id}": {"get": {
                "summary": "one settlement with its fund lines", "security": _ADMIN,
                "parameters": [{"name": "setl_id", "in": "path", "required": True, "schema": _S}],
                "responses": _resp("settlement")}},
            "/api/v1/admin/reference": {"post": {
                "summary": "load a reference document (medsettle.reference/v1); it may refer to stored pools and "
                           "hospitals instead of listing them. On any error (a reference neither in the document "
                           "nor stored included) nothing is applied and error.errors lists every bad path. The "
                           "report counts per kind what was inserted (created), updated, unchanged and deleted",
                "security": _ADMIN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": _resp("load report")}},
            "/api/v1/admin/clearing-runs": {"post": {
                "summary": "run the monthly clearing for all pools (idempotent per month)", "security": _ADMIN,
                "requestBody": _body({"setlym": {"type": "string", "example": "202606"}}, ["setlym"]),
                "responses": _resp("clearing run: statements per pool pair and net positions")}},
            "/api/v1/admin/alerts": {"get": {
                "summary": "fund-supervision alerts, newest first (docs/SUPERVISION.md)", "security": _ADMIN,
                "parameters": [{"name": k, "in": "query", "schema": _S}
                               for k in ("status", "pattern", "psn_no", "fixmedins_code")]
                + [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                "responses": _resp("alerts: pattern, rule_code, severity, status, psn_no, fixmedins_code, setl_ids, "
                                   "summary, evidence, amount, reviewer, note")}},
            "/api/v1/admin/alerts/{alert_id}": {"get": {
                "summary": "one alert with its evidence", "security": _ADMIN,
                "parameters": [{"name": "alert_id", "in": "path", "required": True, "schema": _S}],
                "responses": _resp("alert")}},
            "/api/v1/admin/alerts/{alert_id}/review": {"post": {
                "summary": "review an open alert: confirmed or dismissed, with a note (once); role reviewer or "
                           "admin (else 403 FORBIDDEN_ROLE); the reviewer is the token's account; audited",
                "security": _ADMIN,
                "parameters": [{"name": "alert_id", "in": "path", "required": True, "schema": _S}],
                "requestBody": _body({"status": {"type": "string", "enum": ["confirmed", "dismissed"]},
                                      "note": _S}, ["status", "note"]),
                "responses": _resp("the alert after the review (409 ALERT_ALREADY_REVIEWED if not open)",
                                   errors=(400, 401, 403, 404, 409, 503))}},
            "/api/v1/admin/enrollments": {"post": {
                "summary": "create or update an enrollment (a new person when psn_no is unknown and certno, name, "
                           "gender, birthdate are given)", "security": _ADMIN,
                "requestBody": _body({"psn_no": _S, "pool": _S, "insutype": _S, "year": {"type": "integer"},
                                      "psn_type": _S, "benefit_start": _DATE, "benefit_end": _DATE, "status": _S,
                                      "paid_date": _DATE, "enrollment_kind": _S, "certno": _S, "name": _S,
                                      "gender": _S, "birthdate": _DATE},
                                     ["psn_no", "pool", "insutype", "year", "psn_type"]),
                "responses": _resp("enrollment")}},
            "/api/v1/admin/identities": {"post": {
                "summary": "set or remove an identity group (tekun, dibao, ...)", "security": _ADMIN,
                "requestBody": _body({"psn_no": _S, "type": _S, "begin": _DATE, "end": _DATE,
                                      "remove": {"type": "string", "enum": ["0", "1"]}}, ["psn_no", "type"]),
                "responses": _resp("identity")}},
            "/api/v1/admin/chronic": {"post": {
                "summary": "grant a chronic/special-disease qualification", "security": _ADMIN,
                "requestBody": _body({"psn_no": _S, "code": _S, "begin": _DATE, "end": _DATE, "hospital": _S},
                                     ["psn_no", "code", "begin"]),
                "responses": _resp("qualification")}},
        },
    }
