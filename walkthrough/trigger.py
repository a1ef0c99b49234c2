"""Step 5: S3 invokes the function for every object created in the raw bucket.

Two parts, in this order because S3 checks the second against the first: a
resource policy statement on the function allowing ``s3.amazonaws.com`` to
invoke it for this bucket (and account), then the bucket's notification
configuration naming the function.
"""

from __future__ import annotations

import json
from typing import Any

from walkthrough import aws
from walkthrough.config import Settings

STATEMENT_ID = "AllowS3InvokeFromRawBucket"
NOTIFICATION_ID = "ProcessUploadedImages"
#: Every way an object is created (PUT, multipart upload of large files, copy).
EVENTS = ["s3:ObjectCreated:*"]


def s3_permission(settings: Settings) -> dict[str, str]:
    """Who may invoke the function and for what: S3, for the raw bucket of this account only.

    AddPermission's arguments (with ``FunctionName`` and ``StatementId``), and the
    template's ``AWS::Lambda::Permission``. ``SourceAccount`` matters because a
    bucket ARN names no account: someone who re-creates a deleted bucket of that
    name elsewhere could otherwise invoke the function.
    """
    return {
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
        "SourceArn": f"arn:aws:s3:::{settings.raw_bucket}",
        "SourceAccount": aws.account(settings),
    }


def notification_configurations(function_arn: Any) -> list[dict[str, Any]]:
    """The raw bucket's Lambda notification, as PutBucketNotificationConfiguration takes it."""
    return [{"Id": NOTIFICATION_ID, "LambdaFunctionArn": function_arn, "Events": EVENTS}]


def _function_policy(settings: Settings) -> dict[str, Any]:
    lam = aws.client(settings, "lambda")
    try:
        return json.loads(lam.get_policy(FunctionName=settings.function_name)["Policy"])
    except lam.exceptions.ResourceNotFoundException:
        return {"Statement": []}


def allow_s3_to_invoke(settings: Settings) -> dict[str, Any]:
    """Add the invoke permission for S3 unless it is already there."""
    existing = [s for s in _function_policy(settings)["Statement"] if s.get("Sid") == STATEMENT_ID]
    if existing:
        return {"status": "exists", "statement": existing[0]}
    lam = aws.client(settings, "lambda")
    response = lam.add_permission(FunctionName=settings.function_name, StatementId=STATEMENT_ID, **s3_permission(settings))
    statement = response["Statement"]
    return {"status": "created", "statement": json.loads(statement) if isinstance(statement, str) else statement}


def configure_notification(settings: Settings) -> dict[str, Any]:
    """Point the raw bucket's object-created events at the function (replaces the configuration)."""
    lam, s3 = aws.client(settings, "lambda"), aws.client(settings, "s3")
    function_arn = lam.get_function(FunctionName=settings.function_name)["Configuration"]["FunctionArn"]
    current = describe_notification(settings)
    wanted = notification_configurations(function_arn)
    if [{k: c.get(k) for k in ("Id", "LambdaFunctionArn", "Events")} for c in current] == wanted:
        return {"status": "exists", "configuration": current}
    s3.put_bucket_notification_configuration(
        Bucket=settings.raw_bucket, NotificationConfiguration={"LambdaFunctionConfigurations": wanted}
    )
    return {"status": "created" if not current else "updated", "configuration": describe_notification(settings)}


def describe_notification(settings: Settings) -> list[dict[str, Any]]:
    """The raw bucket's Lambda notification configurations, as S3 returns them."""
    response = aws.client(settings, "s3").get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    return response.get("LambdaFunctionConfigurations", [])


def describe_permission(settings: Settings) -> list[dict[str, Any]]:
    """The function's resource policy statements (who may invoke it)."""
    return _function_policy(settings)["Statement"]
