"""/api/v1/scheduler/tasks: user cron jobs with time zones, toggle, run now and run history."""

from __future__ import annotations

from chalicelib import scheduler_tasks
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.common import ListQuery
from chalicelib.scheduling import (
    RunRecord,
    SchedulerTask,
    SchedulerTaskCreate,
    SchedulerTaskUpdate,
    SchedulerToggle,
)

DEFAULT_PAGE = 50
BASE = "/api/v1/scheduler/tasks"
api = Router(__name__, tag="scheduler")


@api.route(BASE, summary="List scheduled tasks", query=ListQuery, response=list[SchedulerTask])
def list_tasks(req: Req) -> ListReply:
    query: ListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = scheduler_tasks.list_tasks(
        req.tenant, limit=limit, offset=query.offset or 0, cursor=query.cursor
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route(
    BASE,
    "POST",
    scope="write",
    summary="Create a scheduled task",
    body=SchedulerTaskCreate,
    response=SchedulerTask,
    status=201,
)
def create_task(req: Req) -> Reply:
    task = scheduler_tasks.create_task(req.tenant, req.body)
    return Reply(task, 201, {"Location": f"{BASE}/{task.id}"})


@api.route(BASE + "/{id}", summary="Get a scheduled task", response=SchedulerTask)
def get_task(req: Req) -> SchedulerTask:
    return scheduler_tasks.get_task(req.tenant, req.path["id"])


@api.route(
    BASE + "/{id}",
    "PUT",
    scope="write",
    summary="Change a scheduled task (only the fields sent)",
    body=SchedulerTaskUpdate,
    response=SchedulerTask,
)
def update_task(req: Req) -> SchedulerTask:
    return scheduler_tasks.update_task(req.tenant, req.path["id"], req.body)


@api.route(BASE + "/{id}", "DELETE", scope="write", summary="Delete a scheduled task", status=204)
def delete_task(req: Req) -> Reply:
    scheduler_tasks.delete_task(req.tenant, req.path["id"])
    return Reply(None, 204)


@api.route(
    BASE + "/{id}/toggle",
    "POST",
    scope="write",
    summary="Enable or disable a scheduled task",
    body=SchedulerToggle,
    response=SchedulerTask,
)
def toggle_task(req: Req) -> SchedulerTask:
    return scheduler_tasks.toggle_task(req.tenant, req.path["id"], req.body.enabled)


@api.route(
    BASE + "/{id}/run",
    "POST",
    scope="write",
    summary="Run a scheduled task now, outside its schedule",
    response=RunRecord,
    status=202,
)
def run_task(req: Req) -> Reply:
    run = scheduler_tasks.run_now(req.tenant, req.path["id"], req.request_id)
    return Reply(run, 202)


@api.route(
    BASE + "/{id}/runs",
    summary="Run history of a scheduled task, newest first",
    query=ListQuery,
    response=list[RunRecord],
)
def list_runs(req: Req) -> ListReply:
    query: ListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = scheduler_tasks.list_runs(
        req.tenant, req.path["id"], limit=limit, offset=query.offset or 0, cursor=query.cursor
    )
    return ListReply.from_page(items, page, total, query, limit)
