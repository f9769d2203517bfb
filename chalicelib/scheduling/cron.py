"""Five-field cron expressions evaluated in an IANA time zone, with Debian cron's DST rules.

Matching and DST handling come from cronsim (it follows Debian cron, see docs/scheduling.md);
this module adds what the scheduler needs on top: strict five-field validation with messages
that name the field, zone validation, and UTC instants that strictly increase.

DST rules (Debian/Vixie cron):
- A *fixed-time* job is one whose minute and hour fields do not start with `*`
  ("30 2 * * *", "0 9-17 * * 1-5"). Its local times that do not exist (the spring-forward gap)
  run once at the first instant after the gap; its local times that happen twice (fall-back)
  run only at the first occurrence.
- Every other job ("*/15 * * * *", "30 * * * *", "0 */2 * * *") is an *interval* job: it runs at
  every real instant whose local wall-clock time matches, so nonexistent times are skipped and
  repeated times run twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from chalicelib.scheduling.errors import InvalidCron, UnknownTimeZone

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
MAX_CRON_LENGTH = 200
DEFAULT_LIMIT = 1000

# cronsim prefixes its own seconds field; its field names map onto ours shifted by one.
_CRONSIM_FIELDS = ("second", *FIELDS)
# A date far from any DST edge, used only to prove an expression can ever match.
_PROBE = datetime(2000, 1, 1, tzinfo=UTC)

_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")
# Present in a system zoneinfo directory but not real IANA zones (or with leap seconds).
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("posix/", "right/")


def _fields(expr: str) -> list[str]:
    if not isinstance(expr, str):
        raise InvalidCron("must be a string")
    if len(expr) > MAX_CRON_LENGTH:
        raise InvalidCron(f"must be at most {MAX_CRON_LENGTH} characters")
    fields = expr.split()
    if len(fields) != len(FIELDS):
        raise InvalidCron(
            f"must have five fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    return fields


def _simulator(fields: list[str], start: datetime) -> CronSim:
    try:
        return CronSim(" ".join(fields), start)
    except CronSimError as exc:
        raise InvalidCron(_describe(fields, str(exc))) from exc
    except (ValueError, IndexError) as exc:  # defensive: cronsim should only raise CronSimError
        raise InvalidCron(f"cannot parse: {exc}") from exc


def _describe(fields: list[str], message: str) -> str:
    name = message.removeprefix("Bad ").strip()
    if name in _CRONSIM_FIELDS[1:]:
        index = _CRONSIM_FIELDS.index(name) - 1
        return f"invalid {name} field {fields[index]!r}"
    return message


def validate_cron(expr: str) -> str:
    """Return the expression with single spaces, or raise InvalidCron naming the problem.

    Accepted: numbers, `*`, ranges `a-b`, steps `/n`, lists `a,b`, month names JAN-DEC,
    day names SUN-SAT (0 and 7 are Sunday), and cronsim's `L`, `LW` (day of month) and
    `5L`, `MON#2` (day of week). Macros (`@daily`) and a seconds field are refused.
    """
    fields = _fields(expr)
    simulator = _simulator(fields, _PROBE)
    try:
        next(simulator)
    except StopIteration:
        raise InvalidCron("never matches any date") from None
    return " ".join(fields)


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` (case-sensitive, e.g. "Europe/Berlin", "UTC"), or UnknownTimeZone."""
    if not isinstance(name, str):
        raise UnknownTimeZone("must be a string")
    if (
        len(name) > 64
        or not _ZONE_KEY.fullmatch(name)
        or name in _NOT_ZONES
        or name.startswith(_NOT_ZONE_PREFIXES)
    ):
        raise UnknownTimeZone(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


def is_fixed_time(cron: str) -> bool:
    """True when DST gaps are run late and repeated hours run once (see the module docstring)."""
    minute, hour = _fields(cron)[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused (their instant is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC)


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else load_zone(tz)


def _imaginary(local: datetime) -> bool:
    """True for a wall-clock time that the zone skips (it does not survive a round trip)."""
    return local.astimezone(UTC).astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(tzinfo=None)


def iter_runs(cron: str, tz: str | ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Scheduled instants strictly after `after`, in UTC, strictly increasing, each once."""
    fields = _fields(cron)
    zone = _zone(tz)
    fixed = not fields[0].startswith("*") and not fields[1].startswith("*")
    last = as_utc(after)
    for local in _simulator(fields, last.astimezone(zone)):
        # cronsim walks interval jobs in real time but may land on a skipped midnight when it
        # moves to the next day; such a wall-clock time never happens, so it is not a run.
        if not fixed and _imaginary(local):
            continue
        instant = local.astimezone(UTC)
        # Fixed-time jobs are walked in wall-clock time, so starting inside a repeated hour can
        # yield the first occurrence, which is already in the past: drop anything not ahead.
        if instant <= last:
            continue
        last = instant
        yield instant


def next_run_after(cron: str, tz: str | ZoneInfo, after: datetime) -> datetime | None:
    """The first scheduled instant (UTC) strictly after `after`; None if none in the next 50 years."""
    return next(iter_runs(cron, tz, after), None)


def runs_between(
    cron: str,
    tz: str | ZoneInfo,
    start_exclusive: datetime,
    end_inclusive: datetime,
    limit: int = DEFAULT_LIMIT,
) -> list[datetime]:
    """Scheduled instants (UTC) in (start_exclusive, end_inclusive], oldest first, at most `limit`."""
    if limit < 0:
        raise ValueError("limit must not be negative")
    end = as_utc(end_inclusive)
    runs: list[datetime] = []
    if limit == 0 or end <= as_utc(start_exclusive):
        return runs
    for instant in iter_runs(cron, tz, start_exclusive):
        if instant > end:
            break
        runs.append(instant)
        if len(runs) >= limit:
            break
    return runs
