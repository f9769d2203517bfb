"""Agent task runs: the stream enqueues the job, a real RQ worker runs it against real things (a
local HTTP server, a file being appended to, Agent Zero's recorded exchanges)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from chalicelib import agent_tasks
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.support.rq_run import enqueue_committed, work
from tests.support.streams import StreamReader
from tests.unit.conftest import Caller, body

QUEUES = agent_tasks.QUEUES


@pytest.fixture
def stream(aws: None) -> StreamReader:
    from chalicelib import aws as aws_clients
    from chalicelib.config import get_settings

    return StreamReader(
        aws_clients.client("dynamodb"), aws_clients.client("dynamodbstreams"), get_settings().table_name
    )


@pytest.fixture
def run_jobs(stream: StreamReader, redis_queue: str) -> Callable[[], None]:
    def run() -> None:
        enqueue_committed(stream)
        work(redis_queue, QUEUES)

    return run


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.5)
        status = 200 if self.path in ("/health", "/slow") else 503
        payload = b"all systems go" if status == 200 else b"down"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def events(tenant: str) -> list[dict[str, Any]]:
    return get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix="EVENT#", limit=500).items


def test_http_check_passes_against_a_live_server(
    alice: Caller, run_jobs: Callable[[], None], site: str
) -> None:
    check = {"url": f"{site}/health", "contains": "systems go"}
    alice.post("/api/v1/agent/task", {"agent_type": "http-check", "description": "up?", "input_data": check})
    run_jobs()
    task = body(alice.get("/api/v1/agent/tasks/1"))
    assert task["status"] == "completed", task
    assert task["output"]["status_code"] == 200 and task["output"]["ok"] is True
    assert task["output"]["body_matched"] is True
    assert task["started_at"] and task["finished_at"] and task["duration_seconds"] >= 0
    statuses = [e["name"] for e in events("alice") if e["type"] == "task_status"]
    assert statuses == ["task.pending", "task.running", "task.completed"]


@pytest.mark.parametrize(
    ("path", "extra", "error"),
    [
        ("/down", {}, "Check failed: status 503, expected [200]"),
        ("/slow", {"request_timeout_seconds": 0.3}, "No answer within 0.3 s"),
    ],
)
def test_http_check_failures_fail_the_task(
    alice: Caller, run_jobs: Callable[[], None], site: str, path: str, extra: dict[str, Any], error: str
) -> None:
    check = {"url": f"{site}{path}", **extra}
    alice.post("/api/v1/agent/task", {"agent_type": "http-check", "description": "up?", "input_data": check})
    run_jobs()
    task = body(alice.get("/api/v1/agent/tasks/1"))
    assert task["status"] == "failed" and task["error"] == error
    assert task["output"]["ok"] is False


def test_a_task_cancelled_before_it_ran_is_skipped(
    alice: Caller, run_jobs: Callable[[], None], site: str
) -> None:
    check = {"url": f"{site}/health"}
    alice.post("/api/v1/agent/task", {"agent_type": "http-check", "description": "up?", "input_data": check})
    alice.post("/api/v1/agent/tasks/1/cancel")
    run_jobs()
    task = body(alice.get("/api/v1/agent/tasks/1"))
    assert task["status"] == "cancelled" and task["started_at"] is None and task["output"] is None


def test_log_monitor_follows_a_file_records_errors_and_alerts_at_the_threshold(
    alice: Caller, run_jobs: Callable[[], None], tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    log.write_text("ERROR from before the monitor started\n")
    alice.post("/api/v1/projects", {"name": "MyWebApp", "path": "/projects/mywebapp"})
    task = {
        "project_id": 1,
        "agent_type": "log-monitor",
        "task_type": "automation",
        "description": "Monitor system logs and alert on errors",
        "priority": 1,
        "input_data": {"log_paths": [str(log)], "alert_threshold": 3, "patterns": ["ERROR", "panic"]},
    }
    alice.post("/api/v1/agent/task", task)
    problems: list[BaseException] = []

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            time.sleep(0.05)

    def alerts() -> list[dict[str, Any]]:
        return [e for e in events("alice") if e["type"] == "agent_alert"]

    def writer() -> None:
        try:
            # The monitor records its first output once it follows the file (from its end).
            wait_for(lambda: agent_tasks.get_item("alice", 1)["output"] is not None)
            with log.open("a") as handle:
                handle.write("INFO all good\nERROR db down\npanic: nil map\n")
                handle.flush()
                wait_for(lambda: (agent_tasks.get_item("alice", 1)["output"] or {}).get("matched_lines") == 2)
                assert alerts() == []
                handle.write("INFO fine\nERROR again\nhalf a line ERR")
                handle.flush()
            wait_for(lambda: len(alerts()) == 1)
            agent_tasks.cancel_task("alice", 1, "test")
        except BaseException as exc:  # reported by the test below
            problems.append(exc)
            agent_tasks.cancel_task("alice", 1, "test")

    thread = threading.Thread(target=writer)
    thread.start()
    run_jobs()  # returns once the monitor has seen its cancellation
    thread.join()
    assert problems == []
    done = body(alice.get("/api/v1/agent/tasks/1"))
    assert done["status"] == "cancelled"
    assert done["output"]["matched_lines"] == 3 and done["output"]["alerts"] == 1
    errors = body(alice.get("/api/v1/errors?project_id=1"))
    assert [e["message"] for e in errors] == ["ERROR again", "panic: nil map", "ERROR db down"]
    assert errors[0]["error_type"] == "log_match" and errors[0]["context"]["path"] == str(log)
    (alert,) = alerts()
    assert alert["name"] == "agent.alert" and alert["channel"] == "tasks"
    assert alert["data"]["task_id"] == 1 and alert["data"]["matched_lines"] == 3
    assert alert["data"]["sample"][-1] == "ERROR again"


# Agent Zero ---------------------------------------------------------------------------------------

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"


def _running_instance(tenant: str, url: str) -> None:
    from chalicelib import agent_zero

    agent_zero.record_state(
        tenant,
        {"state": "running", "mode": "external", "url": url, "ui_url": url, "port": 8085, "host": None},
    )


def test_agent_zero_execute_runs_through_the_recorded_api(
    alice: Caller, run_jobs: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_agent_zero_client import Replay, recording
    from workers import agent_jobs
    from workers.agent_zero import AgentZeroClient

    rec = recording("agent_zero_message_new_context.json")
    replay = Replay(rec["exchanges"])
    monkeypatch.setattr(
        agent_jobs,
        "agent_zero_client",
        lambda url: AgentZeroClient(url, rec["api_key"], httpx.Client(transport=httpx.MockTransport(replay))),
    )
    _running_instance("alice", rec["base_url"])
    response = alice.post("/api/v1/agent-zero/execute", rec["task"])
    assert response.status_code == 201
    assert body(response) == {"message": "Task submitted", "task_id": 1}
    run_jobs()
    task = body(alice.get("/api/v1/agent/tasks/1"))
    assert replay.remaining == 0
    assert task["status"] == "completed" and task["agent_type"] == "agent-zero"
    assert task["task_type"] == "code_execution"
    assert task["output"]["context_id"] == "Xk3P9qLm"
    assert task["output"]["response"].startswith("I wrote /a0/usr/workdir/log_summary.py")
    (entry,) = body(alice.get("/api/v1/audit?action=agent_zero.execute"))
    assert entry["result"]["task_id"] == 1


def test_agent_zero_unreachable_fails_the_task_with_the_reason(
    alice: Caller, run_jobs: Callable[[], None]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    _running_instance("alice", closed)
    alice.post(
        "/api/v1/agent-zero/execute", {"type": "code_execution", "description": "Analyze code quality"}
    )
    run_jobs()
    task = body(alice.get("/api/v1/agent/tasks/1"))
    assert task["status"] == "failed"
    assert task["error"] == f"Agent Zero at {closed} is not reachable: connection refused or host unknown"


def test_a_running_task_whose_job_is_gone_is_settled_as_failed(
    alice: Caller, run_jobs: Callable[[], None], site: str
) -> None:
    from workers.agent_jobs import reap_orphans

    check = {"agent_type": "http-check", "description": "up?", "input_data": {"url": f"{site}/health"}}
    alice.post("/api/v1/agent/task", check)  # its job never reaches Redis: the worker "died" with it
    alice.post("/api/v1/agent/task", check)
    run_jobs()  # task 1 and 2 complete normally
    alice.post("/api/v1/agent/task", check)
    agent_tasks.start_task("alice", 3)  # as a worker would, before being killed
    assert reap_orphans("local", "alice") == [3]
    task = body(alice.get("/api/v1/agent/tasks/3"))
    assert (
        task["status"] == "failed" and task["error"] == "The worker running this task went away (job missing)"
    )
    assert [t["status"] for t in body(alice.get("/api/v1/agent/tasks"))][1:] == ["completed", "completed"]
    assert reap_orphans("local", "alice") == []


def test_a_running_task_whose_job_is_alive_is_left_alone(
    alice: Caller, stream: StreamReader, redis_queue: str, site: str
) -> None:
    from workers.agent_jobs import reap_orphans

    check = {"agent_type": "http-check", "description": "up?", "input_data": {"url": f"{site}/health"}}
    alice.post("/api/v1/agent/task", check)
    enqueue_committed(stream)  # queued on RQ, not yet picked up
    agent_tasks.start_task("alice", 1)
    assert reap_orphans("local", "alice") == []
    assert body(alice.get("/api/v1/agent/tasks/1"))["status"] == "running"
