"""The Kubernetes manifests (infra/k8s), checked offline: the kustomize base and the example overlay
are rendered (by `kubectl kustomize` when installed, and always by the small renderer below, the
two compared), every resource validates against the Kubernetes schemas (the `kubernetes-validate`
package, its bundled schemas: no network), and what the manifests promise holds: probes on the
gRPC health and /healthz, headless Services for client-side balancing, an HPA and a
PodDisruptionBudget per Deployment, ConfigMap and Secret references, resource requests, ports and
variables that agree with the code."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common.config import REPO_ROOT, VARS, Settings

K8S = REPO_ROOT / "infra" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
# Kubernetes versions the manifests must be valid for (schemas bundled with kubernetes-validate).
VERSIONS = ("1.30.0", "1.33.0")
SECRET = "medsettle-secrets"
SECRET_KEYS = {"DATABASE_URL", "REDIS_URL", "MEDSETTLE_ADMIN_TOKEN", "EVOUCHER_SECRET", "SESSION_SECRET"}
SERVICES = {"eligibility": "medsettle.eligibility.v1.EligibilityService",
            "filing": "medsettle.filing.v1.FilingService",
            "settlement": "medsettle.settlement.v1.SettlementService"}
CLUSTER_SCOPED = {"Namespace"}


# ----------------------------------------------------------------------------- a minimal kustomize

def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, the subset the overlays use: maps merge key by key; lists of maps that
    have a `name` merge item by name (new names appended); any other value is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i
                                                                     for i in base + patch):
        by_name = {i["name"]: i for i in base}
        out = [(_merge(by_name[i["name"]], i) if i["name"] in by_name else copy.deepcopy(i)) for i in patch]
        patched = {i["name"] for i in patch}
        return out + [copy.deepcopy(i) for i in base if i["name"] not in patched]
    return copy.deepcopy(patch)


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _containers(res: dict) -> list[dict]:
    spec = res.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("initContainers", []) + spec.get("containers", [])


def render(folder: Path) -> list[dict]:
    """`kustomize build folder` for what infra/k8s uses: resources (files and folders), namespace,
    labels (metadata only), images, strategic-merge patches from files."""
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "namespace", "resources", "labels", "images", "patches"}
    assert set(k) <= known, f"{folder}: the test's renderer does not know {set(k) - known}"
    out: list[dict] = []
    for entry in k.get("resources", []):
        path = folder / entry
        out += render(path) if path.is_dir() else _docs(path)
    for patch_entry in k.get("patches", []):
        assert set(patch_entry) == {"path"}, "only strategic-merge patches from files"
        for patch in _docs(folder / patch_entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            hits = [i for i, r in enumerate(out) if (r["kind"], r["metadata"]["name"]) == key]
            assert len(hits) == 1, f"patch {patch_entry['path']}: {key} matches {len(hits)} resources"
            out[hits[0]] = _merge(out[hits[0]], patch)
    for label in k.get("labels", []):
        assert label.get("includeSelectors") is False
        for r in out:
            r["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in k.get("images", []):
        for r in out:
            for c in _containers(r):
                if c["image"].split(":")[0] == image["name"]:
                    c["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    if "namespace" in k:
        for r in out:
            if r["kind"] not in CLUSTER_SCOPED:
                r["metadata"]["namespace"] = k["namespace"]
    return out


def _normal(x: Any) -> Any:
    """For comparing renderings: lists of named maps in name order, everything else as is."""
    if isinstance(x, dict):
        return {k: _normal(v) for k, v in x.items()}
    if isinstance(x, list):
        items = [_normal(i) for i in x]
        if all(isinstance(i, dict) and "name" in i for i in items):
            return sorted(items, key=lambda i: i["name"])
        return items
    return x


def _by_key(resources: list[dict]) -> dict[tuple[str, str], dict]:
    out = {(r["kind"], r["metadata"]["name"]): r for r in resources}
    assert len(out) == len(resources), "two resources of one kind share a name"
    return out


RENDERED = {"base": render(BASE), "example": render(OVERLAY)}


# ----------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("name", sorted(RENDERED))
@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_validates_against_the_kubernetes_schemas(name, version):
    for resource in RENDERED[name]:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{name}: {resource['kind']}/{resource['metadata']['name']}: {e.message} "
                                 f"at {'.'.join(map(str, e.path))}") from None


def test_an_invalid_manifest_is_caught():
    """The validation is real: a misspelt field and a wrong type are refused."""
    deployment = copy.deepcopy(_by_key(RENDERED["base"])[("Deployment", "gateway")])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/healthz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)
    deployment = copy.deepcopy(_by_key(RENDERED["base"])[("Deployment", "gateway")])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


@pytest.mark.parametrize("name,folder", [("base", BASE), ("example", OVERLAY)])
def test_kustomize_renders_what_the_test_renders(name, folder):
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if not (kubectl or kustomize):
        pytest.skip("neither kubectl nor kustomize installed: the test's renderer alone")
    cmd = [kustomize, "build", str(folder)] if kustomize else [kubectl, "kustomize", str(folder)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    theirs = _by_key([d for d in yaml.safe_load_all(r.stdout) if d])
    ours = _by_key(RENDERED[name])
    assert set(theirs) == set(ours)
    for key in ours:
        assert _normal(theirs[key]) == _normal(ours[key]), key


def test_deployments_probe_the_grpc_health_and_healthz():
    res = _by_key(RENDERED["base"])
    defaults = Settings.from_env({})
    for name, full_name in SERVICES.items():
        port = getattr(defaults, f"{name}_port")
        c = _by_key([{"kind": "c", "metadata": {"name": c["name"]}, **c} for c in _containers(res[("Deployment", name)])])
        main = c[("c", name)]
        assert main["readinessProbe"]["grpc"] == {"port": port, "service": full_name}
        assert main["livenessProbe"]["grpc"] == {"port": port}
        assert main["startupProbe"]["grpc"]["port"] == port
        assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"grpc": port,
                                                                         "metrics": defaults.metrics_port(name)}
        assert main["command"] == ["python", "-m", f"services.{name}.main"]
    gw = res[("Deployment", "gateway")]["spec"]["template"]["spec"]["containers"][0]
    assert gw["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "tcpSocket" in gw["livenessProbe"]  # not /healthz: a service being down is no reason to restart the gateway
    assert {p["name"]: p["containerPort"] for p in gw["ports"]} == {"http": defaults.gateway_port,
                                                                   "metrics": defaults.metrics_port("gateway")}
    assert gw["command"] == ["python", "-m", "gateway.main"]


def test_each_deployment_has_its_services_hpa_pdb_requests_and_references():
    for rendering in RENDERED.values():
        res = _by_key(rendering)
        config = res[("ConfigMap", "medsettle-config")]["data"]
        deployments = [r for r in rendering if r["kind"] == "Deployment"]
        assert {d["metadata"]["name"] for d in deployments} == {*SERVICES, "gateway"}
        for d in deployments:
            name = d["metadata"]["name"]
            pod = d["spec"]["template"]
            selector = d["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod["metadata"]["labels"].items()
            ann = pod["metadata"]["annotations"]
            metrics_port = next(p["containerPort"] for p in pod["spec"]["containers"][0]["ports"] if p["name"] == "metrics")
            assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(metrics_port)
            assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
            assert [c["command"] for c in pod["spec"]["initContainers"]] == [["medsettle", "migrate"]]
            for c in _containers(d):
                assert {"cpu", "memory"} <= set(c["resources"]["requests"]), f"{name}/{c['name']}: no requests"
                assert "memory" in c["resources"]["limits"]
                assert c["envFrom"] == [{"configMapRef": {"name": "medsettle-config"}}, {"secretRef": {"name": SECRET}}]
                assert c["securityContext"]["allowPrivilegeEscalation"] is False
            svc = res[("Service", name)]["spec"]
            assert svc["selector"] == selector
            if name in SERVICES:
                assert svc["clusterIP"] == "None", f"{name}: gRPC clients balance over a headless Service"
                port = svc["ports"][0]["port"]
                assert config[f"{name.upper()}_ADDR"] == f"{name}:{port}"
            hpa = res[("HorizontalPodAutoscaler", name)]["spec"]
            assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
            assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
            pdb = res[("PodDisruptionBudget", name)]["spec"]
            assert pdb["selector"]["matchLabels"] == selector and pdb["minAvailable"] >= 1
            assert pdb["minAvailable"] < hpa["minReplicas"], f"{name}: the PDB would block every voluntary eviction"


def test_every_variable_is_one_the_code_reads_and_no_secret_is_in_a_manifest():
    declared = {v.name for v in VARS}
    for name, rendering in RENDERED.items():
        for r in rendering:
            if r["kind"] == "ConfigMap":
                for var in r["data"]:
                    assert var in declared or var.startswith("OTEL_"), f"{name}: {var} is not read by the code"
                    assert var not in SECRET_KEYS, f"{name}: {var} belongs in the Secret"
            assert r["kind"] != "Secret", f"{name}: a Secret is committed"
            for c in _containers(r):
                for env in c.get("env", []):
                    assert env["name"] in declared, f"{name}: {env['name']} is not read by the code"
                    assert env["name"] not in SECRET_KEYS
    # the Secret's keys are the code's
    assert declared >= SECRET_KEYS
    docs = (REPO_ROOT / "docs" / "OPERATIONS.md").read_text()
    for key in SECRET_KEYS:
        assert key in docs, f"docs/OPERATIONS.md does not say the Secret holds {key}"


def test_the_overlay_sets_namespace_image_and_its_patches():
    res = _by_key(RENDERED["example"])
    assert ("Namespace", "medsettle") in res
    for r in RENDERED["example"]:
        if r["kind"] != "Namespace":
            assert r["metadata"]["namespace"] == "medsettle"
        for c in _containers(r):
            assert c["image"] == "registry.example.org/medsettle:0.1.0"
    settlement = res[("Deployment", "settlement")]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DB_POOL_MAX", "value": "20"} in settlement["env"]
    assert {"name": "SETTLEMENT_PORT", "value": "50053"} in settlement["env"]  # the base's env kept
    assert res[("HorizontalPodAutoscaler", "settlement")]["spec"]["minReplicas"] == 3
    assert res[("ConfigMap", "medsettle-config")]["data"]["ELIGIBILITY_ADDR"] == "eligibility:50051"
    assert res[("ConfigMap", "medsettle-config")]["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
