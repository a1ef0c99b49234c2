"""What earlier steps would have made, created idempotently, so any notebook can run first.

Workshop attendees join late and jump to a step; a notebook opened first calls
``ensure_before(settings, step)`` and gets the same state as if it had
followed the sequence, with a table saying what was already there.
"""

from __future__ import annotations

from typing import Any

from walkthrough import aws, buckets, cdn, iam, lambda_fn, layer, pipeline, table, trigger
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


def pillow_layer_arn(settings: Settings, choice: str | None = None) -> str:
    """The Pillow layer for the function: the one it already has, unless ``choice`` asks for another.

    A notebook opened after step 4 keeps whatever layer step 4 chose (``pillow_layer``);
    without a function yet it takes the target's default (``layer.default_choice``).
    """
    if choice is None:
        lam = aws.client(settings, "lambda")
        try:
            current = lambda_fn.describe_function(settings)["layers"]
        except lam.exceptions.ResourceNotFoundException:
            current = []
        if current:
            return current[0]
    return layer.pillow_layer(settings, choice)["arn"]


def ensure_before(
    settings: Settings,
    step: int,
    policy: str = "least-privilege",
    max_dimension: int = lambda_fn.TUTORIAL_MAX_DIMENSION,
    access: str = "oac",
    pillow_layer: str | None = None,
) -> Table:
    """Run steps 1 .. step-1 idempotently; one row per step with what happened.

    On AWS, creating needs confirmation (``confirm=True``); the clients ask
    ``safety.require_confirmation`` before the first resource is created.
    """
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
        function = lambda_fn.deploy_function(settings, role_arn, pillow_layer_arn(settings, pillow_layer), MAX_DIMENSION=str(max_dimension))
        row(4, function["status"], settings.function_name)
    if step > 5:
        permission = trigger.allow_s3_to_invoke(settings)["status"]
        notification = trigger.configure_notification(settings)["status"]
        row(5, notification if permission == notification else f"{permission}/{notification}", f"{settings.raw_bucket} → {settings.function_name}")
    if step > 6:
        setup = cdn.setup_cdn(settings, access)
        cdn.wait_deployed(settings, setup["distribution"]["id"])  # minutes on AWS after a creation; at once locally
        row(6, setup["distribution"]["status"], f"{access.upper()}, {setup['distribution']['domain']}")
    if step > 7:
        item = pipeline.metadata_item(settings, pipeline.SAMPLE_PHOTO.name)
        if item is None or item.get("status") != "processed":
            item = pipeline.process(settings, pipeline.SAMPLE_PHOTO)
            row(7, "created", f"{item['processed_key']} ({item['width']}x{item['height']})")
        else:
            row(7, "exists", f"{item['processed_key']} ({item['width']}x{item['height']})")
    return Table(rows, title=f"Earlier steps, ensured before step {step}")
