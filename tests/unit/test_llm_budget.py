"""Usage and budget accounting: prices, budget checks, alert thresholds and the API shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from chalicelib.llm.budget import (
    FALLBACK_PRICE,
    PRICES,
    BudgetSettings,
    ModelUsage,
    Spend,
    UsageRecord,
    budget_alerts,
    check_budget,
    cost_micro_usd,
    costs_today,
    crossed_thresholds,
    day_key,
    month_key,
    price_for,
    usd_to_micro,
)


def test_price_per_million_tokens_is_micro_usd_per_token() -> None:
    # gpt-4o-mini: 0.15 USD / 1M input, 0.60 USD / 1M output
    assert cost_micro_usd("gpt-4o-mini", 1_000_000, 0) == 150_000
    assert cost_micro_usd("gpt-4o-mini", 0, 1_000_000) == 600_000
    assert cost_micro_usd("gpt-4o-mini", 100, 25) == 30  # 15 + 15


def test_costs_round_up_to_the_next_micro_dollar() -> None:
    assert cost_micro_usd("gpt-4o-mini", 1, 0) == 1  # 0.15 µUSD
    assert cost_micro_usd("gpt-4o-mini", 0, 0) == 0


def test_dated_model_names_take_the_longest_listed_prefix() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == (PRICES["gpt-4o-mini"], True)
    assert price_for("gpt-4.1-mini-2025-04-14") == (PRICES["gpt-4.1-mini"], True)
    assert price_for("gpt-4o") == (PRICES["gpt-4o"], True)


def test_unknown_models_are_charged_at_the_fallback_price_and_flagged() -> None:
    assert price_for("llama3.1") == (FALLBACK_PRICE, False)
    assert price_for("gpt-4omega") == (FALLBACK_PRICE, False)  # a prefix must end at a '-'
    record = UsageRecord.of("llama3.1", 1000, 100, 1100, datetime(2024, 1, 15, tzinfo=UTC))
    assert record.estimated_price
    assert record.cost_micro_usd == cost_micro_usd("gpt-4o", 1000, 100) == 3500


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        cost_micro_usd("gpt-4o-mini", -1, 0)


def test_usage_counts_towards_utc_day_and_month() -> None:
    late_evening_in_new_york = datetime(2024, 1, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5)))

    assert day_key(late_evening_in_new_york) == "2024-02-01"
    assert month_key(late_evening_in_new_york) == "2024-02"


def test_budget_settings_defaults_and_openmotoko_spelling() -> None:
    assert BudgetSettings().model_dump() == {
        "daily_limit_usd": None,
        "monthly_limit_usd": None,
        "alert_thresholds": [0.5, 0.8, 0.95],
    }
    settings = BudgetSettings.model_validate(
        {"dailyLimit": 5, "monthlyLimit": 100, "alertThresholds": [0.95, 0.5]}
    )
    assert settings.model_dump() == {
        "daily_limit_usd": 5,
        "monthly_limit_usd": 100,
        "alert_thresholds": [0.5, 0.95],
    }


@pytest.mark.parametrize(
    "body",
    [
        {"daily_limit_usd": -1},
        {"alert_thresholds": [0]},
        {"alert_thresholds": [1.5]},
        {"alert_thresholds": "0.5"},
        {"weekly_limit_usd": 3},
    ],
)
def test_bad_budget_settings_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BudgetSettings.model_validate(body)


def test_no_limits_always_allow() -> None:
    assert check_budget(BudgetSettings(), Spend(10**12, 10**12)).allowed


def test_budget_is_used_up_when_spend_reaches_the_limit() -> None:
    settings = BudgetSettings(daily_limit_usd=1.0, monthly_limit_usd=20.0)

    assert check_budget(settings, Spend(999_999, 5_000_000)).allowed
    daily = check_budget(settings, Spend(1_000_000, 5_000_000))
    assert not daily.allowed and daily.exceeded == ["daily"]
    both = check_budget(settings, Spend(1_500_000, 20_000_000))
    assert both.exceeded == ["daily", "monthly"]
    assert both.message == "The daily and monthly LLM budget is used up"


def test_a_zero_limit_allows_nothing() -> None:
    assert not check_budget(BudgetSettings(monthly_limit_usd=0), Spend(0, 0)).allowed


def test_crossing_detection() -> None:
    thresholds = [0.5, 0.8, 0.95]
    limit = usd_to_micro(10.0)

    assert crossed_thresholds(limit, 4_000_000, 5_000_000, thresholds) == [0.5]  # landing exactly on 50 %
    assert crossed_thresholds(limit, 5_000_000, 6_000_000, thresholds) == []  # already past 50 %
    assert crossed_thresholds(limit, 4_900_000, 9_600_000, thresholds) == [0.5, 0.8, 0.95]
    assert crossed_thresholds(limit, 9_600_000, 12_000_000, thresholds) == []
    assert crossed_thresholds(limit, 1_000_000, 1_000_000, thresholds) == []
    assert crossed_thresholds(0, 0, 5, thresholds) == []


def test_alerts_for_one_usage_cover_both_periods() -> None:
    settings = BudgetSettings(daily_limit_usd=1.0, monthly_limit_usd=10.0, alert_thresholds=[0.5, 0.8])

    alerts = budget_alerts(
        settings, Spend(today_micro_usd=700_000, month_micro_usd=4_900_000), cost_micro=200_000
    )

    assert [(a.period, a.threshold, a.limit_usd, a.spent_usd) for a in alerts] == [
        ("daily", 0.8, 1.0, 0.9),
        ("monthly", 0.5, 10.0, 5.1),
    ]


def test_no_alerts_without_limits() -> None:
    assert budget_alerts(BudgetSettings(), Spend(0, 0), cost_micro=10**9) == []


def test_costs_today_shape() -> None:
    at = datetime(2024, 1, 15, 12, tzinfo=UTC)
    mini = ModelUsage().add(UsageRecord.of("gpt-4o-mini", 1000, 125, 1125, at))
    mini = mini.add(UsageRecord.of("gpt-4o-mini", 2000, 250, 2250, at))
    big = ModelUsage().add(UsageRecord.of("gpt-4o", 1000, 100, 1100, at))
    settings = BudgetSettings(daily_limit_usd=0.01, monthly_limit_usd=None)

    view = costs_today(
        date(2024, 1, 15), {"gpt-4o-mini": mini, "gpt-4o": big}, settings, month_spent_micro=50_000
    )

    assert view.model_dump() == {
        "date": "2024-01-15",
        "total_cost_usd": 0.004175,
        "total_tokens": 4475,
        "requests": 3,
        "by_model": [
            {
                "model": "gpt-4o",
                "requests": 1,
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "total_tokens": 1100,
                "cost_usd": 0.0035,
            },
            {
                "model": "gpt-4o-mini",
                "requests": 2,
                "prompt_tokens": 3000,
                "completion_tokens": 375,
                "total_tokens": 3375,
                "cost_usd": 0.000675,
            },
        ],
        "budget": {
            "daily_limit_usd": 0.01,
            "daily_spent_usd": 0.004175,
            "daily_remaining_usd": 0.005825,
            "monthly_limit_usd": None,
            "monthly_spent_usd": 0.05,
            "monthly_remaining_usd": None,
            "alert_thresholds": [0.5, 0.8, 0.95],
        },
    }
