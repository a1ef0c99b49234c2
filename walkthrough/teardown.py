"""Cleanup: delete everything the walkthrough created, in dependency order.

Safe to run twice and after a partial run: each resource that is already gone
is reported as such. The CloudFront distribution is disabled, waited for
(minutes on AWS) and then deleted with its current ETag, as CloudFront requires.
"""

from __future__ import annotations

from typing import Callable

from botocore.exceptions import ClientError

from walkthrough import aws, cdn, layer
from walkthrough.api import API_NAME
from walkthrough.config import Settings

GONE_CODES = {
    "NoSuchBucket", "NoSuchEntity", "ResourceNotFoundException", "NoSuchDistribution", "NoSuchOriginAccessControl",
    "NoSuchCloudFrontOriginAccessIdentity", "NotFoundException", "404", "NotFound",
}


def _attempt(rows: list[dict[str, str]], resource: str, action: Callable[[], str | None]) -> None:
    """Run one deletion; record 'deleted', 'already gone' or the error, and carry on."""
    try:
        outcome = action() or "deleted"
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        outcome = "already gone" if code in GONE_CODES else f"failed: {code}: {exc.response['Error'].get('Message', '')}"
    rows.append({"resource": resource, "result": outcome})


def _delete_api(settings: Settings) -> str | None:
    apigateway = aws.client(settings, "apigateway")
    apis = [a for a in apigateway.get_rest_apis().get("items", []) if a["name"] == API_NAME]
    for api in apis:
        apigateway.delete_rest_api(restApiId=api["id"])
    return None if apis else "nothing to delete"


def _clear_notification(settings: Settings) -> str | None:
    aws.client(settings, "s3").put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration={})
    return "cleared"


def _delete_layer_versions(settings: Settings) -> str | None:
    lam = aws.client(settings, "lambda")
    versions = lam.list_layer_versions(LayerName=layer.LAYER_NAME).get("LayerVersions", [])
    for version in versions:
        lam.delete_layer_version(LayerName=layer.LAYER_NAME, VersionNumber=version["Version"])
    return f"deleted {len(versions)} version(s)" if versions else "nothing to delete"


def _delete_distribution(settings: Settings) -> str | None:
    cloudfront = aws.client(settings, "cloudfront")
    found = cdn.find_distribution(settings)
    if found is None:
        return "already gone"
    response = cloudfront.get_distribution_config(Id=found["Id"])
    config, etag = response["DistributionConfig"], response["ETag"]
    if config["Enabled"]:
        config["Enabled"] = False
        etag = cloudfront.update_distribution(Id=found["Id"], IfMatch=etag, DistributionConfig=config)["ETag"]
        cdn.wait_deployed(settings, found["Id"])
        etag = cloudfront.get_distribution_config(Id=found["Id"])["ETag"]
    cloudfront.delete_distribution(Id=found["Id"], IfMatch=etag)
    return None


def _delete_access(settings: Settings) -> str | None:
    cloudfront = aws.client(settings, "cloudfront")
    deleted = 0
    oac_name = f"{settings.processed_bucket}-oac"
    for item in cloudfront.list_origin_access_controls().get("OriginAccessControlList", {}).get("Items", []) or []:
        if item["Name"] == oac_name:
            etag = cloudfront.get_origin_access_control(Id=item["Id"])["ETag"]
            cloudfront.delete_origin_access_control(Id=item["Id"], IfMatch=etag)
            deleted += 1
    try:
        identities = cloudfront.list_cloud_front_origin_access_identities().get("CloudFrontOriginAccessIdentityList", {})
    except ClientError:
        identities = {}  # an emulator without OAI support
    for item in identities.get("Items", []) or []:
        if item["Comment"] == f"walkthrough: {settings.processed_bucket}":
            etag = cloudfront.get_cloud_front_origin_access_identity(Id=item["Id"])["ETag"]
            cloudfront.delete_cloud_front_origin_access_identity(Id=item["Id"], IfMatch=etag)
            deleted += 1
    return f"deleted {deleted}" if deleted else "nothing to delete"


def _delete_bucket(settings: Settings, name: str) -> str | None:
    s3 = aws.client(settings, "s3")
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=name)
    return None


def _delete_table(settings: Settings) -> str | None:
    dynamodb = aws.client(settings, "dynamodb")
    dynamodb.delete_table(TableName=settings.table_name)
    dynamodb.get_waiter("table_not_exists").wait(TableName=settings.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return None


def _delete_role(settings: Settings) -> str | None:
    client = aws.client(settings, "iam")
    for attached in client.list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"]:
        client.detach_role_policy(RoleName=settings.role_name, PolicyArn=attached["PolicyArn"])
    for name in client.list_role_policies(RoleName=settings.role_name)["PolicyNames"]:
        client.delete_role_policy(RoleName=settings.role_name, PolicyName=name)
    client.delete_role(RoleName=settings.role_name)
    return None


def teardown(settings: Settings) -> list[dict[str, str]]:
    """Delete everything, dependents first; one row per resource."""
    lam, logs = aws.client(settings, "lambda"), aws.client(settings, "logs")
    rows: list[dict[str, str]] = []
    _attempt(rows, f"API Gateway {API_NAME}", lambda: _delete_api(settings))
    _attempt(rows, f"S3 trigger on {settings.raw_bucket}", lambda: _clear_notification(settings))
    _attempt(rows, f"Lambda {settings.function_name}", lambda: lam.delete_function(FunctionName=settings.function_name) and None)
    _attempt(rows, f"log group /aws/lambda/{settings.function_name}",
             lambda: logs.delete_log_group(logGroupName=f"/aws/lambda/{settings.function_name}") and None)
    _attempt(rows, f"Lambda layer {layer.LAYER_NAME}", lambda: _delete_layer_versions(settings))
    _attempt(rows, "CloudFront distribution", lambda: _delete_distribution(settings))
    _attempt(rows, "CloudFront origin access (OAC/OAI)", lambda: _delete_access(settings))
    for name in (settings.raw_bucket, settings.processed_bucket):
        _attempt(rows, f"S3 bucket {name}", lambda name=name: _delete_bucket(settings, name))
    _attempt(rows, f"DynamoDB table {settings.table_name}", lambda: _delete_table(settings))
    _attempt(rows, f"IAM role {settings.role_name}", lambda: _delete_role(settings))
    return rows


def remaining(settings: Settings) -> list[str]:
    """What still exists of the walkthrough's resources (empty after a full teardown)."""
    s3, lam, dynamodb, client = (aws.client(settings, n) for n in ("s3", "lambda", "dynamodb", "iam"))
    left = []
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    left += [f"S3 bucket {b}" for b in (settings.raw_bucket, settings.processed_bucket) if b in names]
    if settings.table_name in dynamodb.list_tables()["TableNames"]:
        left.append(f"DynamoDB table {settings.table_name}")
    if any(f["FunctionName"] == settings.function_name for f in lam.list_functions()["Functions"]):
        left.append(f"Lambda {settings.function_name}")
    if lam.list_layer_versions(LayerName=layer.LAYER_NAME).get("LayerVersions"):
        left.append(f"Lambda layer {layer.LAYER_NAME}")
    try:
        client.get_role(RoleName=settings.role_name)
        left.append(f"IAM role {settings.role_name}")
    except client.exceptions.NoSuchEntityException:
        pass
    if cdn.find_distribution(settings):
        left.append("CloudFront distribution")
    if any(a["name"] == API_NAME for a in aws.client(settings, "apigateway").get_rest_apis().get("items", [])):
        left.append(f"API Gateway {API_NAME}")
    return left
