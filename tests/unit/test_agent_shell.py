"""`shell` tasks in a real Docker container: no network, only the project (read-only), limits.

The image is built here FROM scratch with Debian's static busybox (no registry is reachable), with
its applets installed so `/bin/sh` exists. The shared tests/support/busybox_image.py builds an
httpd image without them (for deployments), hence this module's own small builder."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.rq_run import enqueue_committed, work
from tests.support.streams import StreamReader
from tests.unit.conftest import Caller, body

pytestmark = pytest.mark.docker
IMAGE = "borgos-test-busybox:agents"


@pytest.fixture(scope="module")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # no engine: the docker-marked tests cannot run here
        pytest.skip(f"no Docker engine: {exc}")
    context = tmp_path_factory.mktemp("busybox")
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    client.images.build(path=str(context), tag=IMAGE, rm=True)
    yield IMAGE


@pytest.fixture
def run_jobs(
    aws: None, redis_queue: str, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], None]:
    from chalicelib import agent_tasks
    from chalicelib import aws as aws_clients
    from chalicelib.config import get_settings, reset_settings

    monkeypatch.setenv("BORGOS_SHELL_IMAGE", busybox_image)
    reset_settings()
    stream = StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )

    def run() -> None:
        enqueue_committed(stream)
        work(redis_queue, agent_tasks.QUEUES)

    return run


def shell_task(command: str, **extra: object) -> dict[str, object]:
    return {"agent_type": "shell", "description": command, "input_data": {"command": command}, **extra}


def test_shell_runs_in_a_sealed_container(
    alice: Caller, run_jobs: Callable[[], None], tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("hello from the project\n")
    alice.post("/api/v1/projects", {"name": "P", "path": str(project)})
    tasks = [
        shell_task("pwd && cat README.md", project_id=1),
        shell_task("touch /project/x", project_id=1),  # read-only project
        shell_task("ls /"),  # only the image: none of the host's files
        shell_task("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"),  # interfaces
        shell_task("wget -q -T 2 -O- http://1.1.1.1/ || echo unreachable"),
        shell_task("sleep 30", timeout_seconds=1),
        shell_task("id -u"),
        {"agent_type": "shell", "description": "argv", "input_data": {"command": ["echo", "a b", "$HOME"]}},
    ]
    for task in tasks:
        assert alice.post("/api/v1/agent/task", task).status_code == 201
    run_jobs()
    results = [body(alice.get(f"/api/v1/agent/tasks/{n}")) for n in range(1, len(tasks) + 1)]
    reading, writing, listing, interfaces, network, slow, user, argv = results

    assert reading["status"] == "completed"
    assert reading["output"]["stdout"] == "/project\nhello from the project\n"
    assert writing["status"] == "failed" and "Read-only file system" in writing["output"]["stderr"]
    assert not (project / "x").exists()
    assert set(listing["output"]["stdout"].split()) <= {"bin", "dev", "etc", "proc", "sys", "tmp"}
    assert interfaces["output"]["stdout"].split() == ["lo"]
    assert network["output"]["stdout"].strip().endswith("unreachable")
    assert slow["status"] == "failed" and slow["error"] == "The command did not finish within 1 s"
    assert user["output"]["stdout"].strip() == "65534"
    assert argv["output"]["stdout"] == "a b $HOME\n"  # argv form: no shell expansion


def test_no_container_is_left_behind(alice: Caller, run_jobs: Callable[[], None]) -> None:
    import uuid

    import docker

    from tests.unit.conftest import issue

    # A tenant of its own: tests on other xdist workers run alice's shell tasks on the same engine.
    tenant = f"shell-{uuid.uuid4().hex[:8]}"
    caller = Caller(alice.client, issue(tenant, ["read", "write", "deploy"]))
    assert caller.post("/api/v1/agent/task", shell_task("exit 3")).status_code == 201
    run_jobs()
    task = body(caller.get("/api/v1/agent/tasks/1"))
    assert task["status"] == "failed" and task["error"] == "The command exited with code 3"
    leftovers = docker.from_env().containers.list(all=True, filters={"label": f"borgos.tenant={tenant}"})
    assert leftovers == []


def test_agent_zero_container_mode_starts_probes_and_stops(
    client: Any, run_jobs: Callable[[], None], tmp_path: Path
) -> None:
    """Container mode for real: a stand-in image answers Agent Zero's recorded `GET /health` on
    port 80 (what the agent0ai/agent-zero image serves), published on a free host port."""
    import json
    import uuid

    import docker

    from tests.support.local_services import free_port
    from tests.unit.conftest import issue

    recorded = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "agent_zero_health.json"
    context = tmp_path / "a0"
    (context / "www").mkdir(parents=True)
    (context / "www" / "health").write_text(
        json.dumps(json.loads(recorded.read_text())["exchanges"][0]["response"]["json"])
    )
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n"
        'ENTRYPOINT ["/bin/busybox"]\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
    )
    image = "borgos-test/agent-zero-stand-in:agents"
    docker.from_env().images.build(path=str(context), tag=image, rm=True)
    tenant = f"t{uuid.uuid4().hex[:10]}"
    caller = Caller(client, issue(tenant, ["read", "deploy"]))
    port = free_port()
    assert caller.post("/api/v1/agent-zero/start", {"image": image, "port": port}).status_code == 202
    run_jobs()
    status = body(caller.get("/api/v1/agent-zero/status"))
    container_id = status["container_id"]
    try:
        assert status["state"] == "running" and status["running"] is True, status
        assert status["version"] == "M v0.8.5-12" and status["ui_url"] == f"http://localhost:{port}"
        container = docker.from_env().containers.get(container_id)
        assert container.name == f"borgos-agent-zero-{tenant}"
    finally:
        caller.post("/api/v1/agent-zero/stop")
        run_jobs()
    assert body(caller.get("/api/v1/agent-zero/status"))["state"] == "stopped"
    assert not docker.from_env().containers.list(all=True, filters={"id": container_id})
