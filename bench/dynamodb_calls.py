"""DynamoDB calls per request for every endpoint, counted with botocore's before-call events.
Targets: get by id 1 read, list 1 Query, create 1 transaction (authentication and the rate limit are
counted apart: an API token costs one GetItem, the limiter one UpdateItem)."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from bench.common import ROOT  # noqa: F401  (puts the repo on sys.path)

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    POWERTOOLS_LOG_LEVEL="WARNING",
    BORGOS_TABLE="borgos-bench",
)


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.phase = "endpoint"

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[f"{self.phase}:{model.name}"] += 1


def main() -> None:
    from chalice.test import Client
    from moto import mock_aws

    with mock_aws():
        from app import app
        from chalicelib import aws
        from chalicelib.api import routing
        from chalicelib.models.tokens import TokenCreate
        from chalicelib.tokens import issue_token
        from infra.table import create_table

        create_table(aws.client("dynamodb"), "borgos-bench")
        token = issue_token("bench", TokenCreate(name="bench", scopes=["admin"])).token
        counter = CallCounter()
        aws.client("dynamodb").meta.events.register("before-call.dynamodb.*", counter)
        original = routing._authenticate_and_limit

        def counted_auth(*args: Any, **kwargs: Any) -> Any:
            counter.phase = "auth"
            try:
                return original(*args, **kwargs)
            finally:
                counter.phase = "endpoint"

        routing._authenticate_and_limit = counted_auth
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        project = {"name": "p", "path": "/p", "tech_stack": ["python"]}
        error = {"project_id": 1, "error_type": "runtime", "severity": "error", "message": "m"}
        requests: list[tuple[str, str, Any]] = [
            ("POST", "/api/v1/projects", project),
            ("POST", "/api/v1/projects", project),
            ("GET", "/api/v1/projects/1", None),
            ("GET", "/api/v1/projects", None),
            ("GET", "/api/v1/projects?limit=10", None),
            ("GET", "/api/v1/projects?active=true", None),
            ("GET", "/api/v1/projects?tech_stack=python", None),
            ("PATCH", "/api/v1/projects/2", {"name": "q"}),
            ("POST", "/api/v1/errors", error),
            ("GET", "/api/v1/errors", None),
            ("GET", "/api/v1/errors?severity=error", None),
            ("GET", "/api/v1/errors?project_id=1", None),
            ("GET", "/api/v1/status", None),
            ("POST", "/api/v1/tokens", {"name": "t", "scopes": ["read"]}),
            ("GET", "/api/v1/tokens", None),
            ("DELETE", "/api/v1/tokens/2", None),
            ("DELETE", "/api/v1/projects/2", None),
            ("GET", "/health", None),
        ]
        rows = []
        with Client(app) as client:
            for method, path, payload in requests:
                counter.calls.clear()
                body = json.dumps(payload).encode() if payload is not None else b""
                response = client.http.request(method, path, body=body, headers=headers)
                assert response.status_code < 400, (method, path, response.body)
                auth = {k.split(":", 1)[1]: v for k, v in counter.calls.items() if k.startswith("auth:")}
                work = {k.split(":", 1)[1]: v for k, v in counter.calls.items() if k.startswith("endpoint:")}
                rows.append((f"{method} {path}", auth, work))
    print(f"{'endpoint':42} {'auth + rate limit':26} endpoint's own calls")
    for name, auth, work in rows:
        print(f"{name:42} {_fmt(auth):26} {_fmt(work)}  (total {sum(work.values())})")


def _fmt(calls: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(calls.items())) or "-"


if __name__ == "__main__":
    main()
