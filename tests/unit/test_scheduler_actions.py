"""Scheduled scan, deploy, restart and agent_task actions through the other parts' domain entry
points (contracts in CORE_API.md). Each test runs once its module is on main and is skipped until
then; the webhook action is covered in test_scheduler_jobs.py."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import projects, scheduler_tasks, scheduler_tick
from chalicelib.models.projects import ProjectCreate
from chalicelib.scheduling import SchedulerTaskCreate
from tests.support.scheduler import install_clock, jobs, runs
from workers.scheduler_jobs import run_scheduled

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def needs(module: str) -> pytest.MarkDecorator:
    missing = importlib.util.find_spec(module) is None
    return pytest.mark.skipif(missing, reason=f"{module} is not on main yet")


@pytest.fixture
def clock(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    return install_clock(monkeypatch, START)


def run_action(clock: Any, action: dict[str, Any]) -> dict[str, Any]:
    """Create a task with the action, let it come due, run its job; the run as recorded."""
    request = SchedulerTaskCreate.model_validate(
        {"name": "action", "cron": "*/5 * * * *", "tz": "UTC", "action": action}
    )
    task_id = scheduler_tasks.create_task("alice", request).id
    clock.advance(timedelta(minutes=5))
    scheduler_tick.tick(clock())
    key = runs("alice", task_id)[-1]["id"]
    run = run_scheduled("alice", task_id, key, now=clock)
    assert run is not None
    return run


def project() -> int:
    return projects.create_project("alice", ProjectCreate(name="web-app", path="/srv/web-app")).id


@needs("chalicelib.scans")
def test_scan_action_requests_a_scan(clock: Any) -> None:
    run = run_action(clock, {"type": "scan", "project_id": project()})
    assert run["status"] == "completed", run.get("error")
    assert "message" in run["output"]
    assert any(job["function"] == "workers.scan_jobs.scan_project" for job in jobs("alice"))


@needs("chalicelib.scans")
def test_scan_of_a_missing_project_fails_the_run(clock: Any) -> None:
    run = run_action(clock, {"type": "scan", "project_id": 99})
    assert (run["status"], run["error"][:3]) == ("failed", "404")


@needs("chalicelib.deployments")
@pytest.mark.parametrize("kind", ["deploy", "restart"])
def test_deployment_action_of_a_missing_deployment_fails_the_run(clock: Any, kind: str) -> None:
    run = run_action(clock, {"type": kind, "deployment_id": 99})
    assert (run["status"], run["error"][:3]) == ("failed", "404")


@needs("chalicelib.agent_tasks")
def test_agent_task_action_creates_an_agent_task(clock: Any) -> None:
    action = {
        "type": "agent_task",
        "project_id": project(),
        "task_type": "automation",
        "description": "Monitor system logs",
        "input_data": {"alert_threshold": 5},
    }
    run = run_action(clock, action)
    assert run["status"] == "completed", run.get("error")
    assert run["output"]["task_id"]


@needs("chalicelib.deployments")
@pytest.mark.parametrize(("kind", "job"), [("restart", "control"), ("deploy", "run_deployment")])
def test_deployment_action_requests_the_deployment_job(clock: Any, kind: str, job: str) -> None:
    from chalicelib import deployments
    from chalicelib.models.deployments import DeployRequest
    from tests.unit.test_deployments_api import register_host, worker_moves

    register_host("alice", "local")
    project_id = project()
    created = deployments.create_deployment(
        "alice", DeployRequest(project_id=project_id, name="web-app-prod", port=8091)
    )
    worker_moves("alice", created["id"], "building", "starting", "running")
    before = {j["job_id"] for j in jobs("alice")}
    run = run_action(clock, {"type": kind, "deployment_id": created["id"]})
    assert run["status"] == "completed", run.get("error")
    assert "message" in run["output"]
    new_jobs = [j["function"] for j in jobs("alice") if j["job_id"] not in before]
    assert f"workers.deploy_jobs.{job}" in new_jobs
