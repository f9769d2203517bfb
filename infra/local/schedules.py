"""Schedule emulation: EventBridge rules calling the app's `@app.schedule` handlers, locally.

Chalice keeps each `@app.schedule` as a `ScheduledEventConfig` in `app.event_sources`; its
expression is `rate(N minute|minutes|hour|hours|day|days)` or `cron(min hour dom month dow year)`
(a string or chalice's `Rate`/`Cron`). A rate fires one period after the emulator starts, then
every period (as a new EventBridge rule does); a cron fires at its times (UTC). Runs missed while
a handler was busy are not made up: the next run is the next one after now. The event has
EventBridge's "Scheduled Event" shape."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="borgos-local-schedules")

ACCOUNT_ID = "000000000000"
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

NextRun = Callable[[datetime], datetime]


def _expression_text(expression: Any) -> str:
    return expression if isinstance(expression, str) else str(expression.to_string())


def _aws_dow_to_cron(field: str) -> str:
    """EventBridge numbers weekdays 1-7 from Sunday; cron 0-6. Names (MON-FRI) need nothing."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) - 1), field)


def next_run_function(expression: Any, started: datetime) -> NextRun:
    """A function giving the first run strictly after a moment, for a schedule expression."""
    text = _expression_text(expression).strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if value < 1:
            raise ValueError(f"rate must be positive: {text}")
        period = timedelta(seconds=value * _UNIT_SECONDS[unit])

        def next_rate(after: datetime) -> datetime:
            periods = (after - started) // period + 1
            return started + periods * period

        return next_rate
    cron = _CRON.match(text)
    if cron:
        parts = cron.group(1).split()
        if len(parts) != 6:
            raise ValueError(f"cron needs 6 fields (min hour dom month dow year): {text}")
        minutes, hours, dom, month, dow, year = parts
        if year not in ("*", "?"):
            raise ValueError(f"the local schedule emulation supports only '*' years: {text}")
        spec = " ".join(
            [minutes, hours, dom.replace("?", "*"), month, _aws_dow_to_cron(dow.replace("?", "*"))]
        )
        from cronsim import CronSim

        CronSim(spec, started)  # validates now, not at the first run

        def next_cron(after: datetime) -> datetime:
            return next(iter(CronSim(spec, after.astimezone(UTC).replace(microsecond=0))))

        return next_cron
    raise ValueError(f"unsupported schedule expression: {text}")


def scheduled_event(rule_name: str, at: datetime, region: str = "us-east-1") -> dict[str, Any]:
    """What EventBridge sends a Lambda target for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


@dataclass
class Schedule:
    name: str
    expression: str
    next_run: NextRun
    due: datetime


Invoke = Callable[[str, dict[str, Any]], None]


class ScheduleEmulator:
    """Calls `invoke(handler_name, event)` for every schedule when it is due."""

    def __init__(
        self,
        schedules: list[tuple[str, Any]],
        invoke: Invoke,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        app_name: str = "borgos",
    ) -> None:
        self.invoke = invoke
        self.clock = clock
        self.app_name = app_name
        started = clock()
        self.schedules = []
        for name, expression in schedules:
            next_run = next_run_function(expression, started)
            self.schedules.append(Schedule(name, _expression_text(expression), next_run, next_run(started)))

    @classmethod
    def for_app(cls, app: Any, invoke: Invoke, **kwargs: Any) -> ScheduleEmulator:
        from chalice.app import ScheduledEventConfig

        found = [
            (source.name, source.schedule_expression)
            for source in app.event_sources
            if isinstance(source, ScheduledEventConfig)
        ]
        return cls(found, invoke, app_name=app.app_name, **kwargs)

    def fire_due(self) -> list[str]:
        """Run every schedule that is due now; returns their names. A failing handler is logged
        (EventBridge's async invoke would retry it later; see docs/local-stack.md)."""
        now = self.clock()
        fired = []
        for schedule in self.schedules:
            if schedule.due > now:
                continue
            event = scheduled_event(f"{self.app_name}-local-{schedule.name}", schedule.due)
            try:
                self.invoke(schedule.name, event)
            except Exception:
                logger.exception("scheduled handler failed", handler=schedule.name)
            fired.append(schedule.name)
            schedule.due = schedule.next_run(max(now, schedule.due))
        return fired

    def seconds_until_next(self) -> float | None:
        if not self.schedules:
            return None
        soonest = min(schedule.due for schedule in self.schedules)
        return max(0.0, (soonest - self.clock()).total_seconds())

    def run(self, stop: threading.Event) -> None:
        for schedule in self.schedules:
            logger.info("schedule emulated", handler=schedule.name, expression=schedule.expression)
        while not stop.is_set():
            self.fire_due()
            wait = self.seconds_until_next()
            stop.wait(60.0 if wait is None else min(wait, 60.0))
