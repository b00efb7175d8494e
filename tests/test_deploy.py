"""What `deploy/` promises, checked as far as this machine allows: there is no systemd
user manager, container engine or cluster here, so the files are read and held to the
README's claims (and the container's install steps are the README's own). The probes
and scrape annotations are held to what the processes serve: the paths are fetched
from a real listener and from the web app, and the ports agree from the Containerfile
to the Ingress."""

from __future__ import annotations

import configparser
import dataclasses
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_metrics import get
from worker import config as cfg
from worker import operations

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
OPS_PORT = 9421  # serve's and a team worker's /healthz, /readyz and /metrics
WEB_PORT = 8421  # `firstblock web`


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def test_the_service_runs_serve_and_stops_gracefully() -> None:
    service = unit("firstblock-serve.service")["Service"]
    assert service["ExecStart"].endswith("firstblock serve")
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > 60  # serve waits up to 60 s for cycles in flight
    assert service["RestartPreventExitStatus"] == "3"  # a broken config is not retried
    assert "HUP" in service["ExecReload"]


def test_the_timer_alternative_runs_one_cycle() -> None:
    assert unit("firstblock-run.service")["Service"]["ExecStart"].endswith("firstblock run")
    assert unit("firstblock-run.timer")["Timer"]["OnCalendar"] == "*:0/15"


def containerfile() -> tuple[dict[str, str], str]:
    text = (DEPLOY / "container" / "Containerfile").read_text()
    lines = text.splitlines()
    steps = {line.split()[0]: line for line in lines if line and not line.startswith((" ", "#"))}
    return steps, text


def image_env() -> dict[str, str]:
    """The Containerfile's ENV, continued over backslashed lines."""
    text = containerfile()[1].replace("\\\n", " ")
    [line] = [x for x in text.splitlines() if x.startswith("ENV ")]
    return dict(pair.split("=", 1) for pair in line.split()[1:])


def test_the_container_runs_serve_as_a_user_with_the_state_in_a_volume() -> None:
    steps, text = containerfile()
    assert steps["USER"].split()[1] == "firstblock"
    assert "/var/lib/firstblock" in steps["VOLUME"]
    assert '"serve"' in steps["CMD"]
    # web: `firstblock web` runs from the same image, and /metrics needs prometheus_client.
    assert "pip install --no-cache-dir '.[google,outlook,team,web]'" in text


def test_the_container_exposes_the_operations_and_web_ports_and_turns_the_first_on() -> None:
    steps, _ = containerfile()
    assert {int(p) for p in steps["EXPOSE"].split()[1:]} == {OPS_PORT, WEB_PORT}
    listen = image_env()["FIRSTBLOCK_METRICS_LISTEN"]
    assert operations.split(listen) == ("0.0.0.0", OPS_PORT)  # reachable by the kubelet


def test_the_deployment_is_one_non_root_replica_with_config_and_secret() -> None:
    docs = {
        d["kind"]: d
        for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "firstblock.yaml").read_text())
    }
    assert set(docs) == {"ConfigMap", "PersistentVolumeClaim", "Deployment"}
    spec = docs["Deployment"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [main] = pod["containers"]
    assert main["args"][0] == "serve"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "firstblock-config"
    assert volumes["credentials"]["secret"]["secretName"] == "firstblock-credentials"
    assert "config.toml" in docs["ConfigMap"]["data"]
    assert pod["terminationGracePeriodSeconds"] > 60


def test_team_scale_runs_scalable_workers_and_a_single_beat() -> None:
    docs = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "firstblock-team.yaml").read_text())
    }
    worker, beat = docs["firstblock-worker"], docs["firstblock-beat"]
    assert worker["spec"]["replicas"] > 1
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    for deployment, role in ((worker, "worker"), (beat, "beat")):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        assert container["command"] == ["celery", "-A", "worker.team", role]
        assert container["envFrom"] == [{"secretRef": {"name": "firstblock-team"}}]
    pod = worker["spec"]["template"]["spec"]
    assert "--pool" in pod["containers"][0]["args"]
    assert pod["terminationGracePeriodSeconds"] > 60  # acks_late: a cut cycle is re-run
    assert "config.toml" in docs["firstblock-team-config"]["data"]


# -- probes, scrape annotations, ports, the web app and its Ingress


def kube(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()))


def deployments() -> dict[str, dict[str, Any]]:
    """Every Deployment that runs a long-lived firstblock process, by name."""
    found = {}
    for name in ("firstblock.yaml", "firstblock-team.yaml"):
        for d in kube(name):
            if d["kind"] == "Deployment" and d["metadata"]["name"] != "firstblock-beat":
                found[d["metadata"]["name"]] = d
    return found


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


def listens_on(container: dict[str, Any]) -> str:
    """Where the container's process listens for the probes."""
    args = container.get("args", [])
    if args and args[0] == "web":
        return str(args[args.index("--listen") + 1])
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    return str(env.get("FIRSTBLOCK_METRICS_LISTEN") or image_env()["FIRSTBLOCK_METRICS_LISTEN"])


def test_each_process_has_probes_on_a_port_it_listens_on_and_says_where_to_scrape() -> None:
    found = deployments()
    assert set(found) == {"firstblock", "firstblock-worker", "firstblock-web"}
    exposed = {int(p) for p in containerfile()[0]["EXPOSE"].split()[1:]}
    for name, deployment in found.items():
        container = only_container(deployment)
        host, port = operations.split(listens_on(container))
        assert host == "0.0.0.0", name
        assert ports(container) == {container["livenessProbe"]["httpGet"]["port"]: port}, name
        assert port in exposed, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert (
            container["readinessProbe"]["httpGet"]["port"]
            == container["livenessProbe"]["httpGet"]["port"]
        )
        notes = deployment["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true", name
        assert int(notes["prometheus.io/port"]) == port, name
        assert notes["prometheus.io/path"] == "/metrics", name
    assert operations.split(listens_on(only_container(found["firstblock"])))[1] == OPS_PORT
    assert operations.split(listens_on(only_container(found["firstblock-web"])))[1] == WEB_PORT


def test_the_probed_paths_are_served_by_serve_and_team_workers(tmp_path: Path) -> None:
    config = dataclasses.replace(cfg.default_config(), state_dir=tmp_path / "state")
    listener = operations.start("127.0.0.1:0", lambda: config)
    try:
        for name in ("firstblock", "firstblock-worker"):
            container = only_container(deployments()[name])
            for probe in ("livenessProbe", "readinessProbe"):
                assert get(listener.url + container[probe]["httpGet"]["path"][1:])[0] == 200
        notes = deployments()["firstblock"]["spec"]["template"]["metadata"]["annotations"]
        assert "firstblock_cycles_total" in get(listener.url + notes["prometheus.io/path"][1:])[2]
    finally:
        listener.close()


def test_the_probed_paths_are_served_by_the_web_app(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from worker.clock import FixedClock
    from worker.web.app import create

    config = dataclasses.replace(cfg.default_config(), state_dir=tmp_path / "state")
    client = TestClient(create(lambda: config, FixedClock(datetime.now(UTC))))
    deployment = deployments()["firstblock-web"]
    container = only_container(deployment)
    for probe in ("livenessProbe", "readinessProbe"):
        assert client.get(container[probe]["httpGet"]["path"]).status_code == 200
    path = deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]
    assert "firstblock_accounts" in client.get(path).text


def test_the_web_app_is_a_service_behind_an_ingress_with_tls() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in kube("firstblock-team.yaml")}
    web = docs[("Deployment", "firstblock-web")]
    service = docs[("Service", "firstblock-web")]
    ingress = docs[("Ingress", "firstblock-web")]
    pod = web["spec"]["template"]
    assert web["spec"]["replicas"] >= 1
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    container = only_container(web)
    assert container["args"][0] == "web"
    assert container["envFrom"] == [{"secretRef": {"name": "firstblock-team"}}]  # state, key
    # The Service picks the web pods and sends to the port the app listens on.
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in ports(container)
    # The Ingress: TLS for the host it routes, to that Service's port.
    [tls] = ingress["spec"]["tls"]
    [rule] = ingress["spec"]["rules"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"]
    [path] = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix"
    backend = path["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"] in ({"name": port["name"]}, {"number": port["port"]})
    # The config the pods share validates, and the app knows the address people use.
    config = cfg.parse(
        tomllib.loads(docs[("ConfigMap", "firstblock-team-config")]["data"]["config.toml"])
    )
    assert config.web.base_url == f"https://{rule['host']}/"
