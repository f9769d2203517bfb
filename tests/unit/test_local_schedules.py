"""Schedule emulation: rates and crons of `@app.schedule` handlers, EventBridge's event shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice import Chalice, Cron, Rate

from infra.local.schedules import ScheduleEmulator, next_run_function, scheduled_event

START = datetime(2026, 11, 27, 11, 0, 30, tzinfo=UTC)  # a Friday


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _emulator(
    schedules: list[tuple[str, Any]], clock: Clock
) -> tuple[ScheduleEmulator, list[tuple[str, Any]]]:
    calls: list[tuple[str, Any]] = []
    return ScheduleEmulator(schedules, lambda name, event: calls.append((name, event)), clock=clock), calls


def test_a_rate_fires_one_period_after_start_then_every_period() -> None:
    clock = Clock(START)
    emulator, calls = _emulator([("tick", "rate(1 minute)")], clock)
    assert emulator.fire_due() == []
    clock.advance(seconds=59)
    assert emulator.fire_due() == []
    clock.advance(seconds=1)
    assert emulator.fire_due() == ["tick"]
    assert emulator.fire_due() == []
    assert emulator.seconds_until_next() == 60
    clock.advance(seconds=60)
    assert emulator.fire_due() == ["tick"]
    assert [event["time"] for _, event in calls] == ["2026-11-27T11:01:30Z", "2026-11-27T11:02:30Z"]


def test_rates_in_hours_and_days_and_chalice_rate_objects() -> None:
    assert next_run_function("rate(2 hours)", START)(START) == START + timedelta(hours=2)
    assert next_run_function("rate(1 day)", START)(START) == START + timedelta(days=1)
    assert next_run_function(Rate(5, unit=Rate.MINUTES), START)(START) == START + timedelta(minutes=5)


def test_missed_runs_are_not_made_up() -> None:
    clock = Clock(START)
    emulator, calls = _emulator([("tick", "rate(1 minute)")], clock)
    clock.advance(minutes=5, seconds=10)
    assert emulator.fire_due() == ["tick"]
    assert emulator.fire_due() == []
    assert emulator.seconds_until_next() == 50
    assert len(calls) == 1


def test_cron_uses_eventbridge_fields_and_weekday_numbers() -> None:
    weekdays = next_run_function("cron(0 12 ? * MON-FRI *)", START)
    friday_noon = START.replace(hour=12, minute=0, second=0)
    assert weekdays(START) == friday_noon
    assert weekdays(friday_noon) == friday_noon + timedelta(days=3)  # Monday
    # EventBridge's 2 is Monday (1 is Sunday).
    assert next_run_function("cron(0 12 ? * 2 *)", START)(START) == friday_noon + timedelta(days=3)
    chalice_cron = Cron(15, 10, "*", "*", "?", "*")
    assert next_run_function(chalice_cron, START)(START) == START.replace(
        hour=10, minute=15, second=0
    ) + timedelta(days=1)


@pytest.mark.parametrize(
    "expression", ["rate(0 minutes)", "rate(1 fortnight)", "cron(0 12 * * ?)", "every day"]
)
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        next_run_function(expression, START)


def test_a_failing_handler_does_not_stop_the_others() -> None:
    clock = Clock(START)
    calls: list[str] = []

    def invoke(name: str, _event: dict[str, Any]) -> None:
        calls.append(name)
        if name == "bad":
            raise RuntimeError("boom")

    emulator = ScheduleEmulator([("bad", "rate(1 minute)"), ("good", "rate(1 minute)")], invoke, clock=clock)
    clock.advance(minutes=1)
    assert emulator.fire_due() == ["bad", "good"]
    clock.advance(minutes=1)
    assert emulator.fire_due() == ["bad", "good"]
    assert calls == ["bad", "good", "bad", "good"]


def test_the_event_has_eventbridges_scheduled_event_shape() -> None:
    event = scheduled_event("borgos-local-tick", START)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2026-11-27T11:00:30Z"
    assert event["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/borgos-local-tick"]
    assert event["detail"] == {}


def test_the_apps_schedule_handlers_are_found_and_called_as_lambda_would() -> None:
    from infra.local.triggers import invoker

    app = Chalice(app_name="sched")
    seen: list[Any] = []

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def every_minute(event: Any) -> None:
        seen.append(event)

    @app.route("/")
    def index() -> dict[str, str]:
        return {}

    clock = Clock(START)
    emulator = ScheduleEmulator.for_app(app, lambda name, event: invoker(app, name)(event), clock=clock)
    assert [s.name for s in emulator.schedules] == ["every_minute"]
    clock.advance(minutes=1)
    emulator.fire_due()
    (event,) = seen
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.resources == ["arn:aws:events:us-east-1:000000000000:rule/sched-local-every_minute"]
