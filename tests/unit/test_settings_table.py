"""Settings are honest: every environment variable the product reads is declared once in
services/common/config.py (VARS), Settings.from_env is built from that table, and README.md's
settings table is generated from it (this test fails when the README copy is stale)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from services.common import config
from services.common.config import REPO_ROOT, VARS, Settings


def test_readme_settings_table_is_generated_from_the_declaration():
    text = config.README.read_text(encoding="utf-8")
    assert config.TABLE_BEGIN in text and config.TABLE_END in text, "README.md has no settings table section"
    assert config.readme_with_table(text) == text, (
        "README.md's settings table differs from services/common/config.py: run "
        "`.venv/bin/python -m services.common.config --write`")
    assert config.main(["--check"]) == 0


def test_table_lists_every_variable_once_with_a_doc():
    names = [v.name for v in VARS]
    assert len(names) == len(set(names))
    assert len({v.field for v in VARS}) == len(VARS)
    for v in VARS:
        assert v.doc and "\n" not in v.doc and "|" not in v.doc, v.name
        assert f"`{v.name}`" in config.markdown_table()


def test_defaults_are_the_documented_ones():
    s = Settings.from_env({})
    assert (s.database_url, s.redis_url) == (None, None)
    assert s.data_dir == REPO_ROOT / ".data"
    assert (s.eligibility_port, s.filing_port, s.settlement_port) == (50051, 50052, 50053)
    assert (s.eligibility_addr, s.filing_addr, s.settlement_addr) == ("127.0.0.1:50051", "127.0.0.1:50052",
                                                                      "127.0.0.1:50053")
    assert (s.gateway_host, s.gateway_port, s.grpc_host) == ("127.0.0.1", 8080, "127.0.0.1")
    assert s.embedded_redis_port == 6390 and s.reuse_port is False
    assert (s.db_pool_min, s.db_pool_max) == (2, 10)
    assert (s.grpc_deadline_s, s.shutdown_grace_s) == (5.0, 10.0)
    assert (s.eligibility_redis_timeout_s, s.gateway_redis_timeout_s) == (0.25, 5.0)
    assert (s.eligibility_cache_ttl_s, s.evoucher_ttl_s, s.tif_window_s, s.rate_limit_per_s) == (300, 90, 300, 2000)
    # No secret has a default: unset, each is generated per installation (services/common/secrets.py).
    assert (s.admin_token, s.evoucher_secret, s.session_secret, s.dev_mode) == (None, None, None, False)
    assert (s.log_level, s.trace_file) == ("INFO", None)


def test_empty_means_unset_and_values_are_parsed():
    assert Settings.from_env({"GATEWAY_PORT": "", "LOG_LEVEL": "", "GRPC_HOST": ""}) == Settings.from_env({})
    s = Settings.from_env({"ELIGIBILITY_PORT": "6001", "MEDSETTLE_REUSE_PORT": "1", "LOG_LEVEL": "debug",
                           "GRPC_HOST": "0.0.0.0", "MEDSETTLE_TRACE_FILE": "/tmp/x.jsonl",
                           "ELIGIBILITY_REDIS_TIMEOUT_S": "0.5", "MEDSETTLE_DATA_DIR": "/srv/d"})
    assert s.eligibility_port == 6001 and s.eligibility_addr == "127.0.0.1:6001"  # the address follows the port
    assert s.reuse_port is True and s.log_level == "DEBUG" and s.grpc_host == "0.0.0.0"
    assert s.trace_file == "/tmp/x.jsonl" and s.eligibility_redis_timeout_s == 0.5 and s.data_dir == Path("/srv/d")
    assert Settings.from_env({"MEDSETTLE_REUSE_PORT": "0"}).reuse_port is False
    assert Settings.from_env({"ELIGIBILITY_ADDR": "elig:1"}).eligibility_addr == "elig:1"


@pytest.mark.parametrize("env", [{"GATEWAY_PORT": "80a"}, {"GRPC_DEADLINE_S": "soon"}, {"LOG_LEVEL": "LOUD"}])
def test_a_bad_value_names_the_variable(env):
    with pytest.raises(SystemExit, match=next(iter(env))):
        Settings.from_env(env)


# Modules that may touch os.environ, and why: config.py reads it; telemetry.py reads only
# OpenTelemetry's standard OTEL_* variables; the launcher passes the environment on to its children.
_ALLOWED = {"services/common/config.py", "services/common/telemetry.py", "services/launcher.py"}


def _environment_reads(path: Path) -> list[int]:
    """Lines of every os.environ / os.getenv use in one module."""
    names = ("environ", "getenv", "environb")
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        attribute = (isinstance(node, ast.Attribute) and node.attr in names
                     and isinstance(node.value, ast.Name) and node.value.id == "os")
        imported = (isinstance(node, ast.ImportFrom) and node.module == "os"
                    and any(a.name in names for a in node.names))
        if attribute or imported:
            lines.append(node.lineno)
    return lines


def test_nothing_but_settings_reads_the_environment():
    offenders = []
    for top in ("services", "gateway"):
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if rel in _ALLOWED:
                continue
            offenders += [f"{rel}:{line}" for line in _environment_reads(path)]
    assert not offenders, f"read the environment through services/common/config.py (VARS) instead: {offenders}"


def test_telemetry_reads_only_otel_variables_itself():
    src = (REPO_ROOT / "services" / "common" / "telemetry.py").read_text(encoding="utf-8")
    tree = ast.parse(src)
    keys = {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(getattr(node.func.value, "id", None), str) and node.func.value.id == "env"
            and node.args and isinstance(node.args[0], ast.Constant)}
    assert keys and all(k.startswith("OTEL_") for k in keys), keys
