"""Cold start: a fresh interpreter imports the app and serves its first request (GET /api/v1/projects
with an API token, against a moto server), against a fresh interpreter doing a bare `import boto3`.
Target (issue 2): app import + first request at most 50 ms above bare boto3.

Also measured in the same run, as the floor that no implementation on the chosen packages can go
below: a fresh interpreter that imports only what any handler on this stack needs (chalice, the
Powertools Logger, one pydantic model, botocore's DynamoDB client) and makes the same three DynamoDB
calls as the first request (GetItem for the token, UpdateItem for the rate limit, one Query). The
app's distance to that floor is what the app's own code costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import ROOT, median, moto_server

RUNS = 7

APP_PROBE = r"""
import json, time, sys
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
event = {"resource": "/api/v1/projects", "path": "/api/v1/projects", "httpMethod": "GET",
         "headers": {"Authorization": "Bearer " + sys.argv[1], "Host": "localhost"},
         "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
         "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
         "requestContext": {"resourcePath": "/api/v1/projects", "httpMethod": "GET", "requestId": "bench",
                            "identity": {"sourceIp": "127.0.0.1"}, "stage": "api"}}
response = app.app(event, None)
t2 = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import": t1 - t0, "first_request": t2 - t1}))
"""

BOTO_PROBE = r"""
import json, time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
print(json.dumps({"import": t1 - t0}))
"""

BOTO_CALL_PROBE = r"""
import json, time, os
t0 = time.perf_counter()
import boto3
client = boto3.client("dynamodb", endpoint_url=os.environ["BORGOS_DYNAMODB_ENDPOINT"])
client.get_item(TableName="borgos", Key={"PK": {"S": "x"}, "SK": {"S": "y"}})
t1 = time.perf_counter()
print(json.dumps({"import": t1 - t0}))
"""


FLOOR_PROBE = r"""
import json, time, os
t0 = time.perf_counter()
from chalice import Chalice
from aws_lambda_powertools import Logger
from pydantic import BaseModel
import botocore.session

class Item(BaseModel):
    id: int
    name: str

Chalice(app_name="floor")
Logger(service="floor")
client = botocore.session.get_session().create_client(
    "dynamodb", region_name="us-east-1", endpoint_url=os.environ["BORGOS_DYNAMODB_ENDPOINT"]
)
table = "borgos"
client.get_item(TableName=table, Key={"PK": {"S": "x"}, "SK": {"S": "y"}})
client.update_item(
    TableName=table, Key={"PK": {"S": "rl"}, "SK": {"S": "rl"}},
    UpdateExpression="SET tat = :t", ExpressionAttributeValues={":t": {"N": "1"}},
)
client.query(
    TableName=table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "x"}}, Limit=51
)
Item.model_validate({"id": 1, "name": "a"}).model_dump(mode="json")
t1 = time.perf_counter()
print(json.dumps({"import": t1 - t0}))
"""


def _run(code: str, env: dict[str, str], *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with moto_server() as endpoint:
        # The Lambda's own environment (.chalice/config.json), as deployed.
        lambda_env = json.loads((ROOT / ".chalice" / "config.json").read_text())["environment_variables"]
        env = {
            **os.environ,
            **lambda_env,
            "BORGOS_DYNAMODB_ENDPOINT": endpoint,
            "BORGOS_TABLE": "borgos",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update({k: env[k] for k in ("BORGOS_DYNAMODB_ENDPOINT", "BORGOS_TABLE")})
        from chalicelib import aws
        from chalicelib.models.tokens import TokenCreate
        from chalicelib.tokens import issue_token
        from infra.table import create_table

        create_table(aws.client("dynamodb"), "borgos")
        token = issue_token("bench", TokenCreate(name="bench", scopes=["read"])).token
        app_runs, boto_runs, boto_call_runs, floor_runs = [], [], [], []
        for _ in range(RUNS):  # interleaved, so a change in machine load hits every probe alike
            app_runs.append(_run(APP_PROBE, env, token))
            boto_runs.append(_run(BOTO_PROBE, env))
            boto_call_runs.append(_run(BOTO_CALL_PROBE, env))
            floor_runs.append(_run(FLOOR_PROBE, env))
    app_import = median([r["import"] for r in app_runs]) * 1000
    first = median([r["first_request"] for r in app_runs]) * 1000
    total = median([r["import"] + r["first_request"] for r in app_runs]) * 1000
    boto = median([r["import"] for r in boto_runs]) * 1000
    boto_call = median([r["import"] for r in boto_call_runs]) * 1000
    floor = median([r["import"] for r in floor_runs]) * 1000
    print(f"cold start, median of {RUNS} fresh interpreters")
    print(f"  import app                          {app_import:8.1f} ms")
    print(f"  first request (auth, limit, query)  {first:8.1f} ms")
    print(f"  import app + first request          {total:8.1f} ms")
    print(f"  bare import boto3 (baseline)        {boto:8.1f} ms")
    print(f"  import boto3 + client + 1 GetItem   {boto_call:8.1f} ms")
    print(f"  floor: chalice, Logger, pydantic, client, same 3 calls {floor:8.1f} ms")
    print(f"  above bare boto3: {total - boto:+.1f} ms (target <= +50 ms); ratio {total / boto:.2f}x")
    print(f"  above boto3 + one call: {total - boto_call:+.1f} ms")
    print(f"  floor above bare boto3: {floor - boto:+.1f} ms; app above floor: {total - floor:+.1f} ms")


if __name__ == "__main__":
    main()
