"""LLM usage and budget accounting, pure: prices, daily/monthly budget checks, alert thresholds and
the shapes of ``GET/PUT /api/v1/settings/budget`` and ``GET /api/v1/costs/today``.

Money is counted in integer micro-dollars (1 USD = 1 000 000 µUSD): exact, and a DynamoDB atomic
``ADD`` keeps per-tenant counters right under concurrency. The API shows US dollars.

Prices (USD per million tokens, input / output), the providers' standard list prices. A model
name matches its longest listed prefix, so ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``.
A model not in the table is charged at FALLBACK_PRICE (gpt-4o's) and reported as estimated, so an
unknown model can never slip past a budget for free.

    model          input   output
    gpt-4o-mini     0.15     0.60
    gpt-4o          2.50    10.00
    gpt-4.1         2.00     8.00
    gpt-4.1-mini    0.40     1.60
    gpt-4.1-nano    0.10     0.40
    o3-mini         1.10     4.40
    o4-mini         1.10     4.40
    gpt-3.5-turbo   0.50     1.50
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field, field_validator

from chalicelib.models.common import Model

MICROS_PER_USD = 1_000_000
DEFAULT_ALERT_THRESHOLDS = (0.5, 0.8, 0.95)
Period = Literal["daily", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "monthly")


@dataclass(frozen=True)
class ModelPrice:
    input_usd_per_million: Decimal
    output_usd_per_million: Decimal


def _price(input_usd: str, output_usd: str) -> ModelPrice:
    return ModelPrice(Decimal(input_usd), Decimal(output_usd))


PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4o": _price("2.50", "10.00"),
    "gpt-4.1": _price("2.00", "8.00"),
    "gpt-4.1-mini": _price("0.40", "1.60"),
    "gpt-4.1-nano": _price("0.10", "0.40"),
    "o3-mini": _price("1.10", "4.40"),
    "o4-mini": _price("1.10", "4.40"),
    "gpt-3.5-turbo": _price("0.50", "1.50"),
}
FALLBACK_PRICE = PRICES["gpt-4o"]


def price_for(model: str, prices: Mapping[str, ModelPrice] = PRICES) -> tuple[ModelPrice, bool]:
    """The price of ``model`` and whether it was listed (False: FALLBACK_PRICE, an estimate)."""
    matches = [name for name in prices if model == name or model.startswith(f"{name}-")]
    if not matches:
        return FALLBACK_PRICE, False
    return prices[max(matches, key=len)], True


def cost_micro_usd(
    model: str, prompt_tokens: int, completion_tokens: int, prices: Mapping[str, ModelPrice] = PRICES
) -> int:
    """Cost in µUSD, rounded up: a USD-per-million-tokens price is exactly µUSD per token."""
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts cannot be negative")
    price, _ = price_for(model, prices)
    exact = prompt_tokens * price.input_usd_per_million + completion_tokens * price.output_usd_per_million
    return math.ceil(exact)


def micro_to_usd(micros: int) -> float:
    return round(micros / MICROS_PER_USD, 6)


def usd_to_micro(usd: float) -> int:
    return round(Decimal(str(usd)) * MICROS_PER_USD)


def day_key(at: datetime) -> str:
    """The UTC day a usage counts towards: ``2024-01-15``."""
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def month_key(at: datetime) -> str:
    """The UTC month a usage counts towards: ``2024-01``."""
    return at.astimezone(UTC).strftime("%Y-%m")


class UsageRecord(Model):
    """One LLM call (or one answered query) to add to a tenant's counters."""

    model: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)
    cost_micro_usd: int = Field(ge=0)
    estimated_price: bool = False
    at: datetime

    @classmethod
    def of(
        cls, model: str, prompt_tokens: int, completion_tokens: int, total_tokens: int, at: datetime
    ) -> UsageRecord:
        _, listed = price_for(model)
        return cls(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens,
            cost_micro_usd=cost_micro_usd(model, prompt_tokens, completion_tokens),
            estimated_price=not listed,
            at=at,
        )


class BudgetSettings(Model):
    """``GET/PUT /api/v1/settings/budget``. A limit of ``null`` means no limit; 0 allows nothing.

    Accepts the OpenMotoko spelling too (``dailyLimit``, ``monthlyLimit``, ``alertThresholds``);
    always answers in snake_case like the rest of the API.
    """

    model_config = ConfigDict(extra="forbid")

    daily_limit_usd: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("daily_limit_usd", "dailyLimit", "daily_limit")
    )
    monthly_limit_usd: float | None = Field(
        default=None,
        ge=0,
        validation_alias=AliasChoices("monthly_limit_usd", "monthlyLimit", "monthly_limit"),
    )
    alert_thresholds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_ALERT_THRESHOLDS),
        max_length=10,
        validation_alias=AliasChoices("alert_thresholds", "alertThresholds"),
    )

    @field_validator("alert_thresholds")
    @classmethod
    def _thresholds_are_fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < t <= 1 for t in value):
            raise ValueError("each threshold is a fraction of the limit, above 0 and at most 1")
        return sorted(set(value))

    def limit_micro(self, period: Period) -> int | None:
        usd = self.daily_limit_usd if period == "daily" else self.monthly_limit_usd
        return None if usd is None else usd_to_micro(usd)


@dataclass(frozen=True)
class Spend:
    """What a tenant has spent so far, in µUSD, today and this month (UTC)."""

    today_micro_usd: int = 0
    month_micro_usd: int = 0

    def spent(self, period: Period) -> int:
        return self.today_micro_usd if period == "daily" else self.month_micro_usd

    def plus(self, micros: int) -> Spend:
        return Spend(self.today_micro_usd + micros, self.month_micro_usd + micros)


class BudgetCheck(Model):
    allowed: bool
    exceeded: list[Period] = Field(default_factory=list)

    @property
    def message(self) -> str:
        if self.allowed:
            return "Within budget"
        return f"The {' and '.join(self.exceeded)} LLM budget is used up"


def check_budget(settings: BudgetSettings, spend: Spend) -> BudgetCheck:
    """May the tenant make another LLM call? Refused once a period's spend has reached its limit."""
    exceeded: list[Period] = []
    for period in PERIODS:
        limit = settings.limit_micro(period)
        if limit is not None and spend.spent(period) >= limit:
            exceeded.append(period)
    return BudgetCheck(allowed=not exceeded, exceeded=exceeded)


def crossed_thresholds(
    limit_micro: int, before_micro: int, after_micro: int, thresholds: Sequence[float]
) -> list[float]:
    """Thresholds this usage crossed: spend went from below ``t * limit`` to at or above it."""
    if limit_micro <= 0 or after_micro <= before_micro:
        return []
    return [t for t in sorted(thresholds) if before_micro < t * limit_micro <= after_micro]


class BudgetAlert(Model):
    period: Period
    threshold: float
    limit_usd: float
    spent_usd: float


def budget_alerts(settings: BudgetSettings, before: Spend, cost_micro: int) -> list[BudgetAlert]:
    """The alerts to raise for one usage costing ``cost_micro`` on top of ``before``."""
    after = before.plus(cost_micro)
    alerts: list[BudgetAlert] = []
    for period in PERIODS:
        limit = settings.limit_micro(period)
        if limit is None:
            continue
        for threshold in crossed_thresholds(
            limit, before.spent(period), after.spent(period), settings.alert_thresholds
        ):
            alerts.append(
                BudgetAlert(
                    period=period,
                    threshold=threshold,
                    limit_usd=micro_to_usd(limit),
                    spent_usd=micro_to_usd(after.spent(period)),
                )
            )
    return alerts


class ModelUsage(Model):
    """Counters for one model over one period (what the store keeps per tenant, day and model)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_micro_usd: int = 0

    def add(self, record: UsageRecord) -> ModelUsage:
        return ModelUsage(
            requests=self.requests + 1,
            prompt_tokens=self.prompt_tokens + record.prompt_tokens,
            completion_tokens=self.completion_tokens + record.completion_tokens,
            total_tokens=self.total_tokens + record.total_tokens,
            cost_micro_usd=self.cost_micro_usd + record.cost_micro_usd,
        )


class ModelCost(Model):
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float


class BudgetStatus(Model):
    daily_limit_usd: float | None
    daily_spent_usd: float
    daily_remaining_usd: float | None
    monthly_limit_usd: float | None
    monthly_spent_usd: float
    monthly_remaining_usd: float | None
    alert_thresholds: list[float]


class CostsToday(Model):
    """``GET /api/v1/costs/today``: today's (UTC) cost breakdown per model, with the budget state."""

    date: str
    total_cost_usd: float
    total_tokens: int
    requests: int
    by_model: list[ModelCost]
    budget: BudgetStatus


def costs_today(
    day: date, usage_by_model: Mapping[str, ModelUsage], settings: BudgetSettings, month_spent_micro: int
) -> CostsToday:
    """Build the costs view from the stored counters (month spend includes today's)."""
    by_model = [
        ModelCost(
            model=model,
            requests=usage.requests,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cost_usd=micro_to_usd(usage.cost_micro_usd),
        )
        for model, usage in sorted(usage_by_model.items(), key=lambda item: -item[1].cost_micro_usd)
    ]
    today_micro = sum(usage.cost_micro_usd for usage in usage_by_model.values())
    spend = Spend(today_micro_usd=today_micro, month_micro_usd=month_spent_micro)
    return CostsToday(
        date=day.isoformat(),
        total_cost_usd=micro_to_usd(today_micro),
        total_tokens=sum(usage.total_tokens for usage in usage_by_model.values()),
        requests=sum(usage.requests for usage in usage_by_model.values()),
        by_model=by_model,
        budget=_budget_status(settings, spend),
    )


def _budget_status(settings: BudgetSettings, spend: Spend) -> BudgetStatus:
    def remaining(period: Period) -> float | None:
        limit = settings.limit_micro(period)
        return None if limit is None else micro_to_usd(max(limit - spend.spent(period), 0))

    return BudgetStatus(
        daily_limit_usd=settings.daily_limit_usd,
        daily_spent_usd=micro_to_usd(spend.today_micro_usd),
        daily_remaining_usd=remaining("daily"),
        monthly_limit_usd=settings.monthly_limit_usd,
        monthly_spent_usd=micro_to_usd(spend.month_micro_usd),
        monthly_remaining_usd=remaining("monthly"),
        alert_thresholds=settings.alert_thresholds,
    )
