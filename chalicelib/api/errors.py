from __future__ import annotations

from chalicelib import errorlog
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.common import Message, message
from chalicelib.models.errors import ErrorCreate, ErrorListQuery, ErrorRecord

DEFAULT_PAGE = 100
api = Router(__name__, tag="errors")


@api.route(
    "/api/v1/errors", summary="List errors, newest first", query=ErrorListQuery, response=list[ErrorRecord]
)
def list_errors(req: Req) -> ListReply:
    query: ErrorListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = errorlog.list_errors(
        req.tenant,
        limit=limit,
        offset=query.offset or 0,
        cursor=query.cursor,
        severity=query.severity,
        project_id=query.project_id,
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route(
    "/api/v1/errors",
    "POST",
    scope="write",
    summary="Log an error",
    body=ErrorCreate,
    response=Message,
    status=201,
)
def log_error(req: Req) -> Reply:
    record = errorlog.log_error(req.tenant, req.body)
    return Reply(message("Error logged successfully", id=record.id), 201)
