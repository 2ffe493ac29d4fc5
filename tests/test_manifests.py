"""The Kubernetes manifests and the Dockerfile in deploy/, parsed (no cluster needed): probes on Streamlit's
health endpoint, resource requests and limits, the cookie secret from a Secret, cookie affinity at the
ingress, and a Dockerfile whose port, health path and user match."""

from __future__ import annotations

import re
import tomllib

import yaml
from conftest import ROOT

K8S = ROOT / "deploy" / "k8s"
HEALTH = "/_stcore/health"


def _docs():
    out = {}
    for p in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(p.read_text()):
            if d:
                out[(d["kind"], d["metadata"]["name"])] = d
    return out


def _container():
    dep = _docs()[("Deployment", "cnn-viz")]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dep, c


def _port_number(c, port):
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in c["ports"] if p["name"] == port)


def _quantity(q: str) -> float:
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "m": 1e-3, "": 1}
    m = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi|m|)", str(q))
    assert m, q
    return float(m.group(1)) * units[m.group(2)]


def test_the_deployment_probes_streamlits_health_endpoint_on_the_container_port():
    _, c = _container()
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == HEALTH, probe
        assert _port_number(c, get["port"]) == 8501, probe
    # liveness gives a busy pod longer than readiness before it is restarted
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready["failureThreshold"]


def test_the_deployment_has_cpu_and_memory_requests_and_limits():
    _, c = _container()
    req, lim = c["resources"]["requests"], c["resources"]["limits"]
    for k in ("cpu", "memory"):
        assert 0 < _quantity(req[k]) <= _quantity(lim[k]), k
    assert _quantity(lim["cpu"]) <= 1   # one Streamlit process cannot use more than ~0.9 core (the GIL)
    assert _quantity(lim["memory"]) >= 2.2 * 2 ** 30   # the MNIST page measured 2.2 GB after 50 sessions


def test_the_cookie_secret_comes_from_a_secret_and_class_mode_is_set():
    dep, c = _container()
    env = {e["name"]: e for e in c["env"]}
    ref = env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]
    secret = _docs()[("Secret", ref["name"])]
    assert ref["key"] in secret["stringData"]
    assert "value" not in env["STREAMLIT_SERVER_COOKIE_SECRET"]
    assert env["CNN_VIZ_CLASS_MODE"]["value"] == "1"
    assert float(env["CNN_VIZ_TRAIN_SECONDS"]["value"]) > 0
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_service_and_ingress_route_to_the_pods_with_cookie_affinity():
    docs = _docs()
    dep, c = _container()
    svc, ing = docs[("Service", "cnn-viz")], docs[("Ingress", "cnn-viz")]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    (port,) = svc["spec"]["ports"]
    assert _port_number(c, port["targetPort"]) == 8501
    a = ing["metadata"]["annotations"]
    assert a["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert a["nginx.ingress.kubernetes.io/session-cookie-name"]
    assert int(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600    # websockets last the lesson
    upload_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    assert a["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{upload_mb}m"
    assert not any("upstream-hash-by" in k for k in a)   # no hashing on the client address
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"]
    assert backend["port"].get("name") == port["name"] or backend["port"].get("number") == port["port"]


def test_the_dockerfile_matches_the_manifests():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    lines = [l.strip() for l in text.replace("\\\n", " ").splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    expose = [int(l.split()[1]) for l in lines if l.startswith("EXPOSE")]
    assert expose == [8501]
    (hc,) = [l for l in lines if l.startswith("HEALTHCHECK")]
    assert f"127.0.0.1:8501{HEALTH}" in hc
    (user,) = [l.split()[1] for l in lines if l.startswith("USER")]
    _, c = _container()
    dep = _docs()[("Deployment", "cnn-viz")]
    assert user != "root" and int(user) == dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert any("download.pytorch.org/whl/cpu" in l for l in lines if l.startswith("RUN"))   # CPU-only wheels
    cmd = [l for l in lines if l.startswith("CMD")][-1]
    assert '"--server.port", "8501"' in cmd and '"--server.address", "0.0.0.0"' in cmd
    assert c["ports"][0]["containerPort"] == 8501
