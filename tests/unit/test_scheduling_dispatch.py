"""Due runs per tick, driven by an injected clock: exactly-once keys, late ticks, catch-up, toggles."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.scheduling import (
    LATE_TOLERANCE,
    CatchUpPolicy,
    DueRun,
    InvalidCron,
    ManualClock,
    TaskSchedule,
    UnknownTimeZone,
    due_runs,
    manual_run,
    run_key,
)

MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@dataclass
class RunTable:
    """In-memory stand-in for the table's conditional put: a key is written at most once."""

    runs: dict[str, DueRun] = field(default_factory=dict)
    refused: int = 0

    def put_if_absent(self, run: DueRun) -> bool:
        if run.key in self.runs:
            self.refused += 1
            return False
        self.runs[run.key] = run
        return True

    def times(self) -> list[datetime]:
        return sorted(run.scheduled_at for run in self.runs.values())


def tick(table: RunTable, state: TaskSchedule, now: datetime) -> TaskSchedule:
    plan = due_runs(state, now)
    for run in plan.runs:
        table.put_if_absent(run)
    return plan.state


def run_ticks(table: RunTable, state: TaskSchedule, clock: ManualClock, until: datetime) -> TaskSchedule:
    """One tick a minute, each arriving 7 seconds after the minute, as EventBridge would."""
    while clock() < until:
        clock.advance(MINUTE)
        state = tick(table, state, clock())
    return state


def task(cron: str, tz: str = "UTC", created: datetime | None = None, **kwargs: object) -> TaskSchedule:
    return TaskSchedule.new("42", cron, tz, created or utc(2024, 1, 1), **kwargs)  # type: ignore[arg-type]


# --- ticks across DST, driven by the clock ------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        ("Europe/Berlin", (2024, 3, 31), [utc(2024, 3, 31, 1, 0)]),  # 03:00 CEST, after the gap
        ("Europe/Berlin", (2024, 10, 27), [utc(2024, 10, 27, 0, 30)]),  # first 02:30 (CEST)
        ("America/New_York", (2024, 3, 10), [utc(2024, 3, 10, 7, 0)]),  # 03:00 EDT, after the gap
        ("America/New_York", (2024, 11, 3), [utc(2024, 11, 3, 7, 30)]),  # 02:30 EST
    ],
)
def test_minute_ticks_run_a_0230_job_once_on_dst_days(
    tz: str, day: tuple[int, int, int], expected: list[datetime]
) -> None:
    start = utc(*day) - timedelta(hours=12)
    clock = ManualClock(start + timedelta(seconds=7))
    table = RunTable()
    run_ticks(table, task("30 2 * * *", tz, created=start), clock, start + timedelta(hours=36))
    assert [t for t in table.times() if t.date() == expected[0].date()] == expected
    assert all(run.trigger == "schedule" for run in table.runs.values())


def test_minute_ticks_run_an_interval_job_on_every_real_instant_of_a_25_hour_day() -> None:
    start = utc(2024, 11, 3, 4)  # 00:00 EDT
    clock = ManualClock(start + timedelta(seconds=7))
    table = RunTable()
    run_ticks(table, task("*/30 * * * *", "America/New_York", created=start), clock, utc(2024, 11, 4, 5))
    assert len(table.times()) == 50
    assert table.times() == [start + timedelta(minutes=30 * i) for i in range(1, 51)]
    assert table.refused == 0


# --- exactly once -------------------------------------------------------------------------------------


def test_overlapping_ticks_produce_the_same_keys_and_each_run_is_written_once() -> None:
    state = task("* * * * *", created=utc(2024, 5, 1, 10, 0))
    first = due_runs(state, utc(2024, 5, 1, 10, 5, 10))
    second = due_runs(state, utc(2024, 5, 1, 10, 6, 2))  # started before the first one stored its cursor
    assert {r.key for r in first.runs} < {r.key for r in second.runs}
    table = RunTable()
    for run in (*first.runs, *second.runs):
        table.put_if_absent(run)
    assert table.times() == [utc(2024, 5, 1, 10, m) for m in range(1, 7)]
    assert table.refused == 5


def test_a_retried_tick_writes_nothing_new() -> None:
    state = task("*/5 * * * *", created=utc(2024, 5, 1, 10, 8))
    table = RunTable()
    now = utc(2024, 5, 1, 10, 20, 3)
    tick(table, state, now)  # the tick wrote its runs but failed before storing the cursor
    written = dict(table.runs)
    assert len(written) == 3  # 10:10, 10:15, 10:20
    tick(table, state, now + timedelta(seconds=40))  # EventBridge retries it
    assert table.runs == written
    assert table.refused == 3


def test_a_stale_tick_after_the_cursor_moved_does_nothing() -> None:
    state = task("* * * * *", created=utc(2024, 5, 1, 10, 0))
    moved = due_runs(state, utc(2024, 5, 1, 10, 10)).state
    stale = due_runs(moved, utc(2024, 5, 1, 10, 9))
    assert stale.runs == () and stale.state == moved


def test_run_keys_are_per_task_and_instant_and_sort_in_time_order() -> None:
    a = run_key("42", utc(2024, 5, 1, 9, 59))
    b = run_key("42", utc(2024, 5, 1, 10, 0))
    assert a == "42#2024-05-01T09:59:00.000000Z"
    assert a < b
    assert run_key("42", utc(2024, 5, 1, 10, 0)) != run_key("43", utc(2024, 5, 1, 10, 0))
    berlin = datetime(2024, 5, 1, 12, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert run_key("42", berlin) == b


# --- late ticks and catch-up --------------------------------------------------------------------------


def test_a_late_tick_runs_every_instant_it_missed() -> None:
    state = task("* * * * *", created=utc(2024, 5, 1, 10, 0), catch_up=CatchUpPolicy(mode="none"))
    plan = due_runs(state, utc(2024, 5, 1, 10, 14, 30))  # 14 minutes of ticks lost
    assert [r.scheduled_at for r in plan.runs] == [utc(2024, 5, 1, 10, m) for m in range(1, 15)]
    assert all(r.trigger == "schedule" for r in plan.runs)
    assert plan.dropped_missed is False
    assert plan.state.cursor == utc(2024, 5, 1, 10, 14, 30)


def test_the_tolerance_boundary() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 9, 30), catch_up=CatchUpPolicy(mode="none"))
    # On time while younger than the tolerance; missed from the moment it is that old.
    on_time = due_runs(state, utc(2024, 5, 1, 10, 0) + LATE_TOLERANCE - timedelta(seconds=1))
    assert [r.scheduled_at for r in on_time.runs] == [utc(2024, 5, 1, 10, 0)]
    too_late = due_runs(state, utc(2024, 5, 1, 10, 0) + LATE_TOLERANCE)
    assert too_late.runs == () and too_late.dropped_missed is True


def downtime(mode: str, max_runs: int = 10, now: datetime = utc(2024, 5, 1, 6, 5)) -> list[tuple[int, str]]:
    """Hourly job, scheduler down from 00:00 to `now`: (hour, trigger) of each due run."""
    state = task(
        "0 * * * *", created=utc(2024, 5, 1, 0, 0), catch_up=CatchUpPolicy(mode=mode, max_runs=max_runs)
    )
    return [(r.scheduled_at.hour, r.trigger) for r in due_runs(state, now).runs]


def test_catch_up_none_runs_only_what_is_on_time() -> None:
    assert downtime("none") == [(6, "schedule")]
    assert downtime("none", now=utc(2024, 5, 1, 5, 40)) == []


def test_catch_up_latest_runs_one_missed_run_unless_an_on_time_run_is_due() -> None:
    assert downtime("latest") == [(6, "schedule")]
    assert downtime("latest", now=utc(2024, 5, 1, 5, 40)) == [(5, "catch_up")]


def test_catch_up_all_runs_the_newest_missed_runs_oldest_first() -> None:
    assert downtime("all", max_runs=3) == [(3, "catch_up"), (4, "catch_up"), (5, "catch_up"), (6, "schedule")]
    assert downtime("all") == [(h, "catch_up") for h in range(1, 6)] + [(6, "schedule")]


def test_dropped_missed_runs_are_reported() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1), catch_up=CatchUpPolicy(mode="all", max_runs=5))
    assert due_runs(state, utc(2024, 5, 1, 6, 5)).dropped_missed is False
    assert due_runs(state, utc(2024, 5, 1, 7, 5)).dropped_missed is True


def test_catch_up_after_a_long_downtime_keeps_only_the_newest() -> None:
    state = task("* * * * *", created=utc(2024, 1, 1), catch_up=CatchUpPolicy(mode="all", max_runs=3))
    now = utc(2024, 3, 1, 12, 0, 30)  # two months of minutes missed
    plan = due_runs(state, now)
    catch_up = [r.scheduled_at for r in plan.runs if r.trigger == "catch_up"]
    on_time = [r.scheduled_at for r in plan.runs if r.trigger == "schedule"]
    assert catch_up == [utc(2024, 3, 1, 11, 43), utc(2024, 3, 1, 11, 44), utc(2024, 3, 1, 11, 45)]
    assert on_time == [utc(2024, 3, 1, 11, m) for m in range(46, 60)] + [utc(2024, 3, 1, 12, 0)]


def test_catch_up_finds_a_rare_job_missed_long_ago() -> None:
    state = task("0 0 1 1 *", "Europe/Berlin", created=utc(2020, 6, 1), catch_up=CatchUpPolicy(mode="latest"))
    plan = due_runs(state, utc(2023, 6, 1))
    assert [(r.scheduled_at, r.trigger) for r in plan.runs] == [(utc(2022, 12, 31, 23, 0), "catch_up")]
    assert plan.dropped_missed is True


def test_catch_up_across_the_spring_gap_runs_the_shifted_run_once() -> None:
    state = task(
        "30 2 * * *", "America/New_York", created=utc(2024, 3, 8), catch_up=CatchUpPolicy(mode="all")
    )
    plan = due_runs(state, utc(2024, 3, 12))
    assert [r.scheduled_at for r in plan.runs] == [
        utc(2024, 3, 8, 7, 30),
        utc(2024, 3, 9, 7, 30),
        utc(2024, 3, 10, 7, 0),  # 03:00 EDT on the spring-forward day
        utc(2024, 3, 11, 6, 30),
    ]


def test_tolerance_is_bounded() -> None:
    state = task("* * * * *")
    with pytest.raises(ValueError):
        due_runs(state, utc(2024, 1, 2), tolerance=timedelta(days=2))
    with pytest.raises(ValueError):
        due_runs(state, utc(2024, 1, 2), tolerance=timedelta(seconds=-1))


# --- creation, toggles, reschedule --------------------------------------------------------------------


def test_nothing_scheduled_before_creation_runs() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 10, 0))  # created exactly on a scheduled instant
    assert [r.scheduled_at for r in due_runs(state, utc(2024, 5, 1, 11, 1)).runs] == [utc(2024, 5, 1, 11, 0)]
    assert state.next_due_at() == utc(2024, 5, 1, 11, 0)


def test_creation_refuses_bad_input_and_names_the_field() -> None:
    with pytest.raises(InvalidCron) as cron_error:
        TaskSchedule.new("1", "* * *", "UTC", utc(2024, 1, 1))
    assert cron_error.value.field == "cron"
    with pytest.raises(UnknownTimeZone) as tz_error:
        TaskSchedule.new("1", "* * * * *", "Mars/Base", utc(2024, 1, 1))
    assert tz_error.value.field == "tz"
    with pytest.raises(ValueError, match="timezone-aware"):
        TaskSchedule.new("1", "* * * * *", "UTC", datetime(2024, 1, 1))


def test_toggle_off_and_on_does_not_replay_the_disabled_period() -> None:
    clock = ManualClock(utc(2024, 5, 1, 9, 0, 7))
    state = task("*/10 * * * *", created=clock())
    table = RunTable()
    state = run_ticks(table, state, clock, utc(2024, 5, 1, 10, 5))
    state = state.set_enabled(False, utc(2024, 5, 1, 10, 5, 30))
    assert not state.enabled and state.next_due_at() is None
    state = run_ticks(table, state, clock, utc(2024, 5, 1, 11, 3))
    state = state.set_enabled(True, clock() + timedelta(seconds=20))  # 11:03:27
    assert state.enabled and state.next_due_at() == utc(2024, 5, 1, 11, 10)
    run_ticks(table, state, clock, utc(2024, 5, 1, 11, 30))
    expected = [utc(2024, 5, 1, 9, m) for m in (10, 20, 30, 40, 50)] + [utc(2024, 5, 1, 10, 0)]
    expected += [utc(2024, 5, 1, 11, m) for m in (10, 20, 30)]
    assert table.times() == expected


def test_a_run_due_before_disabling_still_runs_when_the_tick_is_late() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 9, 30))
    state = state.set_enabled(False, utc(2024, 5, 1, 10, 0, 30))  # the 10:00 tick has not come yet
    assert state.next_due_at() == utc(2024, 5, 1, 10, 0)
    plan = due_runs(state, utc(2024, 5, 1, 10, 1))
    assert [r.scheduled_at for r in plan.runs] == [utc(2024, 5, 1, 10, 0)]
    assert plan.next_due_at is None
    assert due_runs(plan.state, utc(2024, 5, 1, 13, 0)).runs == ()


def test_quick_toggles_between_two_ticks() -> None:
    state = task("* * * * *", created=utc(2024, 5, 1, 10, 0))
    state = state.set_enabled(False, utc(2024, 5, 1, 10, 1, 30))
    state = state.set_enabled(True, utc(2024, 5, 1, 10, 3, 30))
    state = state.set_enabled(False, utc(2024, 5, 1, 10, 5, 30))
    state = state.set_enabled(True, utc(2024, 5, 1, 10, 7, 30))
    plan = due_runs(state, utc(2024, 5, 1, 10, 9, 1))
    assert [r.scheduled_at.minute for r in plan.runs] == [1, 4, 5, 8, 9]
    assert plan.state.pauses == ()  # consumed by the cursor


def test_toggling_to_the_current_state_changes_nothing() -> None:
    state = task("* * * * *")
    assert state.set_enabled(True, utc(2024, 2, 1)) is state
    off = state.set_enabled(False, utc(2024, 2, 1))
    assert off.set_enabled(False, utc(2024, 2, 2)) is off


def test_created_disabled_runs_nothing_until_enabled() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 9, 30), enabled=False)
    assert due_runs(state, utc(2024, 5, 1, 12, 1)).runs == ()
    state = state.set_enabled(True, utc(2024, 5, 1, 12, 30))
    assert [r.scheduled_at.hour for r in due_runs(state, utc(2024, 5, 1, 13, 5)).runs] == [13]


def test_reschedule_applies_from_now_on() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 9, 30))
    changed = state.reschedule("*/5 * * * *", "Europe/Berlin", utc(2024, 5, 1, 10, 7))
    assert changed.cursor == utc(2024, 5, 1, 10, 7)
    assert changed.next_due_at() == utc(2024, 5, 1, 10, 10)
    assert [r.scheduled_at.minute for r in due_runs(changed, utc(2024, 5, 1, 10, 16)).runs] == [10, 15]
    with pytest.raises(InvalidCron):
        state.reschedule("nope", "UTC", utc(2024, 5, 1, 10, 7))
    with pytest.raises(UnknownTimeZone):
        state.reschedule("* * * * *", "Nope/Nope", utc(2024, 5, 1, 10, 7))
    assert state.cron == "0 * * * *"  # states are immutable: a refused change leaves it as it was


# --- run now ------------------------------------------------------------------------------------------


def test_run_now_is_outside_the_schedule() -> None:
    state = task("0 * * * *", created=utc(2024, 5, 1, 9, 30))
    now = utc(2024, 5, 1, 10, 0)
    manual = manual_run(state.task_id, now, "req_abc")
    assert manual.trigger == "manual" and manual.scheduled_at == now
    scheduled = due_runs(state, now).runs[0]
    assert manual.key != scheduled.key  # both run: run-now never swallows or replaces a scheduled run
    assert manual.key.startswith(scheduled.key)  # and sorts next to it in the history
    assert manual_run(state.task_id, now, "req_def").key != manual.key


@pytest.mark.parametrize("nonce", ["", "a#b", "x" * 129])
def test_run_now_nonce_is_checked(nonce: str) -> None:
    with pytest.raises(ValueError):
        manual_run("42", utc(2024, 1, 1), nonce)


# --- persistence --------------------------------------------------------------------------------------


def test_state_round_trips_through_json() -> None:
    state = task("*/5 * * * *", "America/New_York", catch_up=CatchUpPolicy(mode="all", max_runs=4))
    state = state.set_enabled(False, utc(2024, 1, 2)).set_enabled(True, utc(2024, 1, 3))
    state = state.set_enabled(False, utc(2024, 1, 4, 0, 0, 0) + timedelta(microseconds=5))
    data = json.loads(json.dumps(state.to_dict()))
    assert TaskSchedule.from_dict(data) == state
    assert data["pauses"][-1] == {"start": "2024-01-04T00:00:00.000005Z", "end": None}


def test_only_the_last_pause_may_be_open() -> None:
    with pytest.raises(ValueError):
        TaskSchedule.from_dict(
            {
                "task_id": "1",
                "cron": "* * * * *",
                "tz": "UTC",
                "cursor": "2024-01-01T00:00:00Z",
                "pauses": [{"start": "2024-01-02T00:00:00Z", "end": None}, {"start": "2024-01-03T00:00:00Z"}],
            }
        )
