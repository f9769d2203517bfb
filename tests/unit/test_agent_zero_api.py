"""Agent Zero control: status, start and stop carried out by a real RQ worker, execute, capabilities.

The process-mode test runs a stand-in `run_ui.py` that serves Agent Zero's recorded `GET /health`
answer on the requested port (the real Agent Zero cannot run here)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib import agent_tasks
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.local_services import free_port
from tests.support.rq_run import enqueue_committed, work
from tests.support.streams import StreamReader
from tests.unit.conftest import Caller, body, issue

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
STAND_IN = """
import argparse, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int)
parser.add_argument("--host")
args = parser.parse_args()
recorded = json.load(open(sys.argv[0].replace("run_ui.py", "health.json")))["exchanges"][0]["response"]

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        payload = json.dumps(recorded["json"]).encode()
        self.send_response(recorded["status"] if self.path == "/health" else 404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *a):
        pass

HTTPServer(("127.0.0.1", args.port), Health).serve_forever()
"""


@pytest.fixture
def run_jobs(aws: None, redis_queue: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    from chalicelib import aws as aws_clients
    from chalicelib.config import get_settings, reset_settings

    monkeypatch.setenv("BORGOS_AGENT_ZERO_START_WAIT_S", "3")
    reset_settings()
    stream = StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )

    def run() -> None:
        enqueue_committed(stream)
        work(redis_queue, agent_tasks.QUEUES)

    return run


def stored(tenant: str, prefix: str) -> list[dict[str, Any]]:
    return get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix=prefix, limit=500).items


def test_status_before_anything_is_configured(alice: Caller) -> None:
    assert body(alice.get("/api/v1/agent-zero/status")) == {
        "running": False,
        "state": "not_configured",
        "port": 8085,
        "process_id": None,
        "container_id": None,
        "directory": None,
        "ui_url": None,
        "mode": None,
        "host": None,
        "version": None,
        "error": None,
        "updated_at": None,
    }


def test_capabilities_as_the_reference(alice: Caller) -> None:
    assert body(alice.get("/api/v1/agent-zero/capabilities")) == [
        "code_execution",
        "web_browsing",
        "file_operations",
        "shell_commands",
        "memory_management",
        "task_scheduling",
        "multi_agent_coordination",
        "knowledge_retrieval",
        "image_analysis",
        "api_integration",
    ]


def test_execute_without_a_running_instance_is_503_and_queues_nothing(alice: Caller) -> None:
    response = alice.post(
        "/api/v1/agent-zero/execute",
        {"type": "code_execution", "description": "Analyze code quality", "prompt": "Review the Python code"},
    )
    assert response.status_code == 503 and body(response)["code"] == "AGENT_ZERO_UNAVAILABLE"
    assert stored("alice", "TASK#") == [] and stored("alice", "JOB#") == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"mode": "process"}, "body"),
        ({"mode": "external", "url": "ftp://x"}, "url"),
        ({"port": 80}, "port"),
        ({"host": "Bad Host"}, "host"),
        ({"mode": "process", "directory": "relative"}, "directory"),
    ],
)
def test_bad_start_requests_change_nothing(alice: Caller, payload: dict[str, Any], field: str) -> None:
    response = alice.post("/api/v1/agent-zero/start", payload)
    assert response.status_code == 400
    assert stored("alice", "AGENTZERO") == [] and stored("alice", "JOB#") == []


def test_control_needs_the_deploy_scope(client: Any) -> None:
    reader = Caller(client, issue("alice", ["read"]))
    assert reader.post("/api/v1/agent-zero/start", {}).status_code == 403
    assert reader.post("/api/v1/agent-zero/stop").status_code == 403
    assert reader.get("/api/v1/agent-zero/status").status_code == 200


def test_stop_when_nothing_runs_is_a_conflict(alice: Caller) -> None:
    response = alice.post("/api/v1/agent-zero/stop")
    assert response.status_code == 409 and body(response)["code"] == "AGENT_ZERO_NOT_RUNNING"


def test_process_instance_starts_reports_running_and_stops(
    alice: Caller, run_jobs: Callable[[], None], tmp_path: Path
) -> None:
    (tmp_path / "run_ui.py").write_text(STAND_IN)
    (tmp_path / "health.json").write_text((RECORDED / "agent_zero_health.json").read_text())
    port = free_port()
    started = alice.post(
        "/api/v1/agent-zero/start", {"mode": "process", "directory": str(tmp_path), "port": port}
    )
    assert started.status_code == 202
    reply = body(started)
    assert reply["success"] is True
    assert reply["status"]["running"] is False and reply["status"]["state"] == "starting"  # not yet: honest
    assert alice.post("/api/v1/agent-zero/start", {}).status_code == 409  # already starting
    run_jobs()
    status = body(alice.get("/api/v1/agent-zero/status"))
    try:
        assert status["running"] is True and status["state"] == "running", status
        assert status["port"] == port and status["ui_url"] == f"http://localhost:{port}"
        assert status["directory"] == str(tmp_path) and status["version"] == "M v0.8.5-12"
        pid = status["process_id"]
        os.kill(pid, 0)  # alive
    finally:
        stopped = alice.post("/api/v1/agent-zero/stop")
        run_jobs()
    assert stopped.status_code == 202 and body(stopped)["status"]["state"] == "stopping"
    final = body(alice.get("/api/v1/agent-zero/status"))
    assert final["state"] == "stopped" and final["running"] is False and final["process_id"] is None
    names = [e["name"] for e in stored("alice", "EVENT#") if e["type"] == "agent_zero_status"]
    assert names == ["agent_zero.starting", "agent_zero.running", "agent_zero.stopping", "agent_zero.stopped"]
    actions = [e["action"] for e in body(alice.get("/api/v1/audit"))]
    assert actions == ["agent_zero.stop", "agent_zero.start"]


def test_an_instance_that_never_answers_is_recorded_as_failed(
    alice: Caller, run_jobs: Callable[[], None], tmp_path: Path
) -> None:
    port = free_port()
    alice.post("/api/v1/agent-zero/start", {"mode": "external", "url": f"http://127.0.0.1:{port}"})
    run_jobs()
    status = body(alice.get("/api/v1/agent-zero/status"))
    assert status["state"] == "failed" and status["running"] is False
    assert status["error"].startswith(f"Agent Zero at http://127.0.0.1:{port} did not answer GET /health")
    missing = tmp_path / "empty"
    missing.mkdir()
    alice.post("/api/v1/agent-zero/start", {"mode": "process", "directory": str(missing)})
    run_jobs()
    status = body(alice.get("/api/v1/agent-zero/status"))
    assert status["state"] == "failed" and "holds no run_ui.py" in status["error"]
