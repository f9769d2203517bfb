"""The route layer: every endpoint is declared with `Router.route`, which records it for the
OpenAPI document and wraps the view so that each request is authenticated, rate limited, parsed
into pydantic models, and answered with JSON (errors in the documented envelope).

A Router does not register anything with Chalice itself: app.py registers every path from the
generated route index (chalicelib/api/route_index.py) and imports a Router's module on the first
request it serves, so a cold Lambda only imports the code of the route it is called for."""

from __future__ import annotations

import contextvars
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from chalice import Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib import idempotency
from chalicelib.access import admit
from chalicelib.auth import Principal, bearer_from_header
from chalicelib.config import get_settings
from chalicelib.errors import (
    ApiError,
    InternalError,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)
from chalicelib.logs import logger
from chalicelib.models.common import ListQuery
from chalicelib.store.table import Page

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    summary: str
    tag: str
    scope: str | None  # None: public
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any  # a model, list[model], or None
    status: int
    name: str
    module: str  # the module whose Router serves it (for the route index)


ROUTES: list[RouteSpec] = []


@dataclass
class Req:
    """What a view gets: the caller, the parsed input, and the raw request for the rare extra."""

    principal: Principal
    request_id: str
    path: dict[str, Any]
    query: Any
    body: Any
    headers: dict[str, str]
    raw_body: bytes
    base_url: str

    @property
    def tenant(self) -> str:
        return self.principal.tenant


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class TextReply:
    """A body that is not JSON (e.g. the Prometheus exposition of GET /metrics)."""

    text: str
    content_type: str
    status: int = 200


@dataclass
class ListReply:
    """A page of a list; shaped as a bare array or as the pagination envelope (conventions)."""

    items: list[Any]
    total: int
    query: ListQuery
    limit: int
    next_cursor: str | None

    @classmethod
    def from_page(cls, items: list[Any], page: Page, total: int, query: ListQuery, limit: int) -> ListReply:
        return cls(items=items, total=total, query=query, limit=limit, next_cursor=page.next_cursor)


def new_request_id(context: dict[str, Any] | None) -> str:
    upstream = (context or {}).get("requestId")
    if upstream and re.fullmatch(r"[A-Za-z0-9-]{8,64}", str(upstream)):
        return f"req_{str(upstream).replace('-', '')[:24]}"
    return f"req_{uuid.uuid4().hex[:24]}"


def error_response(error: ApiError, request_id: str, extra_headers: dict[str, str] | None = None) -> Response:
    headers: dict[str, str | list[str]] = {
        "Content-Type": "application/json",
        "X-Request-Id": request_id,
        **error.headers,
    }
    headers.update(extra_headers or {})
    return Response(body=json.dumps(error.body(request_id)), status_code=error.status, headers=headers)


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _validation_error(exc: ValidationError, whole: str = "body") -> ValidationFailed:
    """Name every offending field (dotted path); `whole` names the input when the problem is all of it."""
    details = []
    for problem in exc.errors(include_url=False):
        location = ".".join(str(part) for part in problem["loc"]) or whole
        details.append({"field": location, "problem": problem["msg"]})
    text = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
    return ValidationFailed(text, details=details)


def _parse_body(spec: RouteSpec, raw: bytes) -> Any:
    assert spec.body is not None
    if not raw.strip():
        payload: Any = {}
    else:
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed.field("body", f"malformed JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed.field("body", "must be a JSON object")
    try:
        return spec.body.model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc, "body") from exc


def _parse_query(spec: RouteSpec, params: dict[str, str] | None) -> Any:
    if spec.query is None:
        if params:
            name = sorted(params)[0]
            raise ValidationFailed.field(name, "unknown query parameter")
        return None
    try:
        return spec.query.model_validate(params or {})
    except ValidationError as exc:
        raise _validation_error(exc, "query") from exc


def _parse_path(params: dict[str, str] | None) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if name == "id" or name.endswith("_id"):
            if not value.isdigit() or not 0 < int(value) < 10**12:
                raise ValidationFailed.field(name, "must be a positive integer")
            parsed[name] = int(value)
        else:
            parsed[name] = value
    return parsed


def _list_response(reply: ListReply, base_url: str, path: str, params: dict[str, str]) -> tuple[Any, dict]:
    offset = reply.query.offset or 0
    headers = {"X-Total-Count": str(reply.total)}
    if reply.next_cursor:
        next_params = {k: v for k, v in params.items() if k not in ("offset", "cursor")}
        next_params["cursor"] = reply.next_cursor
        if reply.query.wants_envelope:
            next_params["limit"] = str(reply.limit)
        headers["Link"] = f'<{base_url}{path}?{urlencode(next_params)}>; rel="next"'
    items = _dump(reply.items)
    if not reply.query.wants_envelope:
        return items, headers
    envelope = {
        "data": items,
        "pagination": {
            "total": reply.total,
            "limit": reply.limit,
            "offset": offset,
            "has_more": reply.next_cursor is not None,
            "next_cursor": reply.next_cursor,
        },
    }
    return envelope, headers


# What a Router calls for one (path, method): the current request and its path parameters.
Handler = Callable[[Request, dict[str, str]], Response]


class Router:
    def __init__(self, import_name: str, tag: str) -> None:
        self.module = import_name
        self.tag = tag
        self.handlers: dict[tuple[str, str], Handler] = {}

    def route(
        self,
        path: str,
        method: str = "GET",
        *,
        scope: str | None = "read",
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
    ) -> Callable[[Callable[[Req], Any]], Callable[[Req], Any]]:
        def decorate(view: Callable[[Req], Any]) -> Callable[[Req], Any]:
            spec = RouteSpec(
                path,
                method,
                summary,
                self.tag,
                scope,
                body,
                query,
                response,
                status,
                view.__name__,
                self.module,
            )
            ROUTES.append(spec)
            self._add(path, [method], lambda request, params: _handle(request, spec, view, params))
            return view

        return decorate

    def raw(self, path: str, methods: list[str]) -> Callable[[Handler], Handler]:
        """A route that answers the Chalice request itself (MCP, the docs pages): no spec, no parsing."""

        def decorate(view: Handler) -> Handler:
            self._add(path, methods, view)
            return view

        return decorate

    def _add(self, path: str, methods: list[str], handler: Handler) -> None:
        for method in methods:
            if (path, method) in self.handlers:
                raise ValueError(f"{method} {path} is declared twice")
            self.handlers[(path, method)] = handler

    def dispatch(self, request: Request, path: str, params: dict[str, str]) -> Response:
        return self.handlers[(path, request.method)](request, params)


def _handle(request: Request, spec: RouteSpec, view: Callable[[Req], Any], path_params: dict) -> Response:
    request_id = request_id_var.get() or new_request_id(request.context)
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    limit_headers: dict[str, str] = {}
    claim: idempotency.Claim | None = None
    try:
        raw = request.raw_body or b""
        raw_body = raw if isinstance(raw, bytes) else raw.encode()
        settings = get_settings()
        principal = None
        if spec.scope is not None:
            principal, limit_headers = _authenticate_and_limit(headers, request.context or {})
            principal.require(spec.scope)
        if len(raw_body) > settings.max_body_bytes:
            raise PayloadTooLarge(f"Request body is larger than {settings.max_body_bytes} bytes")
        idempotency_key = _idempotency_key(spec, principal, headers)
        req = Req(
            principal=principal or Principal(tenant="", scopes=frozenset(), subject="anonymous"),
            request_id=request_id,
            path=_parse_path(path_params),
            query=_parse_query(spec, dict(request.query_params or {})),
            body=_parse_body(spec, raw_body) if spec.body is not None else None,
            headers=headers,
            raw_body=raw_body,
            base_url=_base_url(headers),
        )
        if idempotency_key is not None:
            target = _request_target(spec, path_params, dict(request.query_params or {}))
            claimed = idempotency.claim(
                req.tenant, idempotency_key, idempotency.fingerprint(spec.method, target, raw_body)
            )
            if isinstance(claimed, idempotency.StoredResponse):
                return _replay(claimed, request_id, limit_headers)
            claim = claimed
        response = _respond(spec, view, req, request, limit_headers)
    except ApiError as error:
        if error.status >= 500:
            logger.error("request failed", extra={"code": error.code, "error_message": error.message})
        response = error_response(error, request_id, limit_headers)
    except Exception:
        logger.exception("unhandled error")
        response = error_response(InternalError(), request_id, limit_headers)
    if claim is not None:
        _settle(claim, response)
    return response


def _respond(
    spec: RouteSpec, view: Callable[[Req], Any], req: Req, request: Request, limit_headers: dict[str, str]
) -> Response:
    """Run the view and shape its result (errors it raises are the caller's to answer)."""
    result = view(req)
    if isinstance(result, TextReply):
        text_headers: dict[str, str | list[str]] = {
            "Content-Type": result.content_type,
            "X-Request-Id": req.request_id,
            **limit_headers,
        }
        return Response(body=result.text, status_code=result.status, headers=text_headers)
    status, extra = spec.status, dict[str, str]()
    if isinstance(result, ListReply):
        body, extra = _list_response(result, req.base_url, request.path, dict(request.query_params or {}))
    elif isinstance(result, Reply):
        body, status, extra = _dump(result.body), result.status, result.headers
    else:
        body = _dump(result)
    out_headers: dict[str, str | list[str]] = {
        "Content-Type": "application/json",
        "X-Request-Id": req.request_id,
        **limit_headers,
        **extra,
    }
    text = "" if status == 204 else json.dumps(body)
    return Response(body=text, status_code=status, headers=out_headers)


# -- Idempotency-Key (conventions: the same POST sent again is answered once) ---------------------

# Headers that describe this delivery rather than the answer: a replay carries its own.
_PER_REQUEST_HEADERS = ("x-request-id", "x-ratelimit-", "retry-after")


def _idempotency_key(spec: RouteSpec, principal: Principal | None, headers: dict[str, str]) -> str | None:
    """The request's key, validated; None when it has none or the route takes none (keys belong to a
    tenant, so public routes, such as webhook triggers with their own delivery ids, ignore them)."""
    key = headers.get(idempotency.HEADER.lower())
    if key is None or spec.method != "POST" or principal is None:
        return None
    return idempotency.validate_key(key)


def _request_target(spec: RouteSpec, path_params: dict[str, str], query: dict[str, str] | None) -> str:
    path = re.sub(r"\{(\w+)\}", lambda m: path_params.get(m.group(1), m.group(0)), spec.path)
    return f"{path}?{urlencode(sorted((query or {}).items()))}"


def _replay(stored: idempotency.StoredResponse, request_id: str, limit_headers: dict[str, str]) -> Response:
    headers: dict[str, str | list[str]] = {
        **stored.headers,
        "X-Request-Id": request_id,
        **limit_headers,
        "Idempotent-Replayed": "true",
    }
    return Response(body=stored.body, status_code=stored.status, headers=headers)


def _settle(claim: idempotency.Claim, response: Response) -> None:
    kept = {
        name: value
        for name, value in (response.headers or {}).items()
        if not name.lower().startswith(_PER_REQUEST_HEADERS)
    }
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    try:
        idempotency.settle(claim, idempotency.StoredResponse(response.status_code, body, kept))
    except Exception:
        # The answer stands; the key stays claimed until its lease runs out, then a retry runs again.
        logger.exception("idempotency record not settled")


def _base_url(headers: dict[str, str]) -> str:
    host = headers.get("host", "localhost")
    proto = headers.get("x-forwarded-proto", "http")
    return f"{proto}://{host}"


def _authenticate_and_limit(headers: dict[str, str], context: dict[str, Any]) -> tuple[Principal, dict]:
    try:
        token: str | None = bearer_from_header(headers.get("authorization"))
    except Unauthorized:
        token = None  # still counted against the source address by admit()
    return admit(token, (context.get("identity") or {}).get("sourceIp"))
