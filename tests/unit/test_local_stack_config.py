"""The local stack's configuration and the one environment its app processes share; stopping a
service's whole process group."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from infra.local.config import StackConfig, app_environment, from_env, parse_args


def test_cli_overrides_env_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"BORGOS_LOCAL_API_PORT": "9001", "BORGOS_LOCAL_SNAPSHOT_INTERVAL": "0.5"}
    assert from_env(env).api_port == 9001
    assert from_env(env).snapshot_interval == 0.5
    assert from_env({}) == StackConfig()
    monkeypatch.setenv("BORGOS_LOCAL_MOTO_PORT", "9003")
    monkeypatch.setenv("BORGOS_LOCAL_WS_PORT", "9002")
    config = parse_args(["--moto-port", "9004", "--state-dir", str(tmp_path)], "t")
    assert config.moto_port == 9004
    assert config.ws_port == 9002
    assert config.state_dir == tmp_path
    assert config.local_json == tmp_path / "local.json"


def test_app_environment_points_every_client_at_the_stack() -> None:
    config = StackConfig(moto_port=9003, redis_port=9379, management_port=9004)
    env = app_environment(config, base={"AWS_PROFILE": "prod", "PATH": "/bin"})
    assert env["BORGOS_DYNAMODB_ENDPOINT"] == env["BORGOS_S3_ENDPOINT"] == "http://127.0.0.1:9003"
    assert env["BORGOS_REDIS_URL"] == "redis://127.0.0.1:9379/0"
    assert env["BORGOS_WEBSOCKET_ENDPOINT"] == "http://127.0.0.1:9004/api"
    assert env["BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS"] == "1"
    assert env["AWS_ACCESS_KEY_ID"] == "local"
    assert "AWS_PROFILE" not in env  # never real credentials
    assert env["BORGOS_LOCAL_MOTO_PORT"] == "9003"  # children read the same configuration
    assert env["PATH"] == "/bin"


def test_the_worker_name_names_the_worker_host_and_the_default_host() -> None:
    from infra.local.stack import local_worker

    config = StackConfig(worker_name="local-2")
    assert local_worker(config)[-4:] == ["--name", "local-2", "--tenant", "local"]
    assert app_environment(config, base={})["BORGOS_DEFAULT_HOST"] == "local-2"  # scans run there


def test_every_process_reads_the_same_project_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API (Zenith discovery) and the worker (scans) share one machine, so one set of roots."""
    from infra.local.stack import build_services

    monkeypatch.delenv("BORGOS_PROJECT_ROOTS", raising=False)
    config = StackConfig(state_dir=tmp_path)
    assert app_environment(config, base={})["BORGOS_PROJECT_ROOTS"] == str(tmp_path / "projects")
    chosen = app_environment(config, base={"BORGOS_PROJECT_ROOTS": "/srv/code"})
    assert chosen["BORGOS_PROJECT_ROOTS"] == "/srv/code"
    roots = {s.name: s.env["BORGOS_PROJECT_ROOTS"] for s in build_services(config, start_redis=False)}
    assert set(roots) >= {"api", "worker"} and set(roots.values()) == {str(tmp_path / "projects")}


def test_stopping_a_service_stops_its_whole_process_group(tmp_path: Path) -> None:
    from infra.local.stack import Service, Supervisor, _group_alive

    supervisor = Supervisor(StackConfig(state_dir=tmp_path))
    # A shell that leaves a grandchild behind, as an RQ worker's work horse would.
    service = Service("sh", ["sh", "-c", "sleep 300 & sleep 300"], lambda _s: True, env=dict(os.environ))
    supervisor.start(service)
    assert service.process is not None
    pgid = service.process.pid
    deadline = time.monotonic() + 5
    while len(subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    supervisor._stop_group(service, timeout=5)
    assert not _group_alive(pgid)
    assert subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 1


def test_a_service_that_dies_is_restarted(tmp_path: Path) -> None:
    import threading

    from infra.local.stack import Service, Supervisor

    supervisor = Supervisor(StackConfig(state_dir=tmp_path))
    marker = tmp_path / "starts"
    service = Service(
        "flaky", ["sh", "-c", f"echo start >> {marker}; exit 3"], lambda _s: True, env=dict(os.environ)
    )
    supervisor.services = [service]
    supervisor.start(service)
    watcher = threading.Thread(target=supervisor.supervise)
    watcher.start()
    deadline = time.monotonic() + 10
    try:
        while not marker.exists() or len(marker.read_text().split()) < 2:
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.05)
    finally:
        supervisor.stopping.set()
        watcher.join()
        supervisor.stop_all()
    assert service.failures >= 1


def test_a_service_that_cannot_start_fails_the_start_with_its_log(tmp_path: Path) -> None:
    from infra.local.stack import Service, StackError, Supervisor

    supervisor = Supervisor(StackConfig(state_dir=tmp_path, ready_timeout=10))
    service = Service(
        "broken", ["sh", "-c", "echo cannot bind >&2; exit 1"], lambda _s: False, env=dict(os.environ)
    )
    supervisor.services = [service]
    supervisor.start(service)
    with pytest.raises(StackError, match=r"broken exited with 1(.|\n)*cannot bind"):
        supervisor.wait_ready([service])
    supervisor.stop_all()
