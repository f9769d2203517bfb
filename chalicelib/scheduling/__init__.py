"""Scheduled jobs: cron in time zones, due-run dispatch, retries and history retention.

Pure and store-agnostic: nothing here reads the clock, the table or the queue. See
docs/scheduling.md for the semantics (DST, catch-up, exactly-once keys, retries, retention).
"""

from chalicelib.scheduling.clock import Clock, ManualClock, system_clock
from chalicelib.scheduling.cron import (
    as_utc,
    is_fixed_time,
    iter_runs,
    load_zone,
    next_run_after,
    runs_between,
    validate_cron,
)
from chalicelib.scheduling.dispatch import (
    LATE_TOLERANCE,
    DuePlan,
    DueRun,
    Pause,
    TaskSchedule,
    due_runs,
    manual_run,
    run_key,
    scheduled_run,
)
from chalicelib.scheduling.errors import InvalidCron, ScheduleFieldError, UnknownTimeZone
from chalicelib.scheduling.models import (
    FINISHED,
    AgentTaskAction,
    CatchUpPolicy,
    DeploymentAction,
    RetryPolicy,
    RunRecord,
    RunStatus,
    RunTrigger,
    ScanAction,
    SchedulerTask,
    SchedulerTaskCreate,
    SchedulerTaskUpdate,
    SchedulerToggle,
    WebhookAction,
)
from chalicelib.scheduling.retention import RetentionPolicy, history_order, runs_to_prune
from chalicelib.scheduling.retry import JITTER_RATIO, next_retry_at, retry_delay

__all__ = [
    "FINISHED",
    "JITTER_RATIO",
    "LATE_TOLERANCE",
    "AgentTaskAction",
    "CatchUpPolicy",
    "Clock",
    "DeploymentAction",
    "DuePlan",
    "DueRun",
    "InvalidCron",
    "ManualClock",
    "Pause",
    "RetentionPolicy",
    "RetryPolicy",
    "RunRecord",
    "RunStatus",
    "RunTrigger",
    "ScanAction",
    "ScheduleFieldError",
    "SchedulerTask",
    "SchedulerTaskCreate",
    "SchedulerTaskUpdate",
    "SchedulerToggle",
    "TaskSchedule",
    "UnknownTimeZone",
    "WebhookAction",
    "as_utc",
    "due_runs",
    "history_order",
    "is_fixed_time",
    "iter_runs",
    "load_zone",
    "manual_run",
    "next_retry_at",
    "next_run_after",
    "retry_delay",
    "run_key",
    "runs_between",
    "runs_to_prune",
    "scheduled_run",
    "system_clock",
    "validate_cron",
]
