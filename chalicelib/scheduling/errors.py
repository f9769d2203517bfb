"""Errors that name the offending field, so the API can answer a 400 pointing at it."""

from __future__ import annotations


class ScheduleFieldError(ValueError):
    """A schedule input is unusable. `field` is the request field to name, `problem` says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidCron(ScheduleFieldError):
    def __init__(self, problem: str) -> None:
        super().__init__("cron", problem)


class UnknownTimeZone(ScheduleFieldError):
    def __init__(self, problem: str) -> None:
        super().__init__("tz", problem)
