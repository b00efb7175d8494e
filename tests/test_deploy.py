"""What `deploy/` promises, checked as far as this machine allows: there is no systemd
user manager, container engine or cluster here, so the files are read and held to the
README's claims (and the container's install steps are the README's own)."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


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


def test_the_container_runs_serve_as_a_user_with_the_state_in_a_volume() -> None:
    lines = (DEPLOY / "container" / "Containerfile").read_text().splitlines()
    steps = {line.split()[0]: line for line in lines if line and not line.startswith((" ", "#"))}
    assert steps["USER"].split()[1] == "firstblock"
    assert "/var/lib/firstblock" in steps["VOLUME"]
    assert '"serve"' in steps["CMD"]
    assert "pip install --no-cache-dir '.[google,outlook,team]'" in "\n".join(lines)


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
