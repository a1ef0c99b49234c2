"""Step 1: the raw and processed buckets, private (all four Block Public Access settings on).

The raw bucket receives uploads; the processed bucket holds what the function
writes and is later reachable only through CloudFront. Creating is idempotent:
an existing bucket of ours is reported, not recreated.
"""

from __future__ import annotations

from typing import Any

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket_names(settings: Settings) -> list[str]:
    return [settings.raw_bucket, settings.processed_bucket]


def ensure_bucket(settings: Settings, name: str) -> str:
    """Create ``name`` in the settings' region unless we already own it; returns 'created' or 'exists'."""
    s3 = aws.client(settings, "s3")
    kwargs: dict[str, Any] = {"Bucket": name}
    if settings.region != "us-east-1":  # us-east-1 refuses a LocationConstraint; every other region needs one
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    try:
        s3.head_bucket(Bucket=name)
        return "exists"
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    try:
        s3.create_bucket(**kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return "exists"
    except s3.exceptions.BucketAlreadyExists:
        raise WalkthroughError(
            f"The bucket name {name!r} belongs to another AWS account (bucket names are global); choose another name."
        ) from None
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return "created"


def create_buckets(settings: Settings) -> list[dict[str, Any]]:
    """Both buckets, private; one row per bucket saying what happened."""
    s3 = aws.client(settings, "s3")
    rows = []
    for name in bucket_names(settings):
        status = ensure_bucket(settings, name)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
        rows.append({"bucket": name, "status": status, "region": settings.region})
    return rows


def describe_buckets(settings: Settings) -> list[dict[str, Any]]:
    """Each bucket's region and Block Public Access settings, read back from the API."""
    s3 = aws.client(settings, "s3")
    rows = []
    for name in bucket_names(settings):
        location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        rows.append({"bucket": name, "region": location, **{k: block.get(k, False) for k in BLOCK_ALL}})
    return rows
