from __future__ import annotations

from chalicelib import tokens
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.errors import Forbidden
from chalicelib.models.common import ListQuery
from chalicelib.models.tokens import TokenCreate, TokenInfo, TokenIssued

DEFAULT_PAGE = 50
api = Router(__name__, tag="tokens")


@api.route(
    "/api/v1/tokens",
    "POST",
    scope="admin",
    summary="Issue an API token (shown once)",
    body=TokenCreate,
    response=TokenIssued,
    status=201,
)
def create_token(req: Req) -> Reply:
    body: TokenCreate = req.body
    return Reply(tokens.issue_token(body.tenant or req.tenant, body), 201)


@api.route("/api/v1/tokens", summary="List the tenant's tokens", query=ListQuery, response=list[TokenInfo])
def list_tokens(req: Req) -> ListReply:
    query: ListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page = tokens.list_tokens(req.tenant, limit=limit, offset=query.offset or 0, cursor=query.cursor)
    return ListReply.from_page(items, page, page.total(), query, limit)


@api.route("/api/v1/tokens/{id}", "DELETE", scope="write", summary="Revoke a token", status=204)
def revoke_token(req: Req) -> Reply:
    if req.principal.token_id is None and not req.principal.has("admin"):
        raise Forbidden("Only API tokens and admins revoke tokens")
    tokens.revoke_token(req.tenant, req.path["id"])
    return Reply(None, 204)
