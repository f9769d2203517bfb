"""Agent task endpoints: the reference's create and list, detail, cancel, the audit trail, and
validation that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.unit.conftest import Caller, body, issue

PROJECT = {"name": "MyWebApp", "path": "/projects/mywebapp"}
MONITOR = {
    "project_id": 1,
    "agent_type": "log-monitor",
    "task_type": "automation",
    "description": "Monitor system logs and alert on errors",
    "priority": 1,
    "input_data": {"log_paths": ["/var/log/app.log"], "alert_threshold": 5},
}
CHECK = {
    "agent_type": "http-check",
    "description": "Is the site up?",
    "input_data": {"url": "https://example.com/health"},
}


@pytest.fixture
def project(alice: Caller) -> None:
    assert alice.post("/api/v1/projects", PROJECT).status_code == 201


def stored(tenant: str, prefix: str) -> list[dict[str, Any]]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix=prefix, limit=500)
    return page.items


def test_create_replies_as_the_reference_and_requests_a_job(alice: Caller, project: None) -> None:
    response = alice.post("/api/v1/agent/task", MONITOR)
    assert response.status_code == 201
    assert body(response) == {"message": "Task created and queued", "task_id": 1}
    assert response.headers["Location"] == "/api/v1/agent/tasks/1"
    (job,) = stored("alice", "JOB#")
    assert job["function"] == "workers.agent_jobs.run_task"
    assert job["kwargs"] == {"tenant": "alice", "task_id": 1}
    assert job["queue"] == "agents-high"
    assert job["timeout_seconds"] == -1  # a log monitor runs until cancelled
    events = stored("alice", "EVENT#")
    assert [e["type"] for e in events] == ["project_created", "task_status"]
    assert events[-1]["channel"] == "tasks" and events[-1]["name"] == "task.pending"


def test_list_matches_the_reference_shape_and_filters(alice: Caller, project: None) -> None:
    alice.post("/api/v1/agent/task", MONITOR)
    alice.post("/api/v1/agent/task", CHECK)
    alice.post("/api/v1/agent/task", {**CHECK, "priority": 9})
    listed = body(alice.get("/api/v1/agent/tasks"))
    assert [t["id"] for t in listed] == [3, 2, 1]
    assert set(listed[2]) == {
        "id",
        "project_id",
        "agent_type",
        "task_type",
        "description",
        "status",
        "priority",
        "created_at",
    }
    assert listed[2]["status"] == "pending" and listed[2]["priority"] == 1
    by_type = alice.get("/api/v1/agent/tasks?agent_type=http-check")
    assert [t["id"] for t in body(by_type)] == [3, 2] and by_type.headers["X-Total-Count"] == "2"
    assert [
        t["id"] for t in body(alice.get("/api/v1/agent/tasks?status=pending&agent_type=log-monitor"))
    ] == [1]
    assert body(alice.get("/api/v1/agent/tasks?status=running")) == []
    page = body(alice.get("/api/v1/agent/tasks?limit=2"))
    assert [t["id"] for t in page["data"]] == [3, 2] and page["pagination"]["total"] == 3
    assert page["pagination"]["has_more"] is True


def test_priority_picks_the_queue(alice: Caller) -> None:
    alice.post("/api/v1/agent/task", {**CHECK, "priority": 5})
    alice.post("/api/v1/agent/task", {**CHECK, "priority": 10})
    assert sorted(job["queue"] for job in stored("alice", "JOB#")) == ["agents", "agents-low"]


def test_detail_has_input_output_timings_and_error(alice: Caller) -> None:
    alice.post("/api/v1/agent/task", CHECK)
    detail = body(alice.get("/api/v1/agent/tasks/1"))
    assert detail["input_data"]["url"] == "https://example.com/health"
    assert detail["input_data"]["expected_status"] == [200]  # defaults filled in
    assert detail["output"] is None and detail["error"] is None
    assert detail["timeout_seconds"] == 30
    assert (
        detail["started_at"] is None and detail["finished_at"] is None and detail["duration_seconds"] is None
    )


def test_unknown_agent_type_lists_the_known_ones_and_changes_nothing(alice: Caller) -> None:
    response = alice.post("/api/v1/agent/task", {**CHECK, "agent_type": "telepathy"})
    assert response.status_code == 400
    error = body(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert "agent-zero, http-check, log-monitor, shell" in error["message"]
    assert stored("alice", "TASK#") == [] and stored("alice", "JOB#") == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**CHECK, "input_data": {"url": "ftp://x"}}, "input_data.url"),
        ({**CHECK, "input_data": {"url": "http://x", "surprise": 1}}, "input_data.surprise"),
        ({**MONITOR, "input_data": {"log_paths": ["relative.log"]}}, "input_data.log_paths"),
        ({**MONITOR, "input_data": {"log_paths": ["/a"], "patterns": ["("]}}, "input_data.patterns"),
        ({**MONITOR, "project_id": None}, "project_id"),
        ({**CHECK, "agent_type": "shell", "input_data": {"command": ""}}, "input_data.command"),
        (
            {**CHECK, "agent_type": "shell", "input_data": {"command": "ls"}, "timeout_seconds": 7200},
            "timeout_seconds",
        ),
        ({**CHECK, "priority": 0}, "priority"),
        ({**CHECK, "extra": True}, "extra"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    alice: Caller, project: None, payload: dict[str, Any], field: str
) -> None:
    response = alice.post("/api/v1/agent/task", payload)
    assert response.status_code == 400, body(response)
    assert field in [d["field"] for d in body(response)["details"]]
    assert stored("alice", "TASK#") == []


def test_a_missing_project_is_not_found(alice: Caller) -> None:
    response = alice.post("/api/v1/agent/task", MONITOR)
    assert response.status_code == 404
    assert stored("alice", "TASK#") == []


def test_tasks_are_per_tenant(alice: Caller, bob: Caller) -> None:
    alice.post("/api/v1/agent/task", CHECK)
    assert bob.get("/api/v1/agent/tasks/1").status_code == 404
    assert body(bob.get("/api/v1/agent/tasks")) == []
    assert bob.post("/api/v1/agent/tasks/1/cancel").status_code == 404


def test_creating_and_cancelling_need_the_deploy_scope(client: Any, alice: Caller) -> None:
    reader = Caller(client, issue("alice", ["read"]))
    alice.post("/api/v1/agent/task", CHECK)
    assert reader.post("/api/v1/agent/task", CHECK).status_code == 403
    assert reader.post("/api/v1/agent/tasks/1/cancel").status_code == 403
    assert reader.get("/api/v1/agent/tasks/1").status_code == 200


def test_cancel_a_pending_task_then_again_is_a_conflict(alice: Caller) -> None:
    alice.post("/api/v1/agent/task", CHECK)
    response = alice.post("/api/v1/agent/tasks/1/cancel")
    assert response.status_code == 202
    assert body(response) == {"message": "Task 1 cancelled", "task_id": 1}
    detail = body(alice.get("/api/v1/agent/tasks/1"))
    assert detail["status"] == "cancelled" and detail["finished_at"] is not None
    assert body(alice.get("/api/v1/agent/tasks?status=cancelled"))[0]["id"] == 1
    assert alice.get("/api/v1/agent/tasks?status=pending").headers["X-Total-Count"] == "0"
    assert alice.post("/api/v1/agent/tasks/1/cancel").status_code == 409
    assert stored("alice", "EVENT#")[-1]["name"] == "task.cancelled"


def test_cancel_a_running_task_asks_its_worker(alice: Caller) -> None:
    from chalicelib import agent_tasks

    alice.post("/api/v1/agent/task", CHECK)
    assert agent_tasks.start_task("alice", 1) is not None
    assert agent_tasks.start_task("alice", 1) is None  # a redelivered job does not run it twice
    response = alice.post("/api/v1/agent/tasks/1/cancel")
    assert body(response)["message"] == "Cancellation of task 1 requested"
    assert agent_tasks.cancel_requested("alice", 1)
    assert body(alice.get("/api/v1/agent/tasks/1"))["status"] == "running"
    agent_tasks.finish_task("alice", 1, "cancelled", output={"stopped": True})
    detail = body(alice.get("/api/v1/agent/tasks/1"))
    assert detail["status"] == "cancelled" and detail["duration_seconds"] >= 0
    names = [e["name"] for e in stored("alice", "EVENT#")]
    assert names == ["task.pending", "task.running", "task.cancelled"]


def test_audit_records_task_actions_without_secrets(alice: Caller) -> None:
    secret_check = {**CHECK, "input_data": {"url": "https://user:hunter2hunter2@example.com/"}}
    alice.post("/api/v1/agent/task", secret_check)
    alice.post("/api/v1/agent/tasks/1/cancel")
    entries = body(alice.get("/api/v1/audit"))
    assert [e["action"] for e in entries] == ["agent_task.cancel", "agent_task.create"]
    created = entries[1]
    assert created["actor"].startswith("token:") and created["token_id"] is not None
    assert created["result"] == {"task_id": 1, "queue": "agents"}
    assert "hunter2hunter2" not in str(created)
    only = body(alice.get("/api/v1/audit?action=agent_task.create&limit=10"))
    assert [e["action"] for e in only["data"]] == ["agent_task.create"] and only["pagination"]["total"] == 1
    assert body(alice.get("/api/v1/audit?since=2999-01-01T00:00:00Z")) == []
    assert len(body(alice.get("/api/v1/audit?since=2000-01-01T00:00:00Z"))) == 2
    assert alice.get("/api/v1/audit?since=yesterday").status_code == 400


def test_a_task_can_be_pinned_to_a_registered_host(alice: Caller, project: None) -> None:
    from tests.unit.test_deployments_api import register_host

    assert alice.post("/api/v1/agent/task", {**MONITOR, "host": "web-1"}).status_code == 404
    assert stored("alice", "TASK#") == [] and stored("alice", "JOB#") == []
    register_host("alice", "web-1")
    assert alice.post("/api/v1/agent/task", {**MONITOR, "host": "web-1"}).status_code == 201
    (job,) = stored("alice", "JOB#")
    assert job["queue"] == "host.web-1"
    assert alice.post("/api/v1/agent-zero/start", {"host": "nowhere"}).status_code == 404
    assert stored("alice", "AGENTZERO") == []
