"""docker-compose.yml, checked offline (no Docker engine runs here): it parses, every command
exists in the code, and ports and environment agree with the code's defaults."""

from __future__ import annotations

import importlib.util
import re

import yaml

from services.common.config import REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
CONFIG_SRC = (REPO_ROOT / "services" / "common" / "config.py").read_text()


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_every_part_with_healthchecks():
    services = _compose()["services"]
    for name in ("postgres", "redis", "eligibility", "filing", "settlement", "gateway", "otel-collector", "jaeger"):
        assert name in services, f"{name} missing from docker-compose.yml"
    for name in ("postgres", "redis", "eligibility", "filing", "settlement", "gateway"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_every_command_exists_in_the_code():
    services = _compose()["services"]
    for name, svc in services.items():
        cmd = svc.get("command")
        if not cmd or svc.get("image", "").startswith(("otel/", "jaegertracing/")):
            continue
        if cmd[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(cmd[2]) is not None, f"{name}: module {cmd[2]} does not exist"
        elif cmd[0] == "medsettle":
            from services.cli import main

            try:
                main([cmd[1], "--help"])
            except SystemExit as e:
                assert e.code == 0, f"{name}: `medsettle {cmd[1]}` is not a command"
        for test in (svc.get("healthcheck") or {}).get("test", []):
            m = re.search(r"-m (services\.[\w.]+)", " ".join(test) if isinstance(test, list) else test)
            if m:
                assert importlib.util.find_spec(m.group(1)) is not None


def test_ports_and_environment_agree_with_the_code(monkeypatch):
    for var in ("ELIGIBILITY_PORT", "FILING_PORT", "SETTLEMENT_PORT", "GATEWAY_PORT", "GATEWAY_HOST"):
        monkeypatch.delenv(var, raising=False)
    defaults = Settings.from_env()
    services = _compose()["services"]
    expected = {"eligibility": ("ELIGIBILITY_PORT", defaults.eligibility_port),
                "filing": ("FILING_PORT", defaults.filing_port),
                "settlement": ("SETTLEMENT_PORT", defaults.settlement_port),
                "gateway": ("GATEWAY_PORT", defaults.gateway_port)}
    addrs = services["gateway"]["environment"]
    for name, (var, port) in expected.items():
        assert str(services[name]["environment"][var]) == str(port), f"{name}: {var} differs from the code's default"
        if name != "gateway":
            addr_var = name.upper() + "_ADDR"
            assert addrs[addr_var] == f"{name}:{port}", f"{addr_var} does not point at {name}:{port}"
    assert services["gateway"]["ports"] == [f"{defaults.gateway_port}:{defaults.gateway_port}"]
    # Every variable compose sets is one the code reads (or a standard OTEL_ one).
    for name, svc in services.items():
        for var in (svc.get("environment") or {}):
            if name in ("postgres", "redis", "jaeger", "otel-collector") or var.startswith("OTEL_"):
                continue
            assert var in CONFIG_SRC or var == "GRPC_HOST", f"{name}: {var} is not read by services/common/config.py"
    dockerfile = REPO_ROOT / "infra" / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO_ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"


def test_no_container_assumes_a_time_zone():
    """Business time is Beijing time by the code's own clock (services/common/clock.py), whatever
    the host's zone: neither compose nor the Dockerfile sets or installs one."""
    for name, svc in _compose()["services"].items():
        env = svc.get("environment") or {}
        assert "TZ" not in env, f"{name} sets TZ"
        for volume in svc.get("volumes") or []:
            assert "localtime" not in str(volume) and "zoneinfo" not in str(volume), f"{name} mounts {volume}"
    dockerfile = (REPO_ROOT / "infra" / "Dockerfile").read_text()
    assert not re.search(r"\bTZ\b|zoneinfo|localtime|tzdata", dockerfile), "the Dockerfile sets a time zone"
