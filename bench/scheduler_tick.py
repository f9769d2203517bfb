"""Cost of the scheduler tick: DynamoDB calls and time, with N tasks of which D are due.

The claim to check: a tick costs one Query per due-list shard whatever the number of tasks, plus a
fixed number of calls per DUE task (read it, check its runs, one transaction); tasks that are not
due cost nothing, and nothing is ever Scanned. Baseline: an idle tick over the same table.
Run: python -m bench.scheduler_tick [tasks] [due]   (moto in process)
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import ROOT  # noqa: F401  (puts the repo on sys.path)

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL="WARNING",
    BORGOS_TABLE="borgos-bench",
)

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def main(tasks: int, due: int) -> None:
    from moto import mock_aws

    with mock_aws():
        from chalicelib import aws, clock, scheduler_tasks, scheduler_tick
        from chalicelib.scheduling import ManualClock, SchedulerTaskCreate
        from infra.local import moto_patches
        from infra.table import create_table

        moto_patches.apply()
        create_table(aws.client("dynamodb"), "borgos-bench")
        manual = ManualClock(START)
        clock.now = manual
        for number in range(tasks):
            # `due` tasks run every 5 minutes; the others once a day at 03:00.
            cron = "*/5 * * * *" if number < due else "0 3 * * *"
            request = SchedulerTaskCreate(
                name=f"t{number}", cron=cron, tz="UTC", action={"type": "scan", "project_id": 1}
            )
            scheduler_tasks.create_task(f"tenant{number % 10}", request)
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        aws.client("dynamodb").meta.events.register("before-call.dynamodb.*", count)
        rows = []
        for label, at in (
            ("idle tick", START + timedelta(minutes=1)),
            ("due tick", START + timedelta(minutes=5)),
        ):
            calls.clear()
            manual.set(at)
            started = time.perf_counter()
            report = scheduler_tick.tick(at)
            elapsed = time.perf_counter() - started
            rows.append((label, report.runs, dict(calls), elapsed))
    print(f"{tasks} tasks in 10 tenants, {due} due every 5 minutes (moto in process)")
    print(f"{'tick':10} {'runs':>5} {'seconds':>8}  DynamoDB calls")
    for label, runs, counted, elapsed in rows:
        text = ", ".join(f"{n} {op}" for op, n in sorted(counted.items()))
        print(f"{label:10} {runs:>5} {elapsed:8.3f}  {text}")
    idle, busy = rows
    per_task = {op: (n - idle[2].get(op, 0)) / max(due, 1) for op, n in busy[2].items()}
    print(
        "per due task beyond the idle tick: " + ", ".join(f"{v:g} {op}" for op, v in sorted(per_task.items()))
    )
    print(f"Scan calls: {idle[2].get('Scan', 0) + busy[2].get('Scan', 0)}")
    print(f"due tick / idle tick time: {busy[3] / idle[3]:.1f}x")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    main(*(arguments + [500, 50][len(arguments) :]))
