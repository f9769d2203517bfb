"""The webhooks API: CRUD, validation (bad input changes nothing), target policy, toggle, test
deliveries through the job outbox, the attempt history, and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import reset_settings
from tests.unit.conftest import Caller, body

HOOK = {"url": "https://example.com/webhook", "events": ["project.created", "deployment.*"]}


@pytest.fixture(autouse=True)
def public_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """example.com resolves to public addresses without the network being asked."""
    from chalicelib.webhooks import targets

    real = targets.system_resolver
    monkeypatch.setattr(
        targets,
        "system_resolver",
        lambda host, port: ["93.184.215.14"] if host == "example.com" else real(host, port),
    )
    monkeypatch.delenv("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS", raising=False)
    reset_settings()


def _create(caller: Caller, **fields: Any) -> dict[str, Any]:
    response = caller.post("/api/v1/webhooks", {**HOOK, **fields})
    assert response.status_code == 201, response.body
    return dict(body(response))


def _count(caller: Caller) -> int:
    return int(caller.get("/api/v1/webhooks").headers["X-Total-Count"])


def test_create_returns_the_secret_once_and_reads_never_do(alice: Caller) -> None:
    created = _create(alice, secret="your-webhook-secret")
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["events"] == HOOK["events"]
    fetched = body(alice.get(f"/api/v1/webhooks/{created['id']}"))
    assert "secret" not in fetched
    assert fetched["url"] == HOOK["url"]
    listed = body(alice.get("/api/v1/webhooks"))
    assert [h["id"] for h in listed] == [created["id"]] and "secret" not in listed[0]
    envelope = body(alice.get("/api/v1/webhooks?limit=10"))
    assert envelope["pagination"]["total"] == 1


def test_a_generated_secret_when_none_is_given(alice: Caller) -> None:
    assert _create(alice)["secret"].startswith("whsec_")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**HOOK, "url": "ftp://example.com/x"}, "url"),
        ({**HOOK, "events": []}, "events"),
        ({**HOOK, "events": ["project..created"]}, "events"),
        ({**HOOK, "secret": "short"}, "secret"),
        ({**HOOK, "surprise": 1}, "surprise"),
        ({**HOOK, "action": {"type": "dance", "project_id": 1}}, "action.type"),
        ({"events": ["*"]}, "url"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(alice: Caller, payload: dict[str, Any], field: str) -> None:
    response = alice.post("/api/v1/webhooks", payload)
    assert response.status_code == 400
    error = body(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert any(d["field"] == field for d in error["details"]), error
    assert _count(alice) == 0


def test_private_targets_are_refused_unless_the_stage_allows_them(
    alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.7/"):
        response = alice.post("/api/v1/webhooks", {**HOOK, "url": url})
        assert response.status_code == 400
        assert body(response)["details"][0]["field"] == "url"
    assert _count(alice) == 0
    monkeypatch.setenv("BORGOS_ALLOW_PRIVATE_WEBHOOK_TARGETS", "true")
    reset_settings()
    assert _create(alice, url="http://127.0.0.1:9/hook")["url"] == "http://127.0.0.1:9/hook"


def test_patch_changes_only_what_is_sent_and_bad_patches_change_nothing(alice: Caller) -> None:
    created = _create(alice, description="ops")
    path = f"/api/v1/webhooks/{created['id']}"
    changed = body(alice.patch(path, {"events": ["error.critical"]}))
    assert changed["events"] == ["error.critical"] and changed["description"] == "ops"
    assert "secret" not in changed
    bad_patches: list[dict[str, Any]] = [{"events": []}, {"url": None}, {}, {"url": "http://127.0.0.1/"}]
    for bad in bad_patches:
        response = alice.patch(path, bad)
        assert response.status_code == 400, bad
    assert body(alice.get(path))["events"] == ["error.critical"]
    assert body(alice.get(path))["url"] == HOOK["url"]
    rotated = body(alice.patch(path, {"secret": "a-brand-new-secret-value"}))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]


def test_toggle_flips_and_reenabling_clears_the_failure_state(alice: Caller) -> None:
    from chalicelib.store import keys
    from chalicelib.store.table import get_store

    created = _create(alice)
    path = f"/api/v1/webhooks/{created['id']}"
    assert body(alice.post(f"{path}/toggle"))["enabled"] is False
    item_key = (keys.tenant_pk("alice"), keys.entity_sk("WEBHOOK", created["id"]))
    store = get_store()
    store.put({**store.get(*item_key), "failing_since": "2024-01-01T00:00:00Z", "disabled_reason": "410"})  # type: ignore[dict-item]
    toggled = body(alice.post(f"{path}/toggle"))
    assert toggled["enabled"] is True
    assert toggled["failing_since"] is None and toggled["disabled_reason"] is None


def test_delete_and_tenant_isolation(alice: Caller, bob: Caller) -> None:
    created = _create(alice)
    path = f"/api/v1/webhooks/{created['id']}"
    for response in (
        bob.get(path),
        bob.delete(path),
        bob.post(f"{path}/toggle"),
        bob.get(f"{path}/deliveries"),
    ):
        assert response.status_code == 404
    assert body(bob.get("/api/v1/webhooks")) == []
    assert alice.delete(path).status_code == 204
    assert alice.get(path).status_code == 404
    assert _count(alice) == 0


def test_the_test_endpoint_requests_one_delivery_job_and_refuses_disabled_hooks(alice: Caller) -> None:
    from chalicelib.store import keys
    from chalicelib.store.table import get_store

    created = _create(alice)
    response = alice.post(f"/api/v1/webhooks/{created['id']}/test")
    assert response.status_code == 202
    queued = body(response)
    jobs = get_store().query_page(pk=keys.tenant_pk("alice"), sk_prefix="JOB#", limit=10).items
    (job,) = jobs
    assert job["function"] == "workers.webhook_jobs.deliver"
    assert job["kwargs"]["message"]["id"] == queued["message_id"]
    assert job["kwargs"]["message"]["type"] == "webhook.test"
    alice.post(f"/api/v1/webhooks/{created['id']}/toggle")
    assert alice.post(f"/api/v1/webhooks/{created['id']}/test").status_code == 409


def test_reading_needs_a_token_and_writing_needs_the_write_scope(client: Any) -> None:
    from tests.unit.conftest import issue

    reader = Caller(client, issue("alice", ["read"]))
    assert Caller(client, "borg_wrong").get("/api/v1/webhooks").status_code == 401
    assert reader.get("/api/v1/webhooks").status_code == 200
    assert reader.post("/api/v1/webhooks", HOOK).status_code == 403
