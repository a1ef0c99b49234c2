"""Step 2: the ImageMetadata table, one item per uploaded image, keyed by its file name.

On-demand capacity: a tutorial table sees a handful of writes, and on-demand
costs nothing while idle and needs no capacity planning.
"""

from __future__ import annotations

from typing import Any

from walkthrough import aws
from walkthrough.config import Settings

PARTITION_KEY = "filename"
BILLING_MODE = "PAY_PER_REQUEST"


def table_definition(settings: Settings) -> dict[str, Any]:
    """CreateTable's arguments, which are also the CloudFormation table's properties (``walkthrough.template``)."""
    return {
        "TableName": settings.table_name,
        "AttributeDefinitions": [{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "BillingMode": BILLING_MODE,
        "Tags": settings.tag_list(),
    }


def create_table(settings: Settings) -> dict[str, Any]:
    """Create the table unless it exists, wait until it is ACTIVE, return its description."""
    dynamodb = aws.client(settings, "dynamodb")
    status = "exists"
    try:
        dynamodb.describe_table(TableName=settings.table_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        dynamodb.create_table(**table_definition(settings))
        status = "created"
    dynamodb.get_waiter("table_exists").wait(TableName=settings.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return {"status": status, **describe_table(settings)}


def describe_table(settings: Settings) -> dict[str, Any]:
    """The parts of DescribeTable a learner checks: name, key, status, billing, item count."""
    table = aws.client(settings, "dynamodb").describe_table(TableName=settings.table_name)["Table"]
    key = table["KeySchema"][0]
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    return {
        "table": table["TableName"],
        "partition_key": f"{key['AttributeName']} ({'String' if types[key['AttributeName']] == 'S' else types[key['AttributeName']]})",
        "table_status": table["TableStatus"],
        "billing": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "items": table.get("ItemCount", 0),
        "arn": table["TableArn"],
    }
