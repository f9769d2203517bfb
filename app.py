"""BorgOS API: the Chalice app. Routes live in chalicelib/api/*; this module only wires them.
Nothing from workers/ or the Docker SDK is imported here, and an API module is imported only when
its first request arrives (route index: chalicelib/api/route_index.py), so cold starts stay short."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from chalice import Chalice, Rate, Response
from chalice.app import DynamoDBEvent, Request, WebsocketEvent

from chalicelib.api.catalog import api_module
from chalicelib.api.route_index import ROUTE_INDEX
from chalicelib.api.routing import new_request_id, request_id_var
from chalicelib.logs import logger

# Powertools Logger writes the structured logs. Chalice's `app.log` is the same stdlib logger
# ("borgos"), so Chalice must neither add its own handler (lines would print twice) nor touch it.
app = Chalice(app_name="borgos", configure_logs=False)
app.experimental_feature_flags.update(["WEBSOCKETS"])


def _lazy_view(path: str, modules: dict[str, str]) -> Callable[..., Response]:
    """The view Chalice calls for `path`: imports the serving module on first use, then dispatches."""

    def view(**params: str) -> Response:
        request = app.current_request
        assert request is not None  # Chalice sets it before calling a view
        return api_module(modules[request.method]).api.dispatch(request, path, params)

    return view


_methods_by_path: dict[str, dict[str, str]] = {}
for _path, _method, _module in ROUTE_INDEX:
    _methods_by_path.setdefault(_path, {})[_method] = _module
for _number, (_path, _modules) in enumerate(_methods_by_path.items()):
    app.route(_path, methods=list(_modules), name=f"route_{_number}")(_lazy_view(_path, _modules))


@app.middleware("http")
def request_context(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Give every request an id (logs, X-Request-Id) and keep even Chalice's own errors in our envelope."""
    request_id = new_request_id(event.context)
    token = request_id_var.set(request_id)
    logger.append_keys(request_id=request_id, path=event.path, method=event.method)
    try:
        response = get_response(event)
    finally:
        request_id_var.reset(token)
    response.headers["X-Request-Id"] = request_id
    if response.status_code >= 400 and isinstance(response.body, dict) and "Code" in response.body:
        response.body = json.dumps(
            {
                "error": str(response.body.get("Code")),
                "message": str(response.body.get("Message", "")),
                "code": "NOT_FOUND" if response.status_code == 404 else "BAD_REQUEST",
                "request_id": request_id,
            }
        )
        response.headers["Content-Type"] = "application/json"
    return response


# The table's stream ARN comes from the deployment (infra/); the local stack's pump calls the
# handler directly, so locally any well-formed ARN will do.
STREAM_ARN = os.environ.get(
    "BORGOS_STREAM_ARN", "arn:aws:dynamodb:us-east-1:000000000000:table/borgos/stream/local"
)


@app.on_dynamodb_record(stream_arn=STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON")
def on_table_change(event: DynamoDBEvent) -> None:
    from chalicelib import stream

    stream.handle_records(event.to_dict()["Records"])


# WebSocket API (/ws): handler bodies in chalicelib/realtime/handlers.py.
@app.on_ws_connect()
def ws_connect(event: WebsocketEvent) -> dict:
    from chalicelib.realtime import handlers

    return handlers.connect(event.to_dict())


@app.on_ws_message()
def ws_message(event: WebsocketEvent) -> None:
    from chalicelib.realtime import handlers

    handlers.message(event.to_dict())


@app.on_ws_disconnect()
def ws_disconnect(event: WebsocketEvent) -> None:
    from chalicelib.realtime import handlers

    handlers.disconnect(event.to_dict())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def scheduler_tick(event: object) -> None:
    """Queue every due run of the user's scheduled tasks (chalicelib/scheduler_tick.py)."""
    from chalicelib import scheduler_tick as ticker

    ticker.tick()
