"""The /api/v1/scheduler/tasks endpoints: shapes, validation that stores nothing, tenants,
toggle, run now, history and deletion. Time is a manual clock; the tick is called directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import scheduler_tick
from tests.support.scheduler import install_clock, items, jobs, run_events, runs
from tests.unit.conftest import Caller, body

BASE = "/api/v1/scheduler/tasks"
START = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    return install_clock(monkeypatch, START)


def task(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "nightly-scan",
        "cron": "30 2 * * *",
        "tz": "Europe/Berlin",
        "action": {"type": "scan", "project_id": 1},
        **overrides,
    }


def create(caller: Caller, **overrides: Any) -> dict[str, Any]:
    response = caller.post(BASE, task(**overrides))
    assert response.status_code == 201, response.body
    return body(response)


def test_create_shows_the_task_and_its_next_run(clock: Any, alice: Caller) -> None:
    response = alice.post(BASE, task())
    created = body(response)
    assert response.status_code == 201
    assert response.headers["Location"] == f"{BASE}/{created['id']}"
    assert created == {
        "id": 1,
        "name": "nightly-scan",
        "cron": "30 2 * * *",
        "tz": "Europe/Berlin",
        "action": {"type": "scan", "project_id": 1},
        "enabled": True,
        "retry": {"max_retries": 0, "backoff_seconds": 60, "max_backoff_seconds": 3600},
        "catch_up": {"mode": "latest", "max_runs": 10},
        # 02:30 does not exist in Berlin on 31 March 2024: it runs at 03:00 CEST.
        "next_run_at": "2024-03-31T01:00:00Z",
        "created_at": "2024-03-30T12:00:00Z",
        "updated_at": "2024-03-30T12:00:00Z",
    }
    assert body(alice.get(f"{BASE}/1")) == created
    assert body(alice.get(BASE)) == [created]


@pytest.mark.parametrize(
    ("zone", "spring_day", "spring_run", "autumn_day", "autumn_run", "after_autumn"),
    [
        # Spring forward: 02:30 is in the gap and runs once at the end of the gap (03:00 CEST).
        # Fall back: 02:30 happens twice in Berlin and runs at its first occurrence (CEST) only.
        ("Europe/Berlin", "2024-03-30", "2024-03-31T01:00:00Z", "2024-10-26", "2024-10-27T00:30:00Z",
         "2024-10-28T01:30:00Z"),
        # New York: 02:30 EDT does not exist on 10 March; on 3 November 02:30 happens once (EST).
        ("America/New_York", "2024-03-09", "2024-03-10T07:00:00Z", "2024-11-02", "2024-11-03T07:30:00Z",
         "2024-11-04T07:30:00Z"),
    ],
)  # fmt: skip
def test_next_run_across_dst_in_two_zones(
    clock: Any,
    alice: Caller,
    zone: str,
    spring_day: str,
    spring_run: str,
    autumn_day: str,
    autumn_run: str,
    after_autumn: str,
) -> None:
    for task_id, (day, due) in enumerate(((spring_day, spring_run), (autumn_day, autumn_run)), start=1):
        clock.set(datetime.fromisoformat(f"{day}T12:00:00+00:00"))
        assert create(alice, tz=zone)["next_run_at"] == due
        # Ticks before the instant queue nothing; the tick at the instant queues exactly that run.
        clock.set(datetime.fromisoformat(due) - timedelta(minutes=1))
        assert scheduler_tick.tick(clock()).runs == 0
        clock.advance(timedelta(minutes=1))
        assert scheduler_tick.tick(clock()).runs == 1
        assert [r["scheduled_at"] for r in runs("alice", task_id)] == [due.replace("Z", ".000000Z")]
        if task_id == 1:
            alice.delete(f"{BASE}/1")  # the same job in the autumn: task 2 alone from here
    # Through the repeated hour in autumn, the daily run does not come again.
    for _ in range(6):
        clock.advance(timedelta(minutes=30))
        assert scheduler_tick.tick(clock()).runs == 0
    assert body(alice.get(f"{BASE}/2"))["next_run_at"] == after_autumn


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "0 25 * * *"}, "cron"),
        ({"cron": "@daily"}, "cron"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"name": "no spaces"}, "name"),
        ({"action": {"type": "scan"}}, "action.scan.project_id"),
        ({"action": {"type": "webhook", "url": "ftp://example.com"}}, "action.webhook.url"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    clock: Any, alice: Caller, change: dict[str, Any], field: str
) -> None:
    response = alice.post(BASE, task(**change))
    error = body(response)
    assert response.status_code == 400
    assert error["code"] == "VALIDATION_ERROR"
    assert field in [d["field"] for d in error["details"]]
    assert body(alice.get(BASE)) == []
    assert items("alice", "SCHEDTASK#") == []


def test_timezone_spelling_is_named_as_sent(clock: Any, alice: Caller) -> None:
    payload = task()
    del payload["tz"]
    payload["timezone"] = "Mars/Olympus"
    error = body(alice.post(BASE, payload))
    assert error["details"] == [{"field": "timezone", "problem": "unknown time zone 'Mars/Olympus'"}]


def test_bad_update_changes_nothing(clock: Any, alice: Caller) -> None:
    before = create(alice)
    for change, field in (
        ({"cron": "61 * * * *"}, "cron"),
        ({"tz": "Nowhere/Special"}, "tz"),
        ({"name": None}, "name"),
        ({}, "body"),
    ):
        response = alice.put(f"{BASE}/1", change)
        assert response.status_code == 400, change
        assert [d["field"] for d in body(response)["details"]] == [field]
    assert body(alice.get(f"{BASE}/1")) == before


def test_update_reschedules_from_now(clock: Any, alice: Caller) -> None:
    create(alice)
    clock.advance(timedelta(minutes=5))
    response = alice.put(f"{BASE}/1", {"cron": "0 9 * * 1-5", "tz": "America/New_York", "name": "weekday"})
    updated = body(response)
    assert response.status_code == 200
    assert (updated["name"], updated["cron"], updated["tz"]) == ("weekday", "0 9 * * 1-5", "America/New_York")
    assert updated["next_run_at"] == "2024-04-01T13:00:00Z"  # Monday 09:00 EDT
    assert updated["updated_at"] == "2024-03-30T12:05:00Z"


def test_tenants_see_only_their_own(clock: Any, alice: Caller, bob: Caller) -> None:
    create(alice)
    assert body(bob.get(BASE)) == []
    for response in (
        bob.get(f"{BASE}/1"),
        bob.put(f"{BASE}/1", {"name": "mine"}),
        bob.post(f"{BASE}/1/toggle", {"enabled": False}),
        bob.post(f"{BASE}/1/run"),
        bob.get(f"{BASE}/1/runs"),
        bob.delete(f"{BASE}/1"),
    ):
        assert response.status_code == 404
        assert body(response)["code"] == "NOT_FOUND"
    assert body(alice.get(f"{BASE}/1"))["name"] == "nightly-scan"
    assert runs("alice", 1) == []


def test_toggle_off_and_on_skips_the_disabled_interval(clock: Any, alice: Caller) -> None:
    create(alice, cron="*/10 * * * *", tz="UTC", catch_up="all")
    off = alice.post(f"{BASE}/1/toggle", {"enabled": False})
    assert off.status_code == 200
    assert (body(off)["enabled"], body(off)["next_run_at"]) == (False, None)
    clock.advance(timedelta(hours=1))
    assert scheduler_tick.tick(clock()).runs == 0
    on = body(alice.post(f"{BASE}/1/toggle", {"enabled": True}))
    assert (on["enabled"], on["next_run_at"]) == (True, "2024-03-30T13:10:00Z")
    clock.advance(timedelta(minutes=10))
    assert scheduler_tick.tick(clock()).runs == 1
    # Nothing from the disabled hour is replayed, even with catch-up "all".
    assert [r["scheduled_at"] for r in runs("alice", 1)] == ["2024-03-30T13:10:00.000000Z"]
    assert alice.post(f"{BASE}/1/toggle", {"enabled": "no"}).status_code == 400


def test_run_now_queues_a_manual_run_with_its_job_and_event(clock: Any, alice: Caller) -> None:
    create(alice)
    response = alice.post(f"{BASE}/1/run")
    run = body(response)
    assert response.status_code == 202
    assert run["trigger"] == "manual"
    assert run["status"] == "pending"
    assert run["scheduled_at"] == "2024-03-30T12:00:00Z"
    assert run["id"].startswith("1#2024-03-30T12:00:00.000000Z#manual-req_")
    [job] = jobs("alice")
    assert job["function"] == "workers.scheduler_jobs.run_scheduled"
    assert job["kwargs"] == {"tenant": "alice", "task_id": 1, "run_key": run["id"]}
    [event] = run_events("alice")
    assert (event["channel"], event["name"], event["data"]["id"]) == ("tasks", "task_run.pending", run["id"])
    # The schedule is untouched: the nightly run is still next.
    assert body(alice.get(f"{BASE}/1"))["next_run_at"] == "2024-03-31T01:00:00Z"
    # Two requests in the same microsecond are two runs.
    alice.post(f"{BASE}/1/run")
    assert len(runs("alice", 1)) == 2


def test_history_is_newest_first_and_paginated(clock: Any, alice: Caller) -> None:
    create(alice, cron="*/5 * * * *", tz="UTC")
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        scheduler_tick.tick(clock())
    alice.post(f"{BASE}/1/run")
    history = body(alice.get(f"{BASE}/1/runs"))
    assert [(r["trigger"], r["scheduled_at"]) for r in history] == [
        ("manual", "2024-03-30T12:15:00Z"),
        ("schedule", "2024-03-30T12:15:00Z"),
        ("schedule", "2024-03-30T12:10:00Z"),
        ("schedule", "2024-03-30T12:05:00Z"),
    ]
    assert set(history[0]) == {
        "id", "task_id", "trigger", "scheduled_at", "started_at", "finished_at", "status",
        "attempt", "next_retry_at", "output", "error",
    }  # fmt: skip
    first = body(alice.get(f"{BASE}/1/runs?limit=3"))
    assert first["pagination"]["total"] == 4
    assert first["pagination"]["has_more"] is True
    second = body(alice.get(f"{BASE}/1/runs?limit=3&cursor={first['pagination']['next_cursor']}"))
    assert [r["id"] for r in first["data"] + second["data"]] == [r["id"] for r in history]
    assert second["pagination"]["has_more"] is False


def test_delete_removes_the_task_and_its_history(clock: Any, alice: Caller) -> None:
    create(alice)
    alice.post(f"{BASE}/1/run")
    assert alice.delete(f"{BASE}/1").status_code == 204
    assert alice.get(f"{BASE}/1").status_code == 404
    assert alice.delete(f"{BASE}/1").status_code == 404
    assert items("alice", "SCHEDRUN#") == []
    assert body(alice.get(BASE)) == []
    # Nothing of it is due any more.
    clock.advance(timedelta(days=2))
    assert scheduler_tick.tick(clock()).runs == 0


def test_webhook_secret_is_shown_once(clock: Any, alice: Caller) -> None:
    created = create(alice, action={"type": "webhook", "url": "https://example.com/hook"})
    secret = created["action"]["secret"]
    assert secret.startswith("whsec_") and secret != "whsec_********"
    assert body(alice.get(f"{BASE}/1"))["action"]["secret"] == "whsec_********"
    updated = body(alice.put(f"{BASE}/1", {"name": "renamed"}))
    assert updated["action"]["secret"] == "whsec_********"
    [item] = items("alice", "SCHEDTASK#0")
    assert item["action"]["secret"] == secret
    # A new URL without a secret gets a new generated one, shown in that answer.
    moved = body(alice.put(f"{BASE}/1", {"action": {"type": "webhook", "url": "https://example.org/h"}}))
    assert moved["action"]["secret"] not in (secret, "whsec_********")
    assert moved["action"]["secret"].startswith("whsec_")
    assert body(alice.get(f"{BASE}/1"))["action"] == {
        "type": "webhook",
        "url": "https://example.org/h",
        "secret": "whsec_********",
        "payload": {},
    }


def test_the_tick_handler_and_the_routes_are_wired(clock: Any, alice: Caller, client: Any) -> None:
    create(alice, cron="*/5 * * * *", tz="UTC")
    clock.advance(timedelta(minutes=5))
    client.lambda_.invoke(
        "scheduler_tick", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    )
    assert [r["trigger"] for r in body(alice.get(f"{BASE}/1/runs"))] == ["schedule"]
    paths = body(alice.get("/openapi.json"))["paths"]
    assert {
        f"{BASE}",
        f"{BASE}/{{id}}",
        f"{BASE}/{{id}}/toggle",
        f"{BASE}/{{id}}/run",
        f"{BASE}/{{id}}/runs",
    } <= set(paths)


def test_scopes(clock: Any, client: Any) -> None:
    from tests.unit.conftest import issue

    reader = Caller(client, issue("carol", ["read"]))
    assert reader.post(BASE, task()).status_code == 403
    assert reader.get(BASE).status_code == 200
