from __future__ import annotations

from typing import Any

import pytest

from chalicelib import aws, deployments
from chalicelib.config import get_settings
from tests.unit.conftest import Caller, body

PROJECT = {"name": "MyProject", "path": "/projects/myproject"}
DEPLOY = {
    "project_id": 1,
    "name": "myproject-staging",
    "port": 8091,
    "environment": {"NODE_ENV": "staging"},
    "cpu_limit": "0.5",
    "memory_limit": "256m",
}


def register_host(tenant: str, name: str, address: str = "localhost", ports: list[int] | None = None) -> None:
    from chalicelib import hosts
    from chalicelib.models.hosts import HostMetrics, HostRegistration

    hosts.register_host(tenant, HostRegistration(name=name, address=address, cpu_count=2, memory_bytes=2**30))
    if ports:
        metrics = HostMetrics(cpu_percent=1, memory_percent=1, disk_percent=1, listening_ports=ports)
        hosts.record_heartbeat(tenant, name, metrics)


@pytest.fixture
def project(alice: Caller) -> None:
    register_host("alice", "local")
    assert alice.post("/api/v1/projects", PROJECT).status_code == 201


def table_items() -> list[dict[str, Any]]:
    from chalicelib.store.codec import decode_item

    client = aws.client("dynamodb")
    items = client.scan(TableName=get_settings().table_name)["Items"]
    return [decode_item(i) for i in items]


def writes_of_interest() -> list[tuple[str, str]]:
    """Everything but token and rate-limit bookkeeping, which every request touches."""
    return sorted(
        (i["PK"], i["SK"])
        for i in table_items()
        if not i["PK"].startswith(("TOKEN#", "RL#")) and i["SK"] != "#META"
    )


def deploy(caller: Caller, **overrides: Any) -> Any:
    return caller.post("/api/v1/deploy", {**DEPLOY, **overrides})


def worker_moves(tenant: str, deployment_id: int, *statuses: str, **changes: Any) -> None:
    """Play the worker's part: report each status in turn (the last one with `changes`)."""
    for i, status in enumerate(statuses):
        last = i == len(statuses) - 1
        deployments.report(
            tenant,
            deployment_id,
            status=status,
            reason=f"{status} now",
            changes={**changes, "job": None} if last else None,
        )


def events_of(tenant: str) -> list[dict[str, Any]]:
    return sorted(
        (i for i in table_items() if i.get("entity") == "event" and i["tenant"] == tenant),
        key=lambda e: e["seq"],
    )


def job_requests(tenant: str) -> list[dict[str, Any]]:
    return [i for i in table_items() if i.get("entity") == "job" and i["tenant"] == tenant]


# create -------------------------------------------------------------------------------------------
def test_deploy_replies_with_the_reference_message(alice: Caller, project: None) -> None:
    response = deploy(alice)
    assert response.status_code == 201
    assert body(response) == {"message": "Deployment created on port 8091", "id": 1}
    assert response.headers["Location"] == "/api/v1/deployments/1"


def test_the_reference_client_body_is_enough(alice: Caller, project: None) -> None:
    response = alice.post("/api/v1/deploy", {"project_id": 1, "port": 8090, "name": "deployment-8090"})
    assert body(response) == {"message": "Deployment created on port 8090", "id": 1}
    got = body(alice.get("/api/v1/deployments/1"))
    assert (
        got["environment"] == {} and got["cpu_limit"] is None and got["health_check_url"].endswith("/health")
    )


def test_deploy_writes_item_revision_port_claim_event_and_job_together(alice: Caller, project: None) -> None:
    deploy(alice)
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["status"] == "pending" and got["revision"] == 1 and got["host"] == "local"
    assert got["url"] == "http://localhost:8091"
    assert got["health_check_url"] == "http://localhost:8091/health"
    assert [h["status"] for h in got["status_history"]] == ["pending"]
    assert got["job"]
    [job] = job_requests("alice")
    assert job["function"] == "workers.deploy_jobs.run_deployment"
    assert job["kwargs"] == {"tenant": "alice", "deployment_id": 1, "revision": 1}
    assert job["queue"] == "host.local" and job["job_id"] == got["job"]
    [event] = [e for e in events_of("alice") if e["type"] == "deployment_status"]
    assert event["channel"] == "deployments" and event["name"] == "deployment.pending"
    assert event["data"]["id"] == 1 and event["data"]["port"] == 8091
    assert body(alice.get("/api/v1/projects/1"))["deployments"] == [
        {"id": 1, "port": 8091, "status": "pending"}
    ]
    assert ("T#alice", "PORT#local#08091") in writes_of_interest()
    assert body(alice.get("/api/v1/status"))["active_deployments"] == 1


def test_host_and_image_and_health_path_are_kept(alice: Caller, project: None) -> None:
    register_host("alice", "alpha", address="10.0.0.5")
    deploy(alice, host="alpha", image="busybox:latest", health_check_path="/ready?deep=1")
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["host"] == "alpha" and got["image"] == "busybox:latest"
    assert got["url"] == "http://10.0.0.5:8091"
    assert got["health_check_url"] == "http://10.0.0.5:8091/ready?deep=1"
    assert job_requests("alice")[0]["queue"] == "host.alpha"


def test_an_unknown_host_is_400_and_no_online_host_is_503(alice: Caller, bob: Caller, project: None) -> None:
    before = writes_of_interest()
    response = deploy(alice, host="nowhere")
    assert response.status_code == 400 and body(response)["details"][0]["field"] == "host"
    assert writes_of_interest() == before
    bob.post("/api/v1/projects", PROJECT)
    before = writes_of_interest()
    response = deploy(bob)
    assert response.status_code == 503 and "No worker host is online" in body(response)["message"]
    assert writes_of_interest() == before


def test_the_default_host_setting_wins_over_online_hosts(
    alice: Caller, project: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import reset_settings

    register_host("alice", "alpha")
    monkeypatch.setenv("BORGOS_DEPLOY_HOST", "local")
    reset_settings()
    deploy(alice)
    assert body(alice.get("/api/v1/deployments/1"))["host"] == "local"
    monkeypatch.delenv("BORGOS_DEPLOY_HOST")
    reset_settings()
    deploy(alice, port=8092, name="second")
    assert body(alice.get("/api/v1/deployments/2"))["host"] == "alpha"  # first online by name


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 80}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "x"}, "port"),
        ({"name": ""}, "name"),
        ({"name": "-bad"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"environment": {"1BAD": "v"}}, "environment"),
        ({"environment": {"OK": 1}}, "environment.OK"),
        ({"cpu_limit": "lots"}, "cpu_limit"),
        ({"cpu_limit": "0"}, "cpu_limit"),
        ({"cpu_limit": "1000"}, "cpu_limit"),
        ({"memory_limit": "1k"}, "memory_limit"),
        ({"memory_limit": "big"}, "memory_limit"),
        ({"image": "bad image"}, "image"),
        ({"health_check_path": "health"}, "health_check_path"),
        ({"host": "../x"}, "host"),
        ({"extra": 1}, "extra"),
        ({"project_id": 0}, "project_id"),
    ],
)
def test_bad_deploy_bodies_are_400_naming_the_field_and_leave_nothing(
    alice: Caller, project: None, overrides: dict, field: str
) -> None:
    before = writes_of_interest()
    response = deploy(alice, **overrides)
    assert response.status_code == 400, body(response)
    assert field in [d["field"] for d in body(response)["details"]]
    assert writes_of_interest() == before


def test_missing_project_is_404_and_leaves_nothing(alice: Caller, bob: Caller, project: None) -> None:
    before = writes_of_interest()
    response = deploy(bob)  # alice's project 1 does not exist for bob
    assert response.status_code == 404
    assert body(response)["message"] == "Project with id 1 not found"
    assert deploy(alice, project_id=99).status_code == 404
    assert writes_of_interest() == before


def test_a_port_taken_on_the_host_is_port_in_use_and_leaves_nothing(alice: Caller, project: None) -> None:
    deploy(alice)
    before = writes_of_interest()
    response = deploy(alice, name="other")
    assert response.status_code == 400
    assert body(response)["error"] == "Invalid request"
    assert body(response)["message"] == "Port 8091 is already in use"
    assert body(response)["code"] == "PORT_IN_USE"
    assert writes_of_interest() == before
    assert len(job_requests("alice")) == 1
    # The same port on another host is free.
    register_host("alice", "beta")
    assert deploy(alice, name="other", host="beta").status_code == 201


def test_hosts_and_their_ports_belong_to_a_tenant(alice: Caller, bob: Caller, project: None) -> None:
    register_host("bob", "local")
    bob.post("/api/v1/projects", PROJECT)
    deploy(alice)
    assert deploy(bob).status_code == 201


def test_a_port_the_hosts_heartbeat_reports_bound_is_port_in_use(alice: Caller, project: None) -> None:
    register_host("alice", "local", ports=[22, 8091])
    before = writes_of_interest()
    response = deploy(alice)
    assert response.status_code == 400 and body(response)["code"] == "PORT_IN_USE"
    assert writes_of_interest() == before
    assert deploy(alice, port=8092).status_code == 201


def test_deploy_needs_the_deploy_scope(client: Any, project: None) -> None:
    from tests.unit.conftest import issue

    reader = Caller(client, issue("alice", ["read", "write"]))
    response = deploy(reader)
    assert response.status_code == 403 and body(response)["code"] == "INSUFFICIENT_SCOPE"


# lists --------------------------------------------------------------------------------------------
def _three(alice: Caller) -> None:
    alice.post("/api/v1/projects", {**PROJECT, "name": "Second"})
    deploy(alice, port=9001, name="a")
    deploy(alice, port=9002, name="b", project_id=2)
    deploy(alice, port=9003, name="c")
    worker_moves("alice", 1, "building", "starting", "running", container_id="abc123")
    worker_moves("alice", 3, "building", "failed")


def test_list_is_a_bare_array_of_reference_fields(alice: Caller, project: None) -> None:
    _three(alice)
    response = alice.get("/api/v1/deployments")
    items = body(response)
    assert [d["name"] for d in items] == ["a", "b", "c"]
    assert response.headers["X-Total-Count"] == "3"
    first = items[0]
    for key in (
        "id",
        "project_id",
        "name",
        "port",
        "status",
        "container_id",
        "url",
        "health_check_url",
        "environment",
        "cpu_limit",
        "memory_limit",
        "started_at",
    ):
        assert key in first
    assert first["status"] == "running" and first["container_id"] == "abc123"


def test_list_filters_by_status_and_project(alice: Caller, project: None) -> None:
    _three(alice)
    assert [d["name"] for d in body(alice.get("/api/v1/deployments?status=running"))] == ["a"]
    assert [d["name"] for d in body(alice.get("/api/v1/deployments?project_id=1"))] == ["a", "c"]
    response = alice.get("/api/v1/deployments?status=failed&project_id=1")
    assert [d["name"] for d in body(response)] == ["c"] and response.headers["X-Total-Count"] == "1"
    assert body(alice.get("/api/v1/deployments?status=running&project_id=2")) == []
    assert alice.get("/api/v1/deployments?status=sleeping").status_code == 400
    assert alice.get("/api/v1/deployments?project_id=9").status_code == 404


def test_list_pagination_envelope_and_totals(alice: Caller, project: None) -> None:
    _three(alice)
    page = body(alice.get("/api/v1/deployments?limit=2"))
    assert [d["name"] for d in page["data"]] == ["a", "b"]
    assert page["pagination"]["total"] == 3 and page["pagination"]["has_more"] is True
    rest = body(alice.get(f"/api/v1/deployments?limit=2&cursor={page['pagination']['next_cursor']}"))
    assert [d["name"] for d in rest["data"]] == ["c"] and rest["pagination"]["has_more"] is False
    assert body(alice.get("/api/v1/deployments?status=running&limit=5"))["pagination"]["total"] == 1
    assert body(alice.get("/api/v1/deployments?project_id=1&limit=5"))["pagination"]["total"] == 2


def test_another_tenants_deployment_is_not_found(alice: Caller, bob: Caller, project: None) -> None:
    deploy(alice)
    for response in (
        bob.get("/api/v1/deployments/1"),
        bob.post("/api/v1/deployments/1/stop"),
        bob.post("/api/v1/deployments/1/restart"),
        bob.delete("/api/v1/deployments/1"),
        bob.get("/api/v1/deployments/1/logs"),
        bob.get("/api/v1/deployments/1/history"),
    ):
        assert response.status_code == 404
        assert body(response)["message"] == "Deployment with id 1 not found"
    assert body(bob.get("/api/v1/deployments")) == []


# status machine -----------------------------------------------------------------------------------
def test_each_transition_is_recorded_with_time_reason_event_counters_and_project_map(
    alice: Caller, project: None
) -> None:
    deploy(alice)
    worker_moves(
        "alice", 1, "building", "starting", "running", container_id="c1", started_at="2024-01-15T09:00:00Z"
    )
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["status"] == "running" and got["job"] is None
    assert [(h["status"], h["reason"]) for h in got["status_history"]] == [
        ("pending", "deployment requested"),
        ("building", "building now"),
        ("starting", "starting now"),
        ("running", "running now"),
    ]
    assert all(h["at"].endswith("Z") for h in got["status_history"])
    events = [e for e in events_of("alice") if e["type"] == "deployment_status"]
    assert [e["name"] for e in events] == [
        "deployment.pending",
        "deployment.building",
        "deployment.starting",
        "deployment.running",
    ]
    assert events[-1]["data"]["container_id"] == "c1"
    assert body(alice.get("/api/v1/projects/1"))["deployments"] == [
        {"id": 1, "port": 8091, "status": "running"}
    ]
    header = next(i for i in table_items() if i["PK"] == "T#alice" and i["SK"] == "DEPLOY#")
    assert (header["count"], header["active"], header["status_running"], header["status_pending"]) == (
        1,
        1,
        1,
        0,
    )


def test_failed_is_not_active_and_is_announced_as_deployment_failed(alice: Caller, project: None) -> None:
    deploy(alice)
    worker_moves("alice", 1, "building", "failed")
    assert body(alice.get("/api/v1/status"))["active_deployments"] == 0
    assert events_of("alice")[-1]["name"] == "deployment.failed"


def test_an_illegal_transition_is_refused_and_changes_nothing(alice: Caller, project: None) -> None:
    deploy(alice)
    deployments.report("alice", 1, status="building", reason="build started")
    before = table_items()
    with pytest.raises(deployments.IllegalTransition):
        deployments.report("alice", 1, status="stopped", reason="no such edge")
    assert table_items() == before


def test_only_if_lets_a_retried_step_decline(alice: Caller, project: None) -> None:
    deploy(alice)
    assert deployments.report("alice", 1, status="building", only_if=lambda i: i["status"] == "pending")
    assert (
        deployments.report("alice", 1, status="building", only_if=lambda i: i["status"] == "pending") is None
    )
    assert [e["name"] for e in events_of("alice")].count("deployment.building") == 1


# actions ------------------------------------------------------------------------------------------
def _running(alice: Caller) -> None:
    deploy(alice)
    worker_moves("alice", 1, "building", "starting", "running", container_id="c1")


def test_stop_and_restart_reply_with_the_reference_messages_and_request_jobs(
    alice: Caller, project: None
) -> None:
    _running(alice)
    response = alice.post("/api/v1/deployments/1/stop")
    assert response.status_code == 200 and body(response) == {"message": "Deployment 1 stopped"}
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["job"] and got["job"].endswith("-stop")
    stop_job = next(j for j in job_requests("alice") if j["job_id"] == got["job"])
    assert stop_job["function"] == "workers.deploy_jobs.control"
    assert stop_job["kwargs"] == {"tenant": "alice", "deployment_id": 1, "action": "stop"}
    # A second action while a job is in flight is refused.
    busy = alice.post("/api/v1/deployments/1/restart")
    assert busy.status_code == 409 and "job in progress" in body(busy)["message"]
    worker_moves("alice", 1, "stopped")
    assert body(alice.get("/api/v1/projects/1"))["deployments"][0]["status"] == "stopped"
    assert ("T#alice", "PORT#local#08091") not in writes_of_interest()
    # Stopping what is stopped is the same answer and no new job.
    jobs_before = len(job_requests("alice"))
    assert body(alice.post("/api/v1/deployments/1/stop")) == {"message": "Deployment 1 stopped"}
    assert len(job_requests("alice")) == jobs_before
    # Restarting a stopped deployment rolls out a new revision and claims the port again.
    assert body(alice.post("/api/v1/deployments/1/restart")) == {"message": "Deployment 1 restarted"}
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["status"] == "pending" and got["revision"] == 2
    assert ("T#alice", "PORT#local#08091") in writes_of_interest()


def test_restart_of_a_running_deployment_is_a_control_job(alice: Caller, project: None) -> None:
    _running(alice)
    alice.post("/api/v1/deployments/1/restart")
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["status"] == "running" and got["revision"] == 1 and got["job"].endswith("-restart")


def test_restart_of_a_stopped_deployment_whose_port_was_taken_is_port_in_use(
    alice: Caller, project: None
) -> None:
    _running(alice)
    alice.post("/api/v1/deployments/1/stop")
    worker_moves("alice", 1, "stopped")
    deploy(alice, name="squatter")
    before = writes_of_interest()
    response = alice.post("/api/v1/deployments/1/restart")
    assert response.status_code == 400 and body(response)["code"] == "PORT_IN_USE"
    assert writes_of_interest() == before


def test_cancel_only_applies_to_a_rollout_in_progress(alice: Caller, project: None) -> None:
    deploy(alice)
    response = alice.post("/api/v1/deployments/1/cancel")
    assert response.status_code == 200 and "cancellation requested" in body(response)["message"]
    got = deployments.get_item("alice", 1)
    assert got["cancel_requested"] is True and got["job"].endswith("-r1")
    cancel = next(j for j in job_requests("alice") if j["job_id"] == got["cancel_job"])
    assert cancel["kwargs"]["action"] == "cancel"
    # Asking twice requests nothing more.
    jobs_before = len(job_requests("alice"))
    alice.post("/api/v1/deployments/1/cancel")
    assert len(job_requests("alice")) == jobs_before
    worker_moves("alice", 1, "cancelled")
    response = alice.post("/api/v1/deployments/1/cancel")
    assert response.status_code == 409 and "no rollout in progress" in body(response)["message"]


def test_delete_is_a_job_then_the_records_go(alice: Caller, project: None) -> None:
    _running(alice)
    response = alice.delete("/api/v1/deployments/1")
    assert response.status_code == 202
    assert body(response) == {"message": "Deployment 1 deletion requested"}
    item = deployments.get_item("alice", 1)
    assert item["desired"] == "deleted"
    assert alice.post("/api/v1/deployments/1/stop").status_code == 409
    # The worker's last step:
    deployments.change("alice", 1, lambda tx, item: deployments.delete_records(tx, item, project_exists=True))
    assert alice.get("/api/v1/deployments/1").status_code == 404
    assert body(alice.get("/api/v1/projects/1"))["deployments"] == []
    assert ("T#alice", "PORT#local#08091") not in writes_of_interest()
    assert events_of("alice")[-1]["name"] == "deployment.deleted"
    header = next(i for i in table_items() if i["PK"] == "T#alice" and i["SK"] == "DEPLOY#")
    assert header["count"] == 0 and header["active"] == 0
    assert body(alice.get("/api/v1/status"))["active_deployments"] == 0


def test_actions_on_missing_deployments_are_404(alice: Caller) -> None:
    for response in (
        alice.post("/api/v1/deployments/5/stop"),
        alice.post("/api/v1/deployments/5/cancel"),
        alice.post("/api/v1/deployments/5/redeploy"),
        alice.post("/api/v1/deployments/5/rollback", {"revision": 1}),
    ):
        assert response.status_code == 404


# revisions and rollback ---------------------------------------------------------------------------
def _finish(tenant: str, deployment_id: int, revision: int, image_id: str, ok: bool = True) -> None:
    deployments.report(
        tenant,
        deployment_id,
        status="running" if ok else "failed",
        reason="done",
        changes={"job": None, "image_id": image_id, "serving_revision": revision},
        revision=revision,
        revision_changes={"status": "running" if ok else "failed", "image_id": image_id},
    )


def test_redeploy_records_a_new_revision_with_its_config(alice: Caller, project: None) -> None:
    _running(alice)
    _finish("alice", 1, 1, "sha256:one")
    response = alice.post("/api/v1/deployments/1/redeploy", {"environment": {"NODE_ENV": "prod"}})
    assert response.status_code == 200 and body(response)["revision"] == 2
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["status"] == "pending" and got["environment"] == {"NODE_ENV": "prod"}
    history = body(alice.get("/api/v1/deployments/1/history"))
    assert [r["revision"] for r in history] == [2, 1]
    assert history[0]["config"]["environment"] == {"NODE_ENV": "prod"}
    assert history[1]["config"]["environment"] == {"NODE_ENV": "staging"}
    assert history[1]["image_id"] == "sha256:one" and history[1]["status"] == "running"
    assert history[0]["config"]["port"] == 8091 and history[0]["config"]["memory_limit"] == "256m"


def test_redeploy_with_bad_limits_is_400_and_changes_nothing(alice: Caller, project: None) -> None:
    _running(alice)
    before = table_items()
    response = alice.post("/api/v1/deployments/1/redeploy", {"memory_limit": "1b"})
    assert response.status_code == 400 and body(response)["details"][0]["field"] == "memory_limit"
    assert alice.post("/api/v1/deployments/1/redeploy", {"port": 9000}).status_code == 400
    assert [i for i in table_items() if not i["PK"].startswith("RL#")] == [
        i for i in before if not i["PK"].startswith("RL#")
    ]


def test_rollback_runs_the_chosen_revisions_config_and_image(alice: Caller, project: None) -> None:
    _running(alice)
    _finish("alice", 1, 1, "sha256:one")
    alice.post("/api/v1/deployments/1/redeploy", {"environment": {"NODE_ENV": "prod"}})
    _finish("alice", 1, 2, "sha256:two")
    response = alice.post("/api/v1/deployments/1/rollback", {"revision": 1})
    assert response.status_code == 200
    assert body(response) == {"message": "Deployment 1 rolling back to revision 1", "revision": 3}
    got = body(alice.get("/api/v1/deployments/1"))
    assert got["environment"] == {"NODE_ENV": "staging"} and got["revision"] == 3
    third = body(alice.get("/api/v1/deployments/1/history"))[0]
    assert third["rollback_of"] == 1 and third["image_id"] == "sha256:one"
    job = next(j for j in job_requests("alice") if j["job_id"] == got["job"])
    assert job["kwargs"] == {"tenant": "alice", "deployment_id": 1, "revision": 3}


def test_rollback_to_a_pruned_or_imageless_revision_is_a_clear_error(alice: Caller, project: None) -> None:
    _running(alice)
    _finish("alice", 1, 1, "sha256:" + "a" * 64)
    alice.post("/api/v1/deployments/1/redeploy")
    _finish("alice", 1, 2, "sha256:two")
    assert deployments.mark_images_gone("alice", 1, {"sha256:" + "a" * 64}) == [1]
    before = table_items()
    response = alice.post("/api/v1/deployments/1/rollback", {"revision": 1})
    assert response.status_code == 409 and body(response)["code"] == "IMAGE_GONE"
    assert "no longer on host local" in body(response)["message"]
    missing = alice.post("/api/v1/deployments/1/rollback", {"revision": 7})
    assert missing.status_code == 404 and body(missing)["message"] == "Revision 7 of deployment 1 not found"
    assert [i for i in table_items() if not i["PK"].startswith("RL#")] == [
        i for i in before if not i["PK"].startswith("RL#")
    ]
    assert body(alice.get("/api/v1/deployments/1/history"))[1]["image_available"] is False


# logs ---------------------------------------------------------------------------------------------
def test_logs_redact_environment_values(alice: Caller, project: None) -> None:
    deploy(alice, environment={"API_KEY": "s3cr3t-value", "NODE_ENV": "staging", "DEBUG": "1"})
    empty = body(alice.get("/api/v1/deployments/1/logs"))
    assert empty["build_log"] == "" and empty["container_log"] == ""
    deployments.save_logs("alice", 1, 1, "Step 1/2: ENV staging\n", "key=s3cr3t-value debug=1\n")
    logs = body(alice.get("/api/v1/deployments/1/logs"))
    assert logs["build_log"] == "Step 1/2: ENV [REDACTED]\n"
    assert logs["container_log"] == "key=[REDACTED] debug=1\n"
    assert logs["revision"] == 1 and logs["captured_at"].endswith("Z")
    stored = next(i for i in table_items() if i["SK"] == deployments.log_sk(1))
    assert "s3cr3t-value" not in stored["container_log"]


def test_redact_prefers_the_longest_value() -> None:
    assert deployments.redact("abcdef abcd", {"A": "abcd", "B": "abcdef"}) == "[REDACTED] [REDACTED]"
    assert deployments.redact("text", {}) == "text"


def test_reconcile_refreshes_the_container_log_only_when_it_changed(alice: Caller, project: None) -> None:
    deploy(alice, environment={"API_KEY": "s3cr3t-value"})
    _finish("alice", 1, 1, "sha256:one")
    deployments.save_logs("alice", 1, 1, "built", "line 1\n")
    item = deployments.get_item("alice", 1)
    assert deployments.refresh_container_log("alice", item, "line 1\n") is False
    assert deployments.refresh_container_log("alice", item, "line 1\nkey s3cr3t-value\n") is True
    logs = body(alice.get("/api/v1/deployments/1/logs"))
    assert logs["build_log"] == "built" and logs["container_log"] == "line 1\nkey [REDACTED]\n"
