"""Idempotency-Key on POST (conventions): the same key and request replay the first answer, another
request under the key is 422, a retry while the first runs is 409; keys belong to a tenant."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from chalicelib import clock, idempotency
from chalicelib.store import keys
from chalicelib.store.table import get_store
from tests.unit.conftest import Caller, body

NEW = {"name": "Once", "path": "/projects/once", "tech_stack": ["python"]}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def table_items() -> list[dict[str, Any]]:
    """Everything in the table but the rate limiter's state (every request updates that)."""
    store = get_store()
    items = store.client.scan(TableName=store.table)["Items"]
    return sorted((i for i in items if not i["PK"]["S"].startswith("RL#")), key=lambda i: json.dumps(i))


def project_total(caller: Caller) -> int:
    return int(caller.get("/api/v1/projects").headers["X-Total-Count"])


def fingerprint_of_create(payload: dict[str, Any]) -> str:
    """The fingerprint of `Caller.post("/api/v1/projects", payload)`."""
    return idempotency.fingerprint("POST", "/api/v1/projects?", json.dumps(payload).encode())


def test_a_retry_replays_the_first_answer_and_creates_nothing(alice: Caller) -> None:
    first = alice.post("/api/v1/projects", NEW, key("create-once"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = alice.post("/api/v1/projects", NEW, key("create-once"))
    assert again.status_code == 201
    assert again.body == first.body
    assert body(again)["id"] == 1
    assert again.headers["Location"] == first.headers["Location"] == "/api/v1/projects/1"
    assert again.headers["Content-Type"] == "application/json"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert "X-RateLimit-Remaining" in again.headers
    assert project_total(alice) == 1


def test_the_record_is_kept_for_a_day(alice: Caller) -> None:
    before = int(clock.epoch())
    alice.post("/api/v1/projects", NEW, key("ttl"))
    record = get_store().get(keys.tenant_pk("alice"), keys.idempotency_sk("ttl"))
    assert record is not None and record["state"] == "done" and record["status"] == 201
    assert before + idempotency.RETENTION_SECONDS <= record["expires_at"] <= int(clock.epoch()) + 86400
    assert "X-RateLimit-Remaining" not in record["headers"] and "X-Request-Id" not in record["headers"]


def test_client_errors_are_replayed_too(alice: Caller) -> None:
    error = {"project_id": 1, "error_type": "runtime", "severity": "error", "message": "m"}
    assert alice.post("/api/v1/errors", error, key("err-1")).status_code == 404
    alice.post("/api/v1/projects", NEW)
    replayed = alice.post("/api/v1/errors", error, key("err-1"))
    assert replayed.status_code == 404 and body(replayed)["code"] == "NOT_FOUND"
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert alice.post("/api/v1/errors", error, key("err-2")).status_code == 201


def test_the_same_key_with_another_body_is_422_and_writes_nothing(alice: Caller) -> None:
    alice.post("/api/v1/projects", NEW, key("k"))
    before = table_items()
    response = alice.post("/api/v1/projects", {**NEW, "name": "Other"}, key("k"))
    assert response.status_code == 422
    assert body(response)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert body(response)["request_id"] == response.headers["X-Request-Id"]
    assert table_items() == before


def test_the_same_key_on_another_path_is_422(alice: Caller) -> None:
    assert alice.post("/api/v1/deployments/1/stop", None, key("k")).status_code == 404
    response = alice.post("/api/v1/deployments/2/stop", None, key("k"))
    assert response.status_code == 422 and body(response)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert alice.post("/api/v1/deployments/1/stop", None, key("k")).headers["Idempotent-Replayed"] == "true"


def test_a_retry_while_the_first_runs_is_409_and_writes_nothing(alice: Caller) -> None:
    idempotency.claim("alice", "busy", fingerprint_of_create(NEW))
    before = table_items()
    response = alice.post("/api/v1/projects", NEW, key("busy"))
    assert response.status_code == 409
    assert body(response)["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert table_items() == before
    other = alice.post("/api/v1/projects", {**NEW, "name": "Other"}, key("busy"))
    assert other.status_code == 422


def test_an_expired_lease_is_taken_over_and_the_stale_claim_cannot_overwrite(
    alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = idempotency.claim("alice", "crashed", fingerprint_of_create(NEW))
    assert isinstance(stale, idempotency.Claim)
    later = clock.epoch() + idempotency.LEASE_SECONDS + 1
    monkeypatch.setattr(clock, "epoch", lambda: later)
    response = alice.post("/api/v1/projects", NEW, key("crashed"))
    assert response.status_code == 201
    idempotency.settle(stale, idempotency.StoredResponse(201, '{"stale": true}', {}))
    idempotency.release(stale)
    replayed = alice.post("/api/v1/projects", NEW, key("crashed"))
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.body == response.body
    assert project_total(alice) == 1


def test_an_expired_lease_is_not_taken_over_by_another_request(
    alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    idempotency.claim("alice", "crashed", fingerprint_of_create(NEW))
    later = clock.epoch() + idempotency.LEASE_SECONDS + 1
    monkeypatch.setattr(clock, "epoch", lambda: later)
    response = alice.post("/api/v1/projects", {**NEW, "name": "Other"}, key("crashed"))
    assert response.status_code == 422


def test_a_server_error_releases_the_key_for_a_retry(alice: Caller, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import projects

    original = projects.create_project

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(projects, "create_project", broken)
    failed = alice.post("/api/v1/projects", NEW, key("retry-me"))
    assert failed.status_code == 500 and body(failed)["code"] == "INTERNAL"
    assert get_store().get(keys.tenant_pk("alice"), keys.idempotency_sk("retry-me")) is None
    monkeypatch.setattr(projects, "create_project", original)
    retried = alice.post("/api/v1/projects", NEW, key("retry-me"))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert project_total(alice) == 1


def test_an_answer_too_large_to_keep_releases_the_key(aws: None) -> None:
    held = idempotency.claim("alice", "big", "fp")
    assert isinstance(held, idempotency.Claim)
    too_large = "x" * (idempotency.MAX_STORED_BODY_BYTES + 1)
    idempotency.settle(held, idempotency.StoredResponse(200, too_large, {}))
    assert get_store().get(keys.tenant_pk("alice"), keys.idempotency_sk("big")) is None
    assert isinstance(idempotency.claim("alice", "big", "fp"), idempotency.Claim)


@pytest.mark.parametrize("bad", ["", "x" * 256, "tab\there", "clé", "new\nline"])
def test_a_bad_key_is_400_and_writes_nothing(alice: Caller, bad: str) -> None:
    before = table_items()
    response = alice.post("/api/v1/projects", NEW, key(bad))
    assert response.status_code == 400
    assert body(response)["code"] == "VALIDATION_ERROR"
    assert body(response)["details"][0]["field"] == "Idempotency-Key"
    assert table_items() == before


def test_a_key_of_255_printable_characters_is_accepted(alice: Caller) -> None:
    assert alice.post("/api/v1/projects", NEW, key("~ a#Z" * 51)).status_code == 201


def test_keys_belong_to_a_tenant(alice: Caller, bob: Caller) -> None:
    mine = alice.post("/api/v1/projects", NEW, key("shared"))
    theirs = bob.post("/api/v1/projects", {**NEW, "name": "Bob's"}, key("shared"))
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert body(theirs)["name"] == "Bob's"
    assert alice.post("/api/v1/projects", NEW, key("shared")).body == mine.body
    assert project_total(alice) == project_total(bob) == 1


def test_requests_without_a_key_are_not_deduplicated(alice: Caller) -> None:
    ids = [body(alice.post("/api/v1/projects", NEW))["id"] for _ in range(2)]
    assert ids == [1, 2]
    assert not [i for i in table_items() if i["SK"]["S"].startswith("IDEM#")]


def test_an_invalid_body_under_a_key_is_not_kept(alice: Caller) -> None:
    assert alice.post("/api/v1/projects", {"name": ""}, key("fix-me")).status_code == 400
    assert alice.post("/api/v1/projects", NEW, key("fix-me")).status_code == 201


def dynamodb_calls(send: Any) -> Counter[str]:
    """The DynamoDB operations one request makes (authentication and rate limit included)."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events = get_store().client.meta.events
    events.register("before-call.dynamodb.*", count)
    try:
        send()
    finally:
        events.unregister("before-call.dynamodb.*", count)
    return calls


def test_a_key_costs_two_puts_and_a_replay_one(alice: Caller) -> None:
    plain = dynamodb_calls(lambda: alice.post("/api/v1/projects", NEW))
    assert plain == Counter(GetItem=1, UpdateItem=1, TransactWriteItems=1)
    keyed = dynamodb_calls(lambda: alice.post("/api/v1/projects", NEW, key("cost")))
    assert keyed == plain + Counter(PutItem=2)
    replayed = dynamodb_calls(lambda: alice.post("/api/v1/projects", NEW, key("cost")))
    assert replayed == Counter(GetItem=1, UpdateItem=1, PutItem=1)
    conflict = dynamodb_calls(lambda: alice.post("/api/v1/projects", {**NEW, "name": "x"}, key("cost")))
    assert conflict == Counter(GetItem=1, UpdateItem=1, PutItem=1)
