import random
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.webhooks import retry
from chalicelib.webhooks.retry import Action

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def fail(attempt: int, *, status: int | None = 500, **kwargs: object) -> retry.Decision:
    options: dict = {"failing_since": None, "rng": random.Random(7), **kwargs}
    return retry.decide(attempt=attempt, status_code=status, now=NOW, **options)


def wait_of(decision: retry.Decision) -> timedelta:
    assert decision.retry_at is not None
    return decision.retry_at - NOW


def test_the_schedule_is_the_documented_one() -> None:
    assert [d.total_seconds() for d in retry.RETRY_SCHEDULE] == [
        0,
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    ]
    assert retry.MAX_ATTEMPTS == 8


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(1, 5), (2, 300), (3, 1800), (4, 7200), (5, 18000), (6, 36000), (7, 36000)]
)
def test_each_failed_attempt_waits_the_next_step_with_jitter(attempt: int, seconds: int) -> None:
    assert retry.scheduled_delay(attempt) == timedelta(seconds=seconds)
    waits = {wait_of(fail(attempt, rng=random.Random(seed))).total_seconds() for seed in range(300)}
    assert min(waits) >= seconds * 0.9
    assert max(waits) <= seconds * 1.1
    assert len(waits) > 250  # jitter actually varies
    assert min(waits) < seconds * 0.95 and max(waits) > seconds * 1.05  # and spans the range


def test_jitter_comes_from_the_injected_rng() -> None:
    first = fail(3, rng=random.Random(42)).retry_at
    assert fail(3, rng=random.Random(42)).retry_at == first
    assert fail(3, rng=random.Random(43)).retry_at != first


def test_the_eighth_failure_gives_up() -> None:
    assert retry.scheduled_delay(8) is None
    decision = fail(8)
    assert decision.action is Action.GIVE_UP
    assert decision.retry_at is None


def test_success_is_any_2xx_and_clears_the_failure_clock() -> None:
    for status in (200, 201, 204, 299):
        decision = fail(3, status=status, failing_since=NOW - timedelta(days=2))
        assert decision.action is Action.SUCCESS
        assert decision.failing_since is None
    for failure in (100, 199, 300, 302, 400, 404, 500, 503, None):
        assert fail(1, status=failure).action is Action.RETRY


def test_first_failure_starts_the_failure_clock_later_ones_keep_it() -> None:
    assert fail(1).failing_since == NOW
    since = NOW - timedelta(hours=3)
    assert fail(2, failing_since=since).failing_since == since


def test_410_disables_at_once() -> None:
    decision = fail(1, status=410)
    assert decision.action is Action.DISABLE
    assert "410" in decision.reason


def test_five_days_of_failure_disables() -> None:
    almost = fail(2, failing_since=NOW - timedelta(days=5) + timedelta(seconds=1))
    assert almost.action is Action.RETRY
    decision = fail(2, failing_since=NOW - timedelta(days=5))
    assert decision.action is Action.DISABLE
    assert decision.retry_at is None


def test_retry_after_delays_beyond_the_schedule() -> None:
    decision = fail(1, retry_after=timedelta(minutes=10))
    assert decision.retry_at == NOW + timedelta(minutes=10)


def test_a_short_retry_after_never_shortens_the_schedule() -> None:
    assert wait_of(fail(3, retry_after=timedelta(seconds=1))) >= timedelta(minutes=27)


def test_retry_after_is_capped() -> None:
    decision = fail(1, retry_after=timedelta(days=30))
    assert decision.retry_at == NOW + retry.MAX_RETRY_AFTER


def test_parse_retry_after_seconds() -> None:
    assert retry.parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert retry.parse_retry_after(" 0 ", NOW) == timedelta(0)
    assert retry.parse_retry_after("99999999999999", NOW) == retry.MAX_RETRY_AFTER


def test_parse_retry_after_http_date() -> None:
    assert retry.parse_retry_after("Mon, 15 Jan 2024 11:30:00 GMT", NOW) == timedelta(hours=1)
    assert retry.parse_retry_after("Mon, 15 Jan 2024 10:30:30 -0000", NOW) == timedelta(seconds=30)
    assert retry.parse_retry_after("Sun, 14 Jan 2024 10:00:00 GMT", NOW) == timedelta(0)


@pytest.mark.parametrize("value", [None, "", "-5", "1.5", "soon", "²", "Mon, 99 Foo 2024 11:30:00 GMT"])
def test_parse_retry_after_ignores_nonsense(value: str | None) -> None:
    assert retry.parse_retry_after(value, NOW) is None


def test_decide_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        fail(0)
    with pytest.raises(ValueError, match="timezone"):
        retry.decide(
            attempt=1, status_code=500, now=datetime(2024, 1, 1), failing_since=None, rng=random.Random()
        )
    with pytest.raises(ValueError):
        retry.scheduled_delay(0)
