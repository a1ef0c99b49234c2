"""What earlier steps would have made, created idempotently, so any notebook can run first.

Workshop attendees join late and jump to a step; a notebook opened first calls
``ensure_before(settings, step)`` and gets the same state as if it had
followed the sequence, with a table saying what was already there.
"""

from __future__ import annotations

from typing import Any

from walkthrough import buckets, cdn, iam, lambda_fn, layer, pipeline, table, trigger
from walkthrough.config import Settings
from walkthrough.show import Table

STEPS = {
    1: "S3 buckets",
    2: "DynamoDB table",
    3: "IAM role",
    4: "Lambda function + Pillow layer",
    5: "S3 trigger",
    6: "CloudFront",
    7: "test upload (photo.jpg)",
}


def pillow_layer_arn(settings: Settings) -> str:
    """The Pillow layer the function uses: published from this environment on the emulator."""
    return layer.publish_local_pillow_layer(settings)["arn"]


def ensure_before(
    settings: Settings,
    step: int,
    policy: str = "least-privilege",
    max_dimension: int = 400,
    access: str = "oac",
) -> Table:
    """Run steps 1 .. step-1 idempotently; one row per step with what happened."""
    rows: list[dict[str, Any]] = []

    def row(number: int, status: str, detail: str) -> None:
        rows.append({"step": number, "what": STEPS[number], "status": status, "detail": detail})

    if step > 1:
        statuses = {r["status"] for r in buckets.create_buckets(settings)}
        row(1, "/".join(sorted(statuses)), ", ".join(buckets.bucket_names(settings)))
    if step > 2:
        row(2, table.create_table(settings)["status"], settings.table_name)
    if step > 3:
        role = iam.create_role(settings, policy)
        row(3, role["status"], f"{settings.role_name} ({policy})")
    if step > 4:
        role_arn = iam.describe_role(settings)["arn"]
        function = lambda_fn.deploy_function(settings, role_arn, pillow_layer_arn(settings), MAX_DIMENSION=str(max_dimension))
        row(4, function["status"], settings.function_name)
    if step > 5:
        permission = trigger.allow_s3_to_invoke(settings)["status"]
        notification = trigger.configure_notification(settings)["status"]
        row(5, notification if permission == notification else f"{permission}/{notification}", f"{settings.raw_bucket} → {settings.function_name}")
    if step > 6:
        setup = cdn.setup_cdn(settings, access)
        row(6, setup["distribution"]["status"], f"{access.upper()}, {setup['distribution']['domain']}")
    if step > 7:
        item = pipeline.metadata_item(settings, pipeline.SAMPLE_PHOTO.name)
        if item is None or item.get("status") != "processed":
            item = pipeline.process(settings, pipeline.SAMPLE_PHOTO)
            row(7, "created", f"{item['processed_key']} ({item['width']}x{item['height']})")
        else:
            row(7, "exists", f"{item['processed_key']} ({item['width']}x{item['height']})")
    return Table(rows, title=f"Earlier steps, ensured before step {step}")
