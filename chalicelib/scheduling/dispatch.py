"""Which runs of a task are due at a tick, and the keys that make each run happen once.

A task's schedule state carries a *cursor*: every scheduled instant up to and including it has
been dealt with (enqueued, or dropped by the catch-up policy). A tick at `now` looks at the
instants in (cursor, now], minus the intervals during which the task was disabled, and moves the
cursor to `now`. Because the decision is a pure function of (state, now) and every run is keyed
by (task, scheduled instant), overlapping or retried ticks produce the same keys and a
conditional write ("put if the key does not exist") lets exactly one of them enqueue each run.

Instants older than `tolerance` (15 minutes) before `now` were *missed* (the scheduler was down);
the catch-up policy decides which of them still run. Younger ones always run: a late, failed or
retried tick never skips anything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.scheduling.cron import as_utc, iter_runs, load_zone, next_run_after, validate_cron
from chalicelib.scheduling.models import CatchUpPolicy, RunTrigger

LATE_TOLERANCE = timedelta(minutes=15)
MAX_TOLERANCE = timedelta(days=1)
_FIRST_WINDOW = timedelta(hours=1)
_MAX_NONCE = 128


def _iso(moment: datetime) -> str:
    """Fixed-width RFC 3339 UTC with microseconds: sorts lexically in time order."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def run_key(task_id: str, scheduled_at: datetime) -> str:
    """The identity of a scheduled run: the conditional write is keyed on it."""
    return f"{task_id}#{_iso(scheduled_at)}"


@dataclass(frozen=True)
class DueRun:
    task_id: str
    scheduled_at: datetime
    trigger: RunTrigger
    key: str


def scheduled_run(task_id: str, scheduled_at: datetime, trigger: RunTrigger = "schedule") -> DueRun:
    return DueRun(task_id, as_utc(scheduled_at), trigger, run_key(task_id, scheduled_at))


def manual_run(task_id: str, requested_at: datetime, nonce: str) -> DueRun:
    """A run-now request: outside the schedule, it never moves the cursor or collides with a
    scheduled run. `nonce` (e.g. the request id) tells apart two requests in the same microsecond;
    a client's retry is not a second run when it sends the same Idempotency-Key: the API replays the
    first answer without calling this again (chalicelib/idempotency.py, docs/api.md)."""
    if not nonce or len(nonce) > _MAX_NONCE or "#" in nonce:
        raise ValueError("nonce must be 1-128 characters without '#'")
    return DueRun(task_id, as_utc(requested_at), "manual", f"{run_key(task_id, requested_at)}#manual-{nonce}")


@dataclass(frozen=True)
class Pause:
    """The task was disabled at `start` and enabled again at `end` (None: still disabled).

    Instants in (start, end] are never run, however late a tick comes."""

    start: datetime
    end: datetime | None = None


Window = tuple[datetime, datetime | None]  # (start exclusive, end inclusive); None = open


@dataclass(frozen=True)
class TaskSchedule:
    """What the dispatcher needs to know about one task; persist it with to_dict()/from_dict()."""

    task_id: str
    cron: str
    tz: str
    cursor: datetime
    catch_up: CatchUpPolicy = field(default_factory=CatchUpPolicy)
    pauses: tuple[Pause, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "cursor", as_utc(self.cursor))
        for pause in self.pauses[:-1]:
            if pause.end is None:
                raise ValueError("only the last pause may be open")

    @classmethod
    def new(
        cls,
        task_id: str,
        cron: str,
        tz: str,
        created_at: datetime,
        *,
        enabled: bool = True,
        catch_up: CatchUpPolicy | None = None,
    ) -> TaskSchedule:
        """A new task: nothing scheduled before `created_at` runs. Raises InvalidCron/UnknownTimeZone."""
        created = as_utc(created_at)
        return cls(
            task_id=str(task_id),
            cron=validate_cron(cron),
            tz=load_zone(tz).key,
            cursor=created,
            catch_up=catch_up or CatchUpPolicy(),
            pauses=() if enabled else (Pause(created),),
        )

    @property
    def enabled(self) -> bool:
        return not self.pauses or self.pauses[-1].end is not None

    def set_enabled(self, enabled: bool, now: datetime) -> TaskSchedule:
        """Toggle. Disabling stops runs scheduled after `now`; enabling starts again after `now`,
        so nothing from the disabled interval is replayed. A no-op when already in that state."""
        if enabled == self.enabled:
            return self
        now = as_utc(now)
        if enabled:
            last = self.pauses[-1]
            pauses = (*self.pauses[:-1], Pause(last.start, max(now, last.start)))
        else:
            previous_end = self.pauses[-1].end if self.pauses else None
            start = max(now, previous_end) if previous_end else now
            pauses = (*self.pauses, Pause(start))
        return replace(self, pauses=_live(pauses, self.cursor))

    def reschedule(self, cron: str, tz: str, now: datetime) -> TaskSchedule:
        """A new cron or zone applies from `now` on: no instant of the new schedule before `now`
        runs, and old-schedule instants not yet enqueued by a tick are dropped."""
        cursor = max(self.cursor, as_utc(now))
        return replace(
            self,
            cron=validate_cron(cron),
            tz=load_zone(tz).key,
            cursor=cursor,
            pauses=_live(self.pauses, cursor),
        )

    def windows(self, end: datetime | None = None) -> list[Window]:
        """The parts of (cursor, end] during which the task was enabled (end None: unbounded)."""
        windows: list[Window] = []
        low = self.cursor
        for pause in self.pauses:
            if pause.start > low:
                windows.append((low, pause.start))
            if pause.end is None:
                break
            low = max(low, pause.end)
        else:
            windows.append((low, None))
        if end is None:
            return windows
        end = as_utc(end)
        clipped: list[Window] = []
        for start, stop in windows:
            stop = end if stop is None else min(stop, end)
            if start < stop:
                clipped.append((start, stop))
        return clipped

    def next_due_at(self) -> datetime | None:
        """The first instant a tick will have to act on (index it to find due tasks), or None."""
        for start, stop in self.windows():
            instant = next_run_after(self.cron, self.tz, start)
            if instant is not None and (stop is None or instant <= stop):
                return instant
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "cron": self.cron,
            "tz": self.tz,
            "cursor": _iso(self.cursor),
            "catch_up": self.catch_up.model_dump(),
            "pauses": [
                {"start": _iso(p.start), "end": None if p.end is None else _iso(p.end)} for p in self.pauses
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSchedule:
        return cls(
            task_id=str(data["task_id"]),
            cron=data["cron"],
            tz=data["tz"],
            cursor=_parse(data["cursor"]),
            catch_up=CatchUpPolicy.model_validate(data.get("catch_up") or {}),
            pauses=tuple(
                Pause(_parse(p["start"]), None if p.get("end") is None else _parse(p["end"]))
                for p in data.get("pauses") or ()
            ),
        )


def _live(pauses: Sequence[Pause], cursor: datetime) -> tuple[Pause, ...]:
    """Pauses that still matter: those ending after the cursor (or still open)."""
    return tuple(p for p in pauses if p.end is None or p.end > cursor)


@dataclass(frozen=True)
class DuePlan:
    """The outcome of one tick for one task: enqueue `runs` (oldest first), then store `state`."""

    runs: tuple[DueRun, ...]
    state: TaskSchedule
    dropped_missed: bool = False  # some runs missed during downtime were dropped by the policy

    @property
    def next_due_at(self) -> datetime | None:
        return self.state.next_due_at()


def due_runs(state: TaskSchedule, now: datetime, *, tolerance: timedelta = LATE_TOLERANCE) -> DuePlan:
    """The runs due at `now` and the state to store afterwards (its cursor moved to `now`).

    Instants in (now - tolerance, now] always run. Older instants were missed and follow
    state.catch_up: "none" drops them; "latest" runs the newest one unless an on-time run is due
    anyway; "all" runs the newest `max_runs` of them. A `now` at or before the cursor (an old,
    overlapping tick) changes nothing.
    """
    if not timedelta(0) <= tolerance <= MAX_TOLERANCE:
        raise ValueError("tolerance must be between 0 and 1 day")
    now = as_utc(now)
    if now <= state.cursor:
        return DuePlan((), state)
    zone = load_zone(state.tz)
    boundary = now - tolerance
    on_time: list[datetime] = []
    missed_windows: list[tuple[datetime, datetime]] = []
    for start, stop in state.windows(now):
        assert stop is not None  # windows(now) are all bounded
        if stop > boundary:
            on_time.extend(_scan(state.cron, zone, max(start, boundary), stop))
        if start < boundary:
            missed_windows.append((start, min(stop, boundary)))

    policy = state.catch_up
    wanted = {"none": 0, "latest": 1, "all": policy.max_runs}[policy.mode]
    if policy.mode == "latest" and on_time:
        wanted = 0
    missed, more = _newest(state.cron, zone, missed_windows, wanted)

    runs = [scheduled_run(state.task_id, t, "catch_up") for t in missed]
    runs += [scheduled_run(state.task_id, t) for t in on_time]
    moved = replace(state, cursor=now, pauses=_live(state.pauses, now))
    return DuePlan(tuple(runs), moved, dropped_missed=more)


def _scan(cron: str, zone: ZoneInfo, start: datetime, stop: datetime) -> Iterator[datetime]:
    """Scheduled instants in (start, stop]."""
    for instant in iter_runs(cron, zone, start):
        if instant > stop:
            return
        yield instant


def _newest(
    cron: str, zone: ZoneInfo, windows: list[tuple[datetime, datetime]], count: int
) -> tuple[list[datetime], bool]:
    """The newest `count` instants across the windows (oldest first), and whether more exist."""
    found: list[datetime] = []  # newest first
    for start, stop in reversed(windows):
        need = count + 1 - len(found)
        if need <= 0:
            break
        found.extend(_newest_in(cron, zone, start, stop, need))
    return sorted(found[:count]), len(found) > count


def _newest_in(cron: str, zone: ZoneInfo, start: datetime, stop: datetime, count: int) -> list[datetime]:
    """Up to `count` newest instants in (start, stop], newest first.

    Looks back through doubling spans instead of walking forward from `start`, so a long
    downtime costs about as much as the runs kept, not as all the runs missed."""
    span = _FIRST_WINDOW
    while True:
        low = start if span >= stop - start else stop - span
        tail = deque(_scan(cron, zone, low, stop), maxlen=count)
        if len(tail) >= count or low == start:
            return list(reversed(tail))
        span *= 2
