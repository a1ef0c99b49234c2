"""Step 1: the raw and processed buckets, private (all four Block Public Access settings on).

The raw bucket receives uploads; the processed bucket holds what the function
writes and is later reachable only through CloudFront. Creating is idempotent:
an existing bucket of ours is reported, not recreated.

What real AWS adds: bucket names are global across all accounts (the settings
append the account id and region on AWS), a bucket outside us-east-1 needs its
region as ``LocationConstraint`` (and us-east-1 refuses one), and a name taken
by another account is ``BucketAlreadyExists`` (ours is ``BucketAlreadyOwnedByYou``,
or in us-east-1 a plain success).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_MISSING = {"404", "NoSuchBucket", "NotFound"}
_NOT_OURS = {"403", "AccessDenied", "Forbidden"}


def bucket_names(settings: Settings) -> list[str]:
    return [settings.raw_bucket, settings.processed_bucket]


def _env_name(settings: Settings, name: str) -> str:
    return "WALKTHROUGH_RAW_BUCKET" if name == settings.raw_bucket else "WALKTHROUGH_PROCESSED_BUCKET"


def _taken(settings: Settings, name: str, forbidden: bool = False) -> WalkthroughError:
    why = "exists and these credentials may not read it" if forbidden else "belongs to another AWS account"
    return WalkthroughError(
        f"The bucket name {name!r} {why} (bucket names are global): "
        f"choose another, e.g. `export {_env_name(settings, name)}={name}-2`, and run the step again."
    )


def create_bucket_arguments(settings: Settings, name: str) -> dict[str, Any]:
    """CreateBucket's arguments: a ``LocationConstraint`` everywhere except us-east-1, which refuses one."""
    kwargs: dict[str, Any] = {"Bucket": name}
    if settings.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
    return kwargs


def ensure_bucket(settings: Settings, name: str) -> str:
    """Create ``name`` in the settings' region unless we already own it; returns 'created' or 'exists'."""
    s3 = aws.client(settings, "s3")
    try:
        s3.head_bucket(Bucket=name)
        _check_region(settings, name)
        return "exists"
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_OURS:  # it exists, and these credentials may not even look at it
            raise _taken(settings, name, forbidden=True) from None
        if code not in _MISSING:
            raise
    try:
        s3.create_bucket(**create_bucket_arguments(settings, name))
    except s3.exceptions.BucketAlreadyOwnedByYou:
        return "exists"
    except s3.exceptions.BucketAlreadyExists:
        raise _taken(settings, name) from None
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return "created"


def _check_region(settings: Settings, name: str) -> None:
    location = aws.client(settings, "s3").get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
    if location != settings.region:
        raise WalkthroughError(
            f"The bucket {name!r} already exists in {location}, not {settings.region}: run with region {location!r}, "
            f"or delete it (`python -m walkthrough down --region {location}`)."
        )


def tag_bucket(settings: Settings, name: str) -> None:
    """Put the walkthrough's tags on the bucket (unless they are there already)."""
    s3 = aws.client(settings, "s3")
    try:
        current = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name).get("TagSet", [])}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchTagSet":
            raise
        current = {}
    if {k: current.get(k) for k in settings.tags} != settings.tags:
        tags = {**current, **settings.tags}
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})


def create_buckets(settings: Settings) -> list[dict[str, Any]]:
    """Both buckets, private and tagged; one row per bucket saying what happened."""
    s3 = aws.client(settings, "s3")
    rows = []
    for name in bucket_names(settings):
        status = ensure_bucket(settings, name)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
        tag_bucket(settings, name)
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


def empty_bucket(settings: Settings, name: str, prefix: str = "") -> int:
    """Delete every object (every version, every delete marker) under ``prefix``; how many went.

    S3 deletes only empty buckets, and so does CloudFormation when it deletes a stack.
    """
    s3 = aws.client(settings, "s3")
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name, Prefix=prefix):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
            deleted += len(doomed)
    return deleted
