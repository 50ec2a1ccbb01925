"""docker-compose.yml and what it mounts, checked offline: it parses, every command exists in the
code, ports and environment agree with the code's defaults, the start order cannot race, nothing
but the gateway is published beyond loopback, no password has a default, data lives in named
volumes, Prometheus scrapes every metrics port and Grafana's dashboard asks only for metrics the
code exposes. `docker compose config` validates the file too where Docker's compose plugin is
installed (skipped otherwise)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess

import pytest
import yaml

from services.common.config import REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "infra" / "env.example"
PROMETHEUS = REPO_ROOT / "infra" / "prometheus" / "prometheus.yml"
GRAFANA = REPO_ROOT / "infra" / "grafana"
CONFIG_SRC = (REPO_ROOT / "services" / "common" / "config.py").read_text()
MEDSETTLE = ("eligibility", "filing", "settlement", "gateway")
THIRD_PARTY = ("postgres", "redis", "jaeger", "otel-collector", "prometheus", "grafana")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _ours(services: dict) -> dict:
    return {n: s for n, s in services.items() if s.get("image") == "medsettle:dev"}


def test_compose_has_every_part_with_healthchecks():
    services = _compose()["services"]
    for name in (*THIRD_PARTY, *MEDSETTLE, "migrate"):
        assert name in services, f"{name} missing from docker-compose.yml"
    for name in ("postgres", "redis", *MEDSETTLE, "prometheus", "grafana"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_every_command_exists_in_the_code():
    services = _compose()["services"]
    assert set(_ours(services)) == {*MEDSETTLE, "migrate"}
    for name, svc in _ours(services).items():
        cmd = svc["command"]
        if cmd[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(cmd[2]) is not None, f"{name}: module {cmd[2]} does not exist"
        else:
            assert cmd[0] == "medsettle", f"{name}: {cmd}"
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
    for var in ("ELIGIBILITY_PORT", "FILING_PORT", "SETTLEMENT_PORT", "GATEWAY_PORT", "GATEWAY_HOST",
                *(f"{n.upper()}_METRICS_PORT" for n in MEDSETTLE)):
        monkeypatch.delenv(var, raising=False)
    defaults = Settings.from_env({})
    services = _compose()["services"]
    expected = {"eligibility": ("ELIGIBILITY_PORT", defaults.eligibility_port),
                "filing": ("FILING_PORT", defaults.filing_port),
                "settlement": ("SETTLEMENT_PORT", defaults.settlement_port),
                "gateway": ("GATEWAY_PORT", defaults.gateway_port)}
    addrs = services["gateway"]["environment"]
    for name, (var, port) in expected.items():
        env = services[name]["environment"]
        assert str(env[var]) == str(port), f"{name}: {var} differs from the code's default"
        metrics_var = f"{name.upper()}_METRICS_PORT"
        assert str(env[metrics_var]) == str(defaults.metrics_port(name)), f"{name}: {metrics_var} differs"
        assert env["METRICS_HOST"] == "0.0.0.0", f"{name}: metrics must be reachable by Prometheus"
        if name != "gateway":
            addr_var = name.upper() + "_ADDR"
            assert addrs[addr_var] == f"{name}:{port}", f"{addr_var} does not point at {name}:{port}"
            assert env["GRPC_HOST"] == "0.0.0.0"
    assert services["gateway"]["ports"] == [f"{defaults.gateway_port}:{defaults.gateway_port}"]
    # Every variable compose sets for a medsettle process is one the code reads (or a standard OTEL_ one).
    for name, svc in _ours(services).items():
        for var in (svc.get("environment") or {}):
            if var.startswith("OTEL_"):
                continue
            assert f'Var("{var}"' in CONFIG_SRC, f"{name}: {var} is not read by services/common/config.py"
    dockerfile = REPO_ROOT / "infra" / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO_ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
    exposed = {int(p) for line in dockerfile.read_text().splitlines() if line.startswith("EXPOSE")
               for p in line.split()[1:]}
    assert {defaults.gateway_port, defaults.eligibility_port, defaults.filing_port, defaults.settlement_port,
            *(defaults.metrics_port(n) for n in MEDSETTLE)} <= exposed


def _hosts_reached(svc: dict) -> set[str]:
    """Compose services a process connects to, read from its environment (DSNs, URLs, *_ADDR)."""
    out = set()
    for var, value in (svc.get("environment") or {}).items():
        if var not in ("DATABASE_URL", "REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT") and not var.endswith("_ADDR"):
            continue  # not an address the process connects to (e.g. GATEWAY_PUBLIC_URL)
        value = str(value)
        m = re.match(r"^[a-z]+://(?:.*@)?([a-z][\w-]*)[:/]", value) or re.match(r"^([a-z][\w-]*):\d+$", value)
        if m:
            out.add(m.group(1))
    return out


def test_start_order_cannot_race():
    """Each process starts only once everything it connects to is healthy (PostgreSQL, Redis, the
    services it calls), after the migrations completed; and the dependency graph has no cycle."""
    services = _compose()["services"]
    for name, svc in _ours(services).items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on needs conditions, not a list"
        for host in _hosts_reached(svc) - {"otel-collector"}:
            assert host in services, f"{name} reaches {host}, which compose does not define"
            assert deps.get(host, {}).get("condition") == "service_healthy", \
                f"{name} connects to {host} but does not wait for it to be healthy"
        if name != "migrate":
            assert deps["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["restart"] == "no"
    gateway = services["gateway"]["depends_on"]
    for name in ("eligibility", "filing", "settlement"):
        assert gateway[name]["condition"] == "service_healthy"
    assert services["prometheus"]["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*path, name))

    for name in services:
        visit(name, ())


def test_only_the_gateway_is_published_and_the_uis_on_loopback():
    services = _compose()["services"]
    for name, svc in services.items():
        ports = svc.get("ports") or []
        if name == "gateway":
            continue
        if name in ("postgres", "redis", "eligibility", "filing", "settlement", "migrate", "otel-collector"):
            assert not ports, f"{name} must not be published: {ports}"
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert "expose" not in services["postgres"] and "expose" not in services["redis"]


def test_no_password_has_a_default_and_the_env_file_lists_every_secret():
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    defaulted = set(re.findall(r"\$\{([A-Z_]+):?-", text))
    secrets = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
               if line and not line.startswith("#")}
    assert secrets == {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "MEDSETTLE_ADMIN_TOKEN",
                       "EVOUCHER_SECRET", "SESSION_SECRET"}
    assert secrets <= required, f"secrets without a required value: {secrets - required}"
    assert not defaulted, f"variables with a default: {defaulted}"
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            assert line.endswith("="), f"env.example gives a value: {line.split('=')[0]}"
    services = _compose()["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert not re.search(r"(?i)password\s*[:=]\s*['\"]?(medsettle|admin|secret|changeme)\b", text)
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()
    readme = (REPO_ROOT / "README.md").read_text()
    assert "cp infra/env.example .env" in readme, "README must tell how to create the env file"


def test_data_lives_in_named_volumes():
    compose = _compose()
    declared = set(compose.get("volumes") or {})
    services = compose["services"]
    mounts = {name: [str(v) for v in svc.get("volumes") or []] for name, svc in services.items()}
    assert "pgdata:/var/lib/postgresql/data" in mounts["postgres"]
    assert "redisdata:/data" in mounts["redis"]
    assert any(m.startswith("prometheus-data:") for m in mounts["prometheus"])
    assert any(m.startswith("grafana-data:") for m in mounts["grafana"])
    for name, vols in mounts.items():
        for v in vols:
            source = v.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
                assert v.endswith(":ro"), f"{name} mounts {source} writable"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_prometheus_scrapes_every_metrics_port():
    services = _compose()["services"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {t for job in config["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]}
    for name in MEDSETTLE:
        port = services[name]["environment"][f"{name.upper()}_METRICS_PORT"]
        assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}:{port}"
    prom = services["prometheus"]
    assert any(v.startswith("./infra/prometheus/prometheus.yml:") for v in prom["volumes"])


def _exposed_metric_names() -> set[str]:
    """Every sample name the code's collectors can emit (sources faked: a pool, a channel, a cache, import totals)."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from services.common import metrics
    from services.common.telemetry import ChannelStats

    class Pool:
        def get_size(self):
            return 2

        def get_idle_size(self):
            return 1

        def get_max_size(self):
            return 10

    class Channel:
        stats = ChannelStats()

        def is_ready(self):
            return True

    class Cache:
        stats = {"hits": 1, "misses": 1, "fallbacks": 0, "redis_errors": 0, "fills_dropped_stale": 0, "lock_waits": 0}

    stops = [metrics.watch_pool("p", Pool()), metrics.watch_channel("c", Channel()), metrics.watch_cache("k", Cache())]
    saved = metrics.SOURCES.import_rows
    metrics.SOURCES.import_rows = {"ok": 1, "rejected": 0, "running": 0}
    # one of each labelled family, so that every family has a sample
    metrics.his_transaction("2207", "OK", 0.01)
    metrics.grpc_call("X/Y", "OK", 0.01)
    metrics.settlement_booked("settle", "11", [("310100", 1)], 1, 1)
    metrics.supervision_finding("test", "low")
    try:
        text = generate_latest().decode()
    finally:
        for stop in stops:
            stop()
        metrics.SOURCES.import_rows = saved
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_grafana_is_provisioned_with_a_dashboard_of_metrics_the_code_exposes():
    services = _compose()["services"]
    mounts = services["grafana"]["volumes"]
    assert "./infra/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    by_uid = {d["uid"]: d for d in datasources["datasources"]}
    assert by_uid["prometheus"]["url"] == "http://prometheus:9090" and by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["jaeger"]["url"] == "http://jaeger:16686"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"

    exposed = _exposed_metric_names()
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert dashboards
    asked: set[str] = set()
    for path in dashboards:
        dash = json.loads(path.read_text())
        assert dash["uid"] and dash["title"]
        for panel in dash["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in by_uid, panel["title"]
            for target in panel["targets"]:
                names = set(re.findall(r"\b(medsettle_[a-z_]+)", target["expr"]))
                assert names, f"{path.name}: {panel['title']} asks for no medsettle metric"
                missing = names - exposed
                assert not missing, f"{path.name}: {panel['title']} asks for metrics the code does not expose: {missing}"
                asked |= names
    # the dashboard covers what #20 asks for
    for family in ("medsettle_his_requests_total", "medsettle_his_request_duration_seconds_bucket",
                   "medsettle_grpc_server_calls_total", "medsettle_settlement_fund_amount_fen_total",
                   "medsettle_cache_requests_total", "medsettle_db_pool_in_use", "medsettle_grpc_client_in_flight_peak",
                   "medsettle_import_rows_total", "medsettle_supervision_findings_total"):
        assert family in asked, f"the dashboard does not show {family}"


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


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if r.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file_and_refuses_missing_secrets(tmp_path):
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("no Docker compose plugin installed")
    import secrets

    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{line}{secrets.token_hex(32)}\n" for line in ENV_EXAMPLE.read_text().splitlines()
                                if line and not line.startswith("#")))
    base = [*cmd, "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE)]
    ok = subprocess.run([*base, "--env-file", str(env_file), "config", "--quiet"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    empty = tmp_path / "empty"
    empty.write_text("")
    refused = subprocess.run([*base, "--env-file", str(empty), "config", "--quiet"], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert refused.returncode != 0 and "env.example" in refused.stderr
