from __future__ import annotations

from chalicelib import hosts, metrics
from chalicelib.api.routing import ListReply, Req, Router, TextReply
from chalicelib.models.common import ListQuery
from chalicelib.models.hosts import HostOut
from chalicelib.prometheus import CONTENT_TYPE

DEFAULT_PAGE = 50
api = Router(__name__, tag="hosts")


@api.route("/api/v1/hosts", summary="List the tenant's worker hosts", query=ListQuery, response=list[HostOut])
def list_hosts(req: Req) -> ListReply:
    query: ListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page = hosts.list_hosts(req.tenant, limit=limit, offset=query.offset or 0, cursor=query.cursor)
    return ListReply.from_page(items, page, page.total(), query, limit)


@api.route("/api/v1/hosts/{name}", summary="One worker host with its latest metrics", response=HostOut)
def get_host(req: Req) -> HostOut:
    return hosts.get_host(req.tenant, req.path["name"])


@api.route("/metrics", scope="metrics", summary="Prometheus metrics (text exposition format)")
def prometheus_metrics(req: Req) -> TextReply:
    return TextReply(metrics.exposition(req.tenant), CONTENT_TYPE)
