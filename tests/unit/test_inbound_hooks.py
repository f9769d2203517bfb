"""Inbound hooks: a project's GitHub hook (configured once, secret shown once), X-Hub-Signature-256
checked with GitHub's documented example, pushes to the branch acting once per delivery id, and
triggers authenticated by x-webhook-secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.webhooks import github, incoming
from tests.unit.conftest import Caller, body

# GitHub's documentation, "Validating webhook deliveries".
DOC_SECRET = "It's a Secret to Everybody"
DOC_PAYLOAD = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.fixture
def acted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """What the hooks asked scans and deployments to do (those parts are built elsewhere)."""
    calls: list[tuple[str, str, int]] = []

    def redeploy(tenant: str, project_id: int) -> dict[str, Any]:
        calls.append(("redeploy", tenant, project_id))
        return {"message": "redeploying", "project_id": project_id, "redeployed": []}

    def scan(tenant: str, project_id: int) -> dict[str, Any]:
        calls.append(("scan", tenant, project_id))
        return {"message": "scanning", "project_id": project_id}

    monkeypatch.setattr(incoming, "rescan_and_redeploy", redeploy)
    monkeypatch.setattr(incoming, "scan_only", scan)
    return calls


def _project(caller: Caller, name: str = "app") -> int:
    response = caller.post("/api/v1/projects", {"name": name, "path": f"/projects/{name}"})
    assert response.status_code == 201
    return int(body(response)["id"])


def _push(caller: Caller, project_id: int, secret: str, ref: str, delivery: str = "d-1", **extra: Any) -> Any:
    payload = json.dumps(
        {"ref": ref, "after": "abc", "repository": {"full_name": "me/app"}, **extra}
    ).encode()
    return caller.client.http.post(
        f"/api/v1/hooks/github/{project_id}",
        body=payload,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github.compute_signature(secret, payload),
        },
    )


def test_the_documented_example_verifies_through_the_route(alice: Caller) -> None:
    assert github.compute_signature(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE
    project_id = _project(alice)
    assert (
        alice.client.http.request(
            "PUT",
            f"/api/v1/projects/{project_id}/hook",
            body=json.dumps({"branch": "main", "secret": DOC_SECRET}).encode(),
            headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"},
        ).status_code
        == 200
    )
    ping = {"X-GitHub-Event": "ping", "Content-Type": "application/json"}
    good = alice.client.http.post(
        f"/api/v1/hooks/github/{project_id}",
        body=DOC_PAYLOAD,
        headers={**ping, "X-Hub-Signature-256": DOC_SIGNATURE},
    )
    assert (good.status_code, body(good)) == (200, {"message": "pong"})
    tampered = alice.client.http.post(
        f"/api/v1/hooks/github/{project_id}",
        body=b"Hello, World?",
        headers={**ping, "X-Hub-Signature-256": DOC_SIGNATURE},
    )
    assert tampered.status_code == 401 and body(tampered)["code"] == "UNAUTHORIZED"
    unsigned = alice.client.http.post(f"/api/v1/hooks/github/{project_id}", body=DOC_PAYLOAD, headers=ping)
    assert unsigned.status_code == 401


def _set_hook(caller: Caller, project_id: int, **config: Any) -> Any:
    return caller.client.http.request(
        "PUT",
        f"/api/v1/projects/{project_id}/hook",
        body=json.dumps({"branch": "main", **config}).encode(),
        headers={"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json"},
    )


def test_the_hook_secret_is_shown_once(alice: Caller, bob: Caller) -> None:
    project_id = _project(alice)
    created = body(_set_hook(alice, project_id))
    assert len(created["secret"]) >= 32 and created["url"] == f"/api/v1/hooks/github/{project_id}"
    shown = body(alice.get(f"/api/v1/projects/{project_id}/hook"))
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert "secret" not in json.dumps(body(alice.get(f"/api/v1/projects/{project_id}")))
    assert bob.get(f"/api/v1/projects/{project_id}/hook").status_code == 404


def test_bad_hook_settings_change_nothing(alice: Caller) -> None:
    project_id = _project(alice)
    assert _set_hook(alice, 99).status_code == 404
    assert _set_hook(alice, project_id, branch="bad branch").status_code == 400
    assert _set_hook(alice, project_id, secret="short").status_code == 400
    assert alice.get(f"/api/v1/projects/{project_id}/hook").status_code == 404
    assert alice.get("/api/v1/projects/99/hook").status_code == 404


def test_deleting_the_project_deletes_its_hook(alice: Caller, acted: list[Any]) -> None:
    from chalicelib.store import keys
    from chalicelib.store.table import get_store

    project_id = _project(alice)
    assert _set_hook(alice, project_id, secret=DOC_SECRET).status_code == 200
    assert get_store().get(keys.github_hook_pk(project_id), keys.tenant_pk("alice")) is not None
    assert alice.delete(f"/api/v1/projects/{project_id}").status_code == 204
    assert get_store().get(keys.github_hook_pk(project_id), keys.tenant_pk("alice")) is None
    assert _push(alice, project_id, DOC_SECRET, "refs/heads/main").status_code == 401
    assert acted == []


def test_deleting_a_project_without_a_hook_still_works(alice: Caller) -> None:
    project_id = _project(alice)
    assert alice.delete(f"/api/v1/projects/{project_id}").status_code == 204
    assert alice.get(f"/api/v1/projects/{project_id}").status_code == 404


def test_a_push_to_the_branch_acts_once_per_delivery(alice: Caller, acted: list[Any]) -> None:
    project_id = _project(alice)
    secret = body(_set_hook(alice, project_id))["secret"]
    other = _push(alice, project_id, secret, "refs/heads/dev")
    assert other.status_code == 200 and "Ignored" in body(other)["message"]
    deleted = _push(alice, project_id, secret, "refs/heads/main", delivery="d-0", deleted=True)
    assert "Ignored" in body(deleted)["message"]
    assert acted == []
    first = _push(alice, project_id, secret, "refs/heads/main", delivery="d-1")
    assert first.status_code == 200 and body(first)["project_id"] == project_id
    again = _push(alice, project_id, secret, "refs/heads/main", delivery="d-1")
    assert again.status_code == 200 and "already processed" in body(again)["message"]
    _push(alice, project_id, secret, "refs/heads/main", delivery="d-2")
    assert acted == [("redeploy", "alice", project_id)] * 2


def test_a_failed_action_leaves_the_delivery_retryable(
    alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = _project(alice)
    secret = body(_set_hook(alice, project_id))["secret"]
    outcomes = iter([RuntimeError("queue down"), None])

    def flaky(tenant: str, pid: int) -> dict[str, Any]:
        outcome = next(outcomes)
        if outcome:
            raise outcome
        return {"message": "ok"}

    monkeypatch.setattr(incoming, "rescan_and_redeploy", flaky)
    assert _push(alice, project_id, secret, "refs/heads/main", delivery="d-9").status_code == 500
    assert body(_push(alice, project_id, secret, "refs/heads/main", delivery="d-9")) == {"message": "ok"}


def test_each_tenant_is_reached_only_with_its_own_secret(
    alice: Caller, bob: Caller, acted: list[Any]
) -> None:
    alice_project, bob_project = _project(alice), _project(bob)
    assert alice_project == bob_project == 1  # ids are per tenant: the secret tells them apart
    _set_hook(alice, alice_project)
    bob_secret = body(_set_hook(bob, bob_project))["secret"]
    assert _push(bob, bob_project, bob_secret, "refs/heads/main").status_code == 200
    assert acted == [("redeploy", "bob", 1)]
    assert _push(bob, 1, "a-guessed-secret-value", "refs/heads/main", delivery="d-3").status_code == 401


def test_a_push_requests_a_scan_job_and_redeploys_running_deployments(alice: Caller) -> None:
    from tests.unit.test_deployments_api import deploy, job_requests, register_host, worker_moves

    register_host("alice", "local")
    project_id = _project(alice)
    assert deploy(alice, project_id=project_id, name="running", port=8091).status_code == 201
    assert deploy(alice, project_id=project_id, name="pending", port=8092).status_code == 201
    worker_moves("alice", 1, "building", "starting", "running", container_id="c1")
    before = {j["job_id"] for j in job_requests("alice")}
    secret = body(_set_hook(alice, project_id))["secret"]
    pushed = _push(alice, project_id, secret, "refs/heads/main")
    assert pushed.status_code == 200 and body(pushed)["redeployed"] == [1]
    new = [j for j in job_requests("alice") if j["job_id"] not in before]
    assert sorted(
        (j["function"], j["kwargs"].get("project_id"), j["kwargs"].get("deployment_id")) for j in new
    ) == [
        ("workers.deploy_jobs.run_deployment", None, 1),
        ("workers.scan_jobs.scan_project", project_id, None),
    ]
    again = _push(alice, project_id, secret, "refs/heads/main")  # the same delivery id
    assert "already processed" in body(again)["message"]
    assert len(job_requests("alice")) == len(before) + 2


# -- triggers ------------------------------------------------------------------------------------


@pytest.fixture
def trigger_hook(alice: Caller, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from chalicelib.config import reset_settings
    from chalicelib.webhooks import targets

    monkeypatch.setattr(targets, "system_resolver", lambda host, port: ["93.184.215.14"])
    reset_settings()
    project_id = _project(alice)
    response = alice.post(
        "/api/v1/webhooks",
        {
            "url": "https://example.com/hook",
            "events": ["project.*"],
            "secret": "your-webhook-secret",
            "action": {"type": "scan", "project_id": project_id},
        },
    )
    assert response.status_code == 201, response.body
    return dict(body(response))


def _trigger(caller: Caller, hook_id: int, secret: str | None, delivery: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["x-webhook-secret"] = secret
    if delivery:
        headers["webhook-id"] = delivery
    return caller.client.http.post(f"/api/v1/webhooks/{hook_id}/trigger", body=b"{}", headers=headers)


def test_a_trigger_needs_the_hooks_secret(
    alice: Caller, trigger_hook: dict[str, Any], acted: list[Any]
) -> None:
    for wrong in (None, "", "not-the-secret-at-all", trigger_hook["secret"] + "x"):
        assert _trigger(alice, trigger_hook["id"], wrong).status_code == 401
    assert _trigger(alice, 99, trigger_hook["secret"]).status_code == 401
    assert acted == []
    done = _trigger(alice, trigger_hook["id"], trigger_hook["secret"])
    assert done.status_code == 200 and body(done)["action"] == "scan"
    assert (
        _trigger(alice, trigger_hook["id"], "your-webhook-secret").status_code == 200
    )  # the passphrase form
    assert acted == [("scan", "alice", 1)] * 2


def test_a_replayed_trigger_acts_once(alice: Caller, trigger_hook: dict[str, Any], acted: list[Any]) -> None:
    for _ in range(2):
        assert (
            _trigger(alice, trigger_hook["id"], trigger_hook["secret"], delivery="msg_1").status_code == 200
        )
    assert acted == [("scan", "alice", 1)]


def test_a_trigger_without_an_action_or_on_a_disabled_hook_is_a_conflict(
    alice: Caller, trigger_hook: dict[str, Any], acted: list[Any]
) -> None:
    hook_id = trigger_hook["id"]
    alice.patch(f"/api/v1/webhooks/{hook_id}", {"action": None})
    assert _trigger(alice, hook_id, trigger_hook["secret"]).status_code == 409
    alice.patch(f"/api/v1/webhooks/{hook_id}", {"action": {"type": "redeploy", "project_id": 1}})
    alice.post(f"/api/v1/webhooks/{hook_id}/toggle")
    assert _trigger(alice, hook_id, trigger_hook["secret"]).status_code == 409
    alice.post(f"/api/v1/webhooks/{hook_id}/toggle")
    assert body(_trigger(alice, hook_id, trigger_hook["secret"]))["action"] == "redeploy"
    assert acted == [("redeploy", "alice", 1)]


def test_the_scheduler_runs_a_webhooks_action_by_tenant_and_id(
    alice: Caller, trigger_hook: dict[str, Any], acted: list[Any]
) -> None:
    from chalicelib.errors import NotFound

    assert incoming.run_action("alice", trigger_hook["id"], delivery_id="run-1")["action"] == "scan"
    assert (
        "already processed"
        in incoming.run_action("alice", trigger_hook["id"], delivery_id="run-1")["message"]
    )
    with pytest.raises(NotFound):
        incoming.run_action("bob", trigger_hook["id"])
    assert acted == [("scan", "alice", 1)]


def test_a_scan_trigger_requests_the_scan_job(alice: Caller, trigger_hook: dict[str, Any]) -> None:
    from tests.unit.test_deployments_api import job_requests, register_host

    register_host("alice", "local")
    done = _trigger(alice, trigger_hook["id"], trigger_hook["secret"])
    assert (done.status_code, body(done)["message"]) == (200, "Scan initiated for project 1")
    assert [j["function"] for j in job_requests("alice")] == ["workers.scan_jobs.scan_project"]
