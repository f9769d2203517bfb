"""BorgOS API: the Chalice app. Routes live in chalicelib/api/*; this module only wires them.
Nothing from workers/ or the Docker SDK is imported here: the Lambda stays lean."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from chalice import Chalice, Response
from chalice.app import DynamoDBEvent, Request

from chalicelib.api import deployments, docs, errors, projects, scans, search, system, tokens
from chalicelib.api import hosts as hosts_api
from chalicelib.api.routing import new_request_id, request_id_var
from chalicelib.logs import logger

app = Chalice(app_name="borgos")
app.log.disabled = True  # Powertools Logger writes the structured logs

for module in (system, projects, errors, tokens, deployments, scans, search):
    app.register_blueprint(module.api.blueprint)
app.register_blueprint(hosts_api.api.blueprint)
app.register_blueprint(docs.blueprint)


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
