"""LLM usage per tenant in the table: budget settings, per-day-and-model counters, a per-month total,
and the alerts a usage crosses (pure rules in chalicelib/llm/budget.py).

Counters are atomic DynamoDB ADDs, so concurrent queries never lose usage. The alert decision reads
the spend before adding; two queries finishing at the same instant may both see the same "before",
which can repeat an alert but never miss one."""

from __future__ import annotations

from datetime import datetime

from chalicelib import audit, clock, events
from chalicelib.llm.budget import (
    BudgetAlert,
    BudgetCheck,
    BudgetSettings,
    CostsToday,
    ModelUsage,
    Spend,
    UsageRecord,
    budget_alerts,
    check_budget,
    costs_today,
    day_key,
    month_key,
)
from chalicelib.store import keys
from chalicelib.store.table import Tx, get_store

BUDGET_SK = "BUDGET"


def _day_prefix(day: str) -> str:
    return f"USAGE#D#{day}#"


def _month_sk(month: str) -> str:
    return f"USAGE#M#{month}"


def get_budget(tenant: str) -> BudgetSettings:
    item = get_store().get(keys.tenant_pk(tenant), BUDGET_SK)
    if not item:
        return BudgetSettings()
    return BudgetSettings.model_validate(
        {k: item[k] for k in ("daily_limit_usd", "monthly_limit_usd", "alert_thresholds") if k in item}
    )


def put_budget(
    tenant: str, settings: BudgetSettings, actor: str, *, token_id: int | None = None
) -> BudgetSettings:
    values = settings.model_dump()

    def build(tx: Tx) -> None:
        tx.put({"PK": tx.pk, "SK": BUDGET_SK, "entity": "budget", **values, "updated_at": clock.iso(tx.now)})
        audit.add(
            tx, actor=actor, action="budget.update", arguments=values, result="saved", token_id=token_id
        )

    get_store().commit(tenant, build)
    return settings


def usage_today(tenant: str, at: datetime) -> dict[str, ModelUsage]:
    page = get_store().query_page(pk=keys.tenant_pk(tenant), sk_prefix=_day_prefix(day_key(at)), limit=500)
    return {
        item["model"]: ModelUsage.model_validate({k: int(item.get(k, 0)) for k in ModelUsage.model_fields})
        for item in page.items
    }


def spend(tenant: str, at: datetime) -> Spend:
    today = sum(usage.cost_micro_usd for usage in usage_today(tenant, at).values())
    month = get_store().get(keys.tenant_pk(tenant), _month_sk(month_key(at))) or {}
    return Spend(today_micro_usd=today, month_micro_usd=int(month.get("cost_micro_usd", 0)))


def check(tenant: str, at: datetime | None = None) -> BudgetCheck:
    return check_budget(get_budget(tenant), spend(tenant, at or clock.now()))


def record_usage(tenant: str, record: UsageRecord) -> list[BudgetAlert]:
    """Add one usage to today's and this month's counters; raise the alerts it crosses."""
    if record.total_tokens == 0 and record.cost_micro_usd == 0:
        return []
    settings = get_budget(tenant)
    alerts = budget_alerts(settings, spend(tenant, record.at), record.cost_micro_usd)
    counts: dict[str, int | float] = {
        "requests": 1,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "total_tokens": record.total_tokens,
        "cost_micro_usd": record.cost_micro_usd,
    }

    def build(tx: Tx) -> None:
        day = day_key(record.at)
        tx.update(
            tx.pk,
            f"{_day_prefix(day)}{record.model}",
            set={"entity": "llm_usage", "model": record.model, "day": day},
            add=counts,
            must_exist=False,
        )
        tx.update(tx.pk, _month_sk(month_key(record.at)), add=counts, must_exist=False)
        for alert in alerts:
            events.budget_alert(tx, alert.model_dump(mode="json"))

    get_store().commit(tenant, build)
    return alerts


def costs(tenant: str, at: datetime | None = None) -> CostsToday:
    moment = at or clock.now()
    current = spend(tenant, moment)
    return costs_today(
        moment.date(), usage_today(tenant, moment), get_budget(tenant), current.month_micro_usd
    )


def usage_of(model: str, prompt: int, completion: int, total: int) -> UsageRecord:
    return UsageRecord.of(model, prompt, completion, total, clock.now())
