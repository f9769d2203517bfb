"""The DynamoDB table definition: one source for CloudFormation (infra/template.py) and the local
stack, so both run the same keys, indexes, stream and TTL."""

from __future__ import annotations

from typing import Any

TTL_ATTRIBUTE = "expires_at"

# GSI1: secondary listings inside a tenant (projects by active flag, errors by project, deployments
# by project, ...). GSI2: a second facet (errors by severity, deployments by status, ...).
# GSI3: WebSocket subscriptions by tenant and channel.
INDEXES = ("GSI1", "GSI2", "GSI3")


def table_definition(table_name: str) -> dict[str, Any]:
    """Arguments for `dynamodb.create_table` (and the CloudFormation resource's properties)."""
    attributes = ["PK", "SK"] + [f"{index}{part}" for index in INDEXES for part in ("PK", "SK")]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in attributes],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                    {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def create_table(dynamodb: Any, table_name: str) -> None:
    """Create the table (if missing) and switch on TTL, waiting until it is active."""
    existing = dynamodb.list_tables().get("TableNames", [])
    if table_name not in existing:
        dynamodb.create_table(**table_definition(table_name))
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
