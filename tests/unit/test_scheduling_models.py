"""Request models of /api/v1/scheduler/tasks: defaults, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.scheduling import (
    AgentTaskAction,
    CatchUpPolicy,
    DeploymentAction,
    RetryPolicy,
    ScanAction,
    SchedulerTaskCreate,
    SchedulerTaskUpdate,
    SchedulerToggle,
    WebhookAction,
)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "nightly-scan",
        "cron": "0 2 * * *",
        "tz": "Europe/Berlin",
        "action": {"type": "scan", "project_id": 1},
    }
    base.update(overrides)
    return base


def problems(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    """Dotted field path -> message, as the API's error details show them."""
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.value.errors(include_url=False)}


def test_defaults() -> None:
    task = SchedulerTaskCreate.model_validate(body())
    assert task.enabled is True
    assert task.retry == RetryPolicy(max_retries=0, backoff_seconds=60, max_backoff_seconds=3600)
    assert task.catch_up == CatchUpPolicy(mode="latest", max_runs=10)
    no_tz = body()
    del no_tz["tz"]
    assert SchedulerTaskCreate.model_validate(no_tz).tz == "UTC"


def test_cron_is_normalised() -> None:
    assert SchedulerTaskCreate.model_validate(body(cron="  0   2 * *  1-5 ")).cron == "0 2 * * 1-5"


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "@daily", "0 0 30 2 *", 5, None])
def test_invalid_cron_names_only_the_cron_field(cron: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(cron=cron))
    assert list(problems(caught)) == ["cron"]


def test_cron_message_says_what_is_wrong() -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(cron="0 25 * * *"))
    assert problems(caught)["cron"] == "invalid hour field '25'"


def test_unknown_tz_names_the_field_the_client_used() -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(tz="Mars/Olympus"))
    assert problems(caught) == {"tz": "unknown time zone 'Mars/Olympus'"}
    other = body()
    del other["tz"]
    other["timezone"] = "Mars/Olympus"
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(other)
    assert list(problems(caught)) == ["timezone"]


def test_timezone_is_accepted_as_an_alias_of_tz() -> None:
    data = body()
    data["timezone"] = data.pop("tz")
    assert SchedulerTaskCreate.model_validate(data).tz == "Europe/Berlin"
    assert "timezone" not in SchedulerTaskCreate.model_validate(data).model_dump()


def test_both_cron_and_tz_wrong_are_both_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(cron="x", tz="Nowhere"))
    assert set(problems(caught)) == {"cron", "tz"}


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "under_score", "dot.name", "ümlaut"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(name=name))
    assert list(problems(caught)) == ["name"]


@pytest.mark.parametrize("name", ["a", "daily-check", "A1-b2", "x" * 64])
def test_good_names(name: str) -> None:
    assert SchedulerTaskCreate.model_validate(body(name=name)).name == name


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ({"type": "scan", "project_id": 3}, ScanAction),
        ({"type": "deploy", "deployment_id": 4}, DeploymentAction),
        ({"type": "restart", "deployment_id": 4}, DeploymentAction),
        ({"type": "webhook", "webhook_id": 9}, WebhookAction),
        (
            {
                "type": "agent_task",
                "project_id": 1,
                "agent_type": "agent-zero",
                "task_type": "automation",
                "description": "Monitor system logs and alert on errors",
                "priority": 1,
                "input_data": {"log_paths": ["/var/log/app.log"], "alert_threshold": 5},
            },
            AgentTaskAction,
        ),
    ],
)
def test_actions(action: dict[str, Any], kind: type) -> None:
    task = SchedulerTaskCreate.model_validate(body(action=action))
    assert isinstance(task.action, kind)
    assert task.model_dump()["action"] == {**task.action.model_dump(), "type": action["type"]}


def test_agent_task_defaults() -> None:
    task = SchedulerTaskCreate.model_validate(
        body(action={"type": "agent_task", "project_id": 1, "task_type": "automation", "description": "d"})
    )
    assert isinstance(task.action, AgentTaskAction)
    assert (task.action.agent_type, task.action.priority, task.action.input_data) == ("agent-zero", 1, {})


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"type": "scan"}, "action.scan.project_id"),
        ({"type": "scan", "project_id": 0}, "action.scan.project_id"),
        ({"type": "deploy", "project_id": 1}, "action.deploy.deployment_id"),
        ({"type": "webhook", "webhook_id": 1, "url": "http://x"}, "action.webhook.url"),
        ({"type": "agent_task", "project_id": 1, "description": "d"}, "action.agent_task.task_type"),
        ({"type": "shell", "command": "rm -rf /"}, "action"),
        ({"project_id": 1}, "action"),
    ],
)
def test_bad_actions_name_the_field(action: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(action=action))
    assert field in problems(caught)


@pytest.mark.parametrize(
    ("retry", "field"),
    [
        ({"max_retries": 11}, "retry.max_retries"),
        ({"max_retries": -1}, "retry.max_retries"),
        ({"backoff_seconds": 0}, "retry.backoff_seconds"),
        ({"backoff_seconds": 3601}, "retry.backoff_seconds"),
        ({"backoff_seconds": 600, "max_backoff_seconds": 60}, "retry.max_backoff_seconds"),
        ({"max_attempts": 3}, "retry.max_attempts"),
    ],
)
def test_bad_retry_names_the_field(retry: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(retry=retry))
    assert list(problems(caught)) == [field]


def test_retry_bounds_accepted() -> None:
    task = SchedulerTaskCreate.model_validate(
        body(retry={"max_retries": 10, "backoff_seconds": 3600, "max_backoff_seconds": 3600})
    )
    assert task.retry.max_retries == 10


def test_catch_up_accepts_a_bare_mode() -> None:
    assert SchedulerTaskCreate.model_validate(body(catch_up="all")).catch_up == CatchUpPolicy(mode="all")
    full = SchedulerTaskCreate.model_validate(body(catch_up={"mode": "all", "max_runs": 3}))
    assert full.catch_up.max_runs == 3


@pytest.mark.parametrize(
    ("catch_up", "field"),
    [("sometimes", "catch_up.mode"), ({"mode": "all", "max_runs": 0}, "catch_up.max_runs"), (5, "catch_up")],
)
def test_bad_catch_up(catch_up: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(catch_up=catch_up))
    assert list(problems(caught)) == [field]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskCreate.model_validate(body(schedule="0 2 * * *"))
    assert list(problems(caught)) == ["schedule"]


def test_enabled_must_be_a_real_boolean() -> None:
    with pytest.raises(ValidationError):
        SchedulerTaskCreate.model_validate(body(enabled="yes"))
    with pytest.raises(ValidationError) as caught:
        SchedulerToggle.model_validate({"enabled": 1})
    assert list(problems(caught)) == ["enabled"]
    with pytest.raises(ValidationError):
        SchedulerToggle.model_validate({})
    assert SchedulerToggle.model_validate({"enabled": False}).enabled is False


# --- updates ------------------------------------------------------------------------------------------


def test_update_changes_only_what_is_sent() -> None:
    current = SchedulerTaskCreate.model_validate(body())
    update = SchedulerTaskUpdate.model_validate({"cron": "0  3 * * *", "retry": {"max_retries": 2}})
    after = update.apply_to(current)
    assert after.cron == "0 3 * * *"
    assert after.retry == RetryPolicy(max_retries=2)
    assert (after.name, after.tz, after.action, after.catch_up) == (
        current.name,
        current.tz,
        current.action,
        current.catch_up,
    )
    assert update.changes_schedule(current)
    assert not SchedulerTaskUpdate.model_validate({"enabled": False}).changes_schedule(current)
    assert SchedulerTaskUpdate.model_validate({"timezone": "America/New_York"}).changes_schedule(current)


def test_update_validates_like_create() -> None:
    for data, field in [
        ({"cron": "0 0 * *"}, "cron"),
        ({"tz": "Nowhere"}, "tz"),
        ({"timezone": "Nowhere"}, "timezone"),
        ({"name": "bad name"}, "name"),
        ({"action": {"type": "scan"}}, "action.scan.project_id"),
    ]:
        with pytest.raises(ValidationError) as caught:
            SchedulerTaskUpdate.model_validate(data)
        assert field in problems(caught), data


@pytest.mark.parametrize("field", ["name", "cron", "tz", "action", "enabled", "retry", "catch_up"])
def test_update_refuses_explicit_nulls(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SchedulerTaskUpdate.model_validate({field: None})
    assert problems(caught) == {field: "must not be null"}


def test_empty_update_changes_nothing() -> None:
    current = SchedulerTaskCreate.model_validate(body())
    assert SchedulerTaskUpdate.model_validate({}).apply_to(current) == current
