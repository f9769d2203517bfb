"""Five-field cron expressions evaluated in an IANA time zone, with Debian cron's DST rules.

cronsim parses the expression and enumerates matching *wall-clock* times (naive, calendar only);
this module maps them to UTC instants with the rules below, validates strictly (five fields,
messages naming the field) and guarantees strictly increasing instants.

DST rules (those of Debian/Vixie cron):
- A *fixed-time* job is one whose minute and hour fields do not start with `*`
  ("30 2 * * *", "0 9-17 * * 1-5"). Its local times that do not exist (the spring-forward gap)
  run once at the first instant after the gap; its local times that happen twice (fall-back)
  run only at the first occurrence.
- Every other job ("*/15 * * * *", "30 * * * *", "0 */2 * * *") is an *interval* job: it runs at
  every real instant whose local wall-clock time matches, so nonexistent times are skipped and
  repeated times run twice.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from chalicelib.scheduling.errors import InvalidCron, UnknownTimeZone

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
MAX_CRON_LENGTH = 200
DEFAULT_LIMIT = 1000

# cronsim prefixes its own seconds field; its field names map onto ours shifted by one.
_CRONSIM_FIELDS = ("second", *FIELDS)
# A wall-clock start used only to prove that an expression can ever match.
_PROBE = datetime(2000, 1, 1)

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


def _walk_start(after: datetime, zone: ZoneInfo) -> datetime:
    """The wall-clock time to start matching from so that no instant after `after` is missed.

    Usually the wall-clock time of `after`; earlier when the clocks go back within the next day,
    because then instants after `after` show wall-clock times before it (the repeated hour)."""
    wall = after.astimezone(zone)
    later = (after + timedelta(days=1)).astimezone(zone)
    offset_now, offset_later = wall.utcoffset(), later.utcoffset()
    assert offset_now is not None and offset_later is not None
    return wall.replace(tzinfo=None) - max(timedelta(0), offset_now - offset_later)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant of the gap that skips `wall`: the first real instant after it."""
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())  # before the transition
    high = int(wall.replace(tzinfo=zone, fold=0).timestamp())  # at or after it
    offset_before = datetime.fromtimestamp(low, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _place(wall: datetime, zone: ZoneInfo, fixed: bool) -> tuple[datetime | None, datetime | None]:
    """The instants at which a matching wall-clock time runs: (first, repeat), either may be None.

    Normal time: once. Skipped time: fixed-time jobs at the end of the gap, interval jobs never.
    Repeated time: fixed-time jobs at the first occurrence, interval jobs at both."""
    first = wall.replace(tzinfo=zone, fold=0)
    repeat = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == repeat.utcoffset():
        return first.astimezone(UTC), None
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:  # does not exist
        return (_gap_end(wall, zone) if fixed else None), None
    return first.astimezone(UTC), (None if fixed else repeat.astimezone(UTC))


def iter_runs(cron: str, tz: str | ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Scheduled instants strictly after `after`, in UTC, strictly increasing, each once.

    cronsim enumerates matching wall-clock times (naive, so no DST arithmetic happens there);
    `_place` turns each into instants. First occurrences come in time order; second occurrences
    (repeated hour) wait in a heap until the walk passes them."""
    fields = _fields(cron)
    zone = _zone(tz)
    fixed = not fields[0].startswith("*") and not fields[1].startswith("*")
    last = as_utc(after)
    repeats: list[datetime] = []

    def fresh(instant: datetime) -> bool:
        nonlocal last
        if instant <= last:  # before `after`, or a second skipped time folding onto the same instant
            return False
        last = instant
        return True

    for wall in _simulator(fields, _walk_start(last, zone)):
        first, repeat = _place(wall, zone, fixed)
        if first is not None:
            while repeats and repeats[0] < first:
                earlier = heapq.heappop(repeats)
                if fresh(earlier):
                    yield earlier
            if fresh(first):
                yield first
        if repeat is not None:
            heapq.heappush(repeats, repeat)
    while repeats:
        earlier = heapq.heappop(repeats)
        if fresh(earlier):
            yield earlier


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
