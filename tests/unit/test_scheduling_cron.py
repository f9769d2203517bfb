"""Next-run calculation in time zones, across DST changes, checked by hand and against an oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.scheduling import (
    InvalidCron,
    UnknownTimeZone,
    is_fixed_time,
    load_zone,
    next_run_after,
    runs_between,
    validate_cron,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
MINUTE = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> datetime:
    """The instant at which `zone` shows this wall-clock time (fold=1: its second occurrence)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def day_runs(cron: str, zone: str, year: int, month: int, day: int) -> list[datetime]:
    """Every run whose local date is the given day (local midnight to next local midnight)."""
    start = datetime(year, month, day, tzinfo=ZoneInfo(zone)).astimezone(UTC) - timedelta(seconds=1)
    end = (datetime(year, month, day, tzinfo=ZoneInfo(zone)) + timedelta(days=1)).astimezone(UTC)
    return runs_between(cron, zone, start, end - timedelta(seconds=1))


# --- the documented DST behaviour, case by case -----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # Spring forward: 02:30 does not exist; the job runs once, at 03:00 local (the first instant
        # after the gap), which is 01:00 UTC in Berlin and 07:00 UTC in New York.
        (BERLIN, (2024, 3, 31), [utc(2024, 3, 31, 1, 0)]),
        (NEW_YORK, (2024, 3, 10), [utc(2024, 3, 10, 7, 0)]),
        # Fall back: 02:30 (Berlin) happens twice; the job runs once, at the first (summer time) one.
        (BERLIN, (2024, 10, 27), [utc(2024, 10, 27, 0, 30)]),
        # New York repeats 01:00-01:59, so 02:30 happens once, in standard time.
        (NEW_YORK, (2024, 11, 3), [utc(2024, 11, 3, 7, 30)]),
        # An ordinary day around them keeps local 02:30.
        (BERLIN, (2024, 4, 1), [local(BERLIN, 2024, 4, 1, 2, 30)]),
        (NEW_YORK, (2024, 3, 11), [local(NEW_YORK, 2024, 3, 11, 2, 30)]),
    ],
)
def test_fixed_time_job_runs_exactly_once_on_dst_days(
    zone: str, day: tuple[int, int, int], expected: list[datetime]
) -> None:
    assert day_runs("30 2 * * *", zone, *day) == expected


def test_fixed_time_job_in_the_repeated_hour_runs_at_the_first_occurrence_only() -> None:
    # 01:30 happens twice in New York on 2024-11-03 (EDT, then EST).
    assert day_runs("30 1 * * *", NEW_YORK, 2024, 11, 3) == [local(NEW_YORK, 2024, 11, 3, 1, 30, fold=0)]
    # 02:30 happens twice in Berlin on 2024-10-27.
    assert day_runs("30 2 * * *", BERLIN, 2024, 10, 27) == [utc(2024, 10, 27, 0, 30)]


def test_several_fixed_times_inside_the_gap_collapse_into_one_run() -> None:
    runs = day_runs("0,30 2 * * *", BERLIN, 2024, 3, 31)
    assert runs == [utc(2024, 3, 31, 1, 0)]


def test_interval_job_follows_real_time_through_the_spring_gap() -> None:
    # Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC): no local 02:xx exists.
    runs = runs_between("*/15 * * * *", BERLIN, utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1, 30))
    assert runs == [
        utc(2024, 3, 31, 0, 45),
        utc(2024, 3, 31, 1, 0),
        utc(2024, 3, 31, 1, 15),
        utc(2024, 3, 31, 1, 30),
    ]
    assert [r.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M") for r in runs] == [
        "01:45",
        "03:00",
        "03:15",
        "03:30",
    ]


def test_interval_job_runs_in_both_occurrences_of_the_repeated_hour() -> None:
    runs = runs_between("*/30 * * * *", NEW_YORK, utc(2024, 11, 3, 4, 40), utc(2024, 11, 3, 7, 0))
    # 01:00 EDT, 01:30 EDT, 01:00 EST, 01:30 EST, 02:00 EST: every half hour of real time.
    assert runs == [
        utc(2024, 11, 3, 5, 0),
        utc(2024, 11, 3, 5, 30),
        utc(2024, 11, 3, 6, 0),
        utc(2024, 11, 3, 6, 30),
        utc(2024, 11, 3, 7, 0),
    ]
    assert len(day_runs("*/30 * * * *", NEW_YORK, 2024, 11, 3)) == 50  # a 25-hour day
    assert len(day_runs("*/30 * * * *", NEW_YORK, 2024, 3, 10)) == 46  # a 23-hour day


def test_hourly_job_skips_the_missing_hour_and_repeats_the_doubled_one() -> None:
    assert len(day_runs("30 * * * *", BERLIN, 2024, 3, 31)) == 23
    assert len(day_runs("30 * * * *", BERLIN, 2024, 10, 27)) == 25
    spring = runs_between("30 * * * *", BERLIN, utc(2024, 3, 31, 0, 0), utc(2024, 3, 31, 2, 0))
    assert spring == [utc(2024, 3, 31, 0, 30), utc(2024, 3, 31, 1, 30)]  # 01:30 CET, 03:30 CEST


def test_interval_minutes_inside_a_fixed_hour_do_not_run_on_the_spring_day() -> None:
    # "*/15 2 * * *" is an interval job (its minute field starts with *): local 02:xx never
    # happens on the spring-forward day, so it does not run; on the fall-back day it runs twice as often.
    assert day_runs("*/15 2 * * *", BERLIN, 2024, 3, 31) == []
    assert len(day_runs("*/15 2 * * *", BERLIN, 2024, 10, 27)) == 8
    assert len(day_runs("*/15 2 * * *", BERLIN, 2024, 10, 28)) == 4


def test_spelled_out_minutes_make_a_fixed_time_job() -> None:
    # The documented alternative to "*/15 2 * * *": once at 03:00 in spring, four times in autumn.
    assert day_runs("0,15,30,45 2 * * *", BERLIN, 2024, 3, 31) == [utc(2024, 3, 31, 1, 0)]
    autumn = day_runs("0,15,30,45 2 * * *", BERLIN, 2024, 10, 27)
    assert autumn == [utc(2024, 10, 27, 0, m) for m in (0, 15, 30, 45)]  # the CEST 02:xx only


def test_half_hourly_job_counts_on_berlin_dst_days() -> None:
    assert len(day_runs("*/30 * * * *", BERLIN, 2024, 3, 31)) == 46
    assert len(day_runs("*/30 * * * *", BERLIN, 2024, 10, 27)) == 50


@pytest.mark.parametrize(
    ("cron", "fixed"),
    [
        ("30 2 * * *", True),
        ("0,30 9-17 * * 1-5", True),
        ("*/15 * * * *", False),
        ("30 * * * *", False),
        ("0 */2 * * *", False),
        ("*/15 2 * * *", False),
    ],
)
def test_fixed_time_classification(cron: str, fixed: bool) -> None:
    assert is_fixed_time(cron) is fixed


def test_next_run_after_is_strictly_after_and_in_utc() -> None:
    at = local(BERLIN, 2024, 6, 1, 9, 0)
    assert next_run_after("0 9 * * *", BERLIN, at) == local(BERLIN, 2024, 6, 2, 9, 0)
    assert next_run_after("0 9 * * *", BERLIN, at - timedelta(microseconds=1)) == at
    result = next_run_after("0 9 * * *", BERLIN, at)
    assert result is not None and result.tzinfo == UTC


def test_next_run_after_from_inside_the_repeated_hour() -> None:
    second_pass = local(NEW_YORK, 2024, 11, 3, 1, 40, fold=1)  # 06:40 UTC, the EST 01:40
    # The fixed-time 01:45 already ran at its first occurrence (05:45 UTC): next is tomorrow.
    assert next_run_after("45 1 * * *", NEW_YORK, second_pass) == local(NEW_YORK, 2024, 11, 4, 1, 45)
    assert next_run_after("*/30 * * * *", NEW_YORK, second_pass) == utc(2024, 11, 3, 7, 0)
    first_pass = local(NEW_YORK, 2024, 11, 3, 1, 40, fold=0)  # 05:40 UTC
    assert next_run_after("*/30 * * * *", NEW_YORK, first_pass) == utc(2024, 11, 3, 6, 0)


def test_a_start_given_in_another_zone_means_the_same_instant() -> None:
    tokyo = datetime(2024, 3, 31, 9, 59, tzinfo=ZoneInfo("Asia/Tokyo"))  # 00:59 UTC
    assert next_run_after("30 2 * * *", BERLIN, tokyo) == utc(2024, 3, 31, 1, 0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_after("* * * * *", "UTC", datetime(2024, 1, 1))


def test_runs_between_bounds_and_limit() -> None:
    start, end = utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 1, 0)
    runs = runs_between("*/10 * * * *", "UTC", start, end)
    assert runs[0] == utc(2024, 1, 1, 0, 10) and runs[-1] == end  # start exclusive, end inclusive
    assert len(runs) == 6
    assert runs_between("*/10 * * * *", "UTC", start, end, limit=2) == runs[:2]
    assert runs_between("*/10 * * * *", "UTC", end, start) == []
    assert runs_between("*/10 * * * *", "UTC", start, end, limit=0) == []


def test_day_fields_use_cron_or_semantics_when_both_are_restricted() -> None:
    # Day 13 of the month OR any Friday (Debian cron), in January 2024.
    runs = runs_between("0 12 13 * FRI", "UTC", utc(2024, 1, 1), utc(2024, 1, 31, 23, 59))
    assert [r.day for r in runs] == [5, 12, 13, 19, 26]


# --- an independent oracle: walk every real minute and apply the documented rules ------------------


def oracle(
    minutes: set[int], hours: set[int], fixed: bool, zone: str, start: datetime, end: datetime
) -> list[datetime]:
    """Runs of "M H * * *" in (start, end], computed minute by minute from the rules in the docs."""
    tz = ZoneInfo(zone)
    found: set[datetime] = set()
    moment = start + MINUTE
    previous = start.astimezone(tz).utcoffset()
    while moment <= end:
        wall = moment.astimezone(tz)
        offset = wall.utcoffset()
        assert offset is not None and previous is not None
        if fixed and offset > previous:
            # Wall-clock times skipped by this transition run once, at the transition instant.
            skipped = moment.replace(tzinfo=None) + previous
            while skipped < moment.replace(tzinfo=None) + offset:
                if skipped.minute in minutes and skipped.hour in hours:
                    found.add(moment)
                    break
                skipped += MINUTE
        if wall.minute in minutes and wall.hour in hours and not (fixed and wall.fold == 1):
            found.add(moment)
        previous = offset
        moment += MINUTE
    return sorted(found)


EXPRESSIONS = [
    ("30 2 * * *", {30}, {2}, True),
    ("0,30 2 * * *", {0, 30}, {2}, True),
    ("30 1 * * *", {30}, {1}, True),
    ("59 1 * * *", {59}, {1}, True),
    ("0 0 * * *", {0}, {0}, True),
    ("15 1-3 * * *", {15}, {1, 2, 3}, True),
    ("*/15 * * * *", set(range(0, 60, 15)), set(range(24)), False),
    ("30 * * * *", {30}, set(range(24)), False),
    ("0 */2 * * *", {0}, set(range(0, 24, 2)), False),
    ("*/20 2 * * *", {0, 20, 40}, {2}, False),
    ("* 0 * * *", set(range(60)), {0}, False),
    ("*/7 1 * * *", set(range(0, 60, 7)), {1}, False),
]

WINDOWS = [
    (BERLIN, utc(2024, 3, 30, 12), utc(2024, 3, 31, 12)),  # spring forward 02:00 -> 03:00
    (BERLIN, utc(2024, 10, 26, 12), utc(2024, 10, 27, 12)),  # fall back 03:00 -> 02:00
    (NEW_YORK, utc(2024, 3, 9, 18), utc(2024, 3, 10, 18)),  # spring forward 02:00 -> 03:00
    (NEW_YORK, utc(2024, 11, 2, 18), utc(2024, 11, 3, 18)),  # fall back 02:00 -> 01:00
    ("America/Havana", utc(2024, 3, 9, 12), utc(2024, 3, 10, 12)),  # gap at midnight
    ("America/Havana", utc(2024, 11, 2, 12), utc(2024, 11, 3, 12)),  # repeats 00:00-00:59
    ("Australia/Lord_Howe", utc(2024, 10, 5, 6), utc(2024, 10, 6, 6)),  # 30-minute gap
    ("Australia/Lord_Howe", utc(2024, 4, 6, 6), utc(2024, 4, 7, 6)),  # 30-minute repeat
]


@pytest.mark.parametrize(("zone", "start", "end"), WINDOWS, ids=lambda v: str(v))
@pytest.mark.parametrize(("cron", "minutes", "hours", "fixed"), EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_runs_match_the_minute_by_minute_oracle(
    cron: str, minutes: set[int], hours: set[int], fixed: bool, zone: str, start: datetime, end: datetime
) -> None:
    expected = oracle(minutes, hours, fixed, zone, start, end)
    assert runs_between(cron, zone, start, end) == expected
    # From any starting instant inside the window, the next run is the oracle's next one.
    probe = start
    while probe < end:
        following = [t for t in expected if t > probe]
        if following:
            assert next_run_after(cron, zone, probe) == following[0], probe
        probe += timedelta(minutes=7, seconds=30)


# --- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("61 * * * *", "invalid minute field '61'"),
        ("* 24 * * *", "invalid hour field '24'"),
        ("* * 0 * *", "invalid day-of-month field '0'"),
        ("* * * 13 *", "invalid month field '13'"),
        ("* * * * 8", "invalid day-of-week field '8'"),
        ("*/0 * * * *", "invalid minute field '*/0'"),
        ("5-1 * * * *", "invalid minute field '5-1'"),
        ("0 0 30 2 *", "invalid day-of-month field '30'"),
        ("* * * *", "must have five fields"),
        ("0 0 * * * *", "must have five fields"),
        ("@daily", "must have five fields"),
        ("", "must have five fields"),
        ("? * * * *", "invalid minute field '?'"),
        ("H * * * *", "invalid minute field 'H'"),
        ("0 0 * 2 MON#6", "invalid day-of-week field 'MON#6'"),
    ],
)
def test_invalid_cron_names_the_cron_field(expr: str, problem: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        validate_cron(expr)
    assert caught.value.field == "cron"
    assert problem in caught.value.problem


def test_invalid_cron_is_refused_by_the_calculators_too() -> None:
    with pytest.raises(InvalidCron):
        next_run_after("61 * * * *", "UTC", utc(2024, 1, 1))
    with pytest.raises(InvalidCron):
        runs_between("* * * *", "UTC", utc(2024, 1, 1), utc(2024, 1, 2))


@pytest.mark.parametrize(
    ("expr", "normal"),
    [
        ("0  9 * *   1-5", "0 9 * * 1-5"),
        ("  */5 * * * *  ", "*/5 * * * *"),
        ("0 0 * jan,dec sun", "0 0 * jan,dec sun"),
        ("0 0 L * *", "0 0 L * *"),
        ("0 0 * 2 MON#5", "0 0 * 2 MON#5"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 * * 7", "0 0 * * 7"),
    ],
)
def test_valid_cron_is_normalised(expr: str, normal: str) -> None:
    assert validate_cron(expr) == normal


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "europe/berlin",
        "Europe",
        "",
        " UTC",
        "/etc/localtime",
        "../zoneinfo/UTC",
        "localtime",
        "posixrules",
        "Factory",
        "right/Europe/Berlin",
        "posix/Europe/Berlin",
        "UTC\x00",
        "A" * 80,
    ],
)
def test_unknown_time_zone_names_the_tz_field(name: str) -> None:
    with pytest.raises(UnknownTimeZone) as caught:
        load_zone(name)
    assert caught.value.field == "tz"


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "America/New_York", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]
)
def test_known_time_zones_load(name: str) -> None:
    assert load_zone(name).key == name


def test_unknown_zone_is_refused_by_the_calculators() -> None:
    with pytest.raises(UnknownTimeZone):
        next_run_after("* * * * *", "Nowhere/City", utc(2024, 1, 1))
