"""What a run creates and roughly what it costs, without creating anything.

``python -m walkthrough plan [--target aws] [--region R]``. The prices are a
static table of AWS's public on-demand prices (us-east-1, 2025), good enough
to see that the tutorial costs cents, not a quote: check
https://aws.amazon.com/pricing/ for your region. On AWS the account id is asked
from STS (a read), so the bucket names shown are the ones a run will use.
"""

from __future__ import annotations

from typing import Any

from walkthrough import aws
from walkthrough.api import API_NAME
from walkthrough.config import Settings
from walkthrough.layer import LAYER_NAME

TOTAL = "a few cents for the tutorial if torn down the same day (usually $0.00 inside the free tier)"
LOCAL_TOTAL = "nothing: the local emulator runs on this machine"


def resources(settings: Settings) -> list[dict[str, Any]]:
    """One row per resource a run of notebooks 01-08 creates: service, name, what it costs."""
    return [
        {"step": "01", "service": "S3", "resource": f"bucket {settings.raw_bucket}",
         "cost": "$0.023 per GB-month stored, $0.005 per 1,000 uploads (free tier: 5 GB); the tutorial stores < 5 MB"},
        {"step": "01", "service": "S3", "resource": f"bucket {settings.processed_bucket}",
         "cost": "as above; reads come through CloudFront"},
        {"step": "02", "service": "DynamoDB", "resource": f"table {settings.table_name} (on-demand)",
         "cost": "$1.25 per million writes, $0.25 per million reads, $0.25 per GB-month (free tier: 25 GB); nothing while idle"},
        {"step": "03", "service": "IAM", "resource": f"role {settings.role_name}", "cost": "free"},
        {"step": "04", "service": "Lambda", "resource": f"function {settings.function_name} (Python 3.12, 1024 MB)",
         "cost": "$0.20 per million requests + $0.0000167 per GB-second (free tier: 1M requests, 400,000 GB-s a month)"},
        {"step": "04", "service": "Lambda", "resource": f"layer {LAYER_NAME} (only with pillow_layer='build')",
         "cost": "free (counts toward the 75 GB code storage)"},
        {"step": "04", "service": "CloudWatch Logs", "resource": f"log group /aws/lambda/{settings.function_name}",
         "cost": "$0.50 per GB ingested (free tier: 5 GB); the tutorial logs a few KB"},
        {"step": "06", "service": "CloudFront", "resource": "distribution + origin access control",
         "cost": "free tier: 1 TB out and 10M requests a month; then ~$0.085 per GB; nothing while idle"},
        {"step": "08", "service": "API Gateway", "resource": f"REST API {API_NAME}, stage prod",
         "cost": "$3.50 per million requests (free tier: 1M a month for 12 months)"},
    ] if not settings.is_local else [
        {"step": row, "service": service, "resource": resource, "cost": "free (local emulator)"}
        for row, service, resource in (
            ("01", "S3", f"buckets {settings.raw_bucket}, {settings.processed_bucket}"),
            ("02", "DynamoDB", f"table {settings.table_name}"),
            ("03", "IAM", f"role {settings.role_name}"),
            ("04", "Lambda", f"function {settings.function_name}, layer {LAYER_NAME}"),
            ("06", "CloudFront", "distribution + origin access control"),
            ("08", "API Gateway", f"REST API {API_NAME}"),
        )
    ]


def plan(settings: Settings) -> dict[str, Any]:
    """Where a run would go, what it would create, what it costs; creates nothing."""
    where: dict[str, Any] = {"target": settings.target, "region": settings.region}
    if not settings.is_local:
        try:
            where["account"] = aws.account(settings)
        except Exception as exc:  # noqa: BLE001 - plan must work without credentials
            where["account"] = f"(unknown: {str(exc).splitlines()[0]})"
            settings = settings.with_(account_id="<account>")
        where["tags"] = ", ".join(f"{k}={v}" for k, v in settings.tags.items())
    return {"where": where, "resources": resources(settings), "total": LOCAL_TOTAL if settings.is_local else TOTAL}
