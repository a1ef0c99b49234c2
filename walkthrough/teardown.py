"""Cleanup: delete everything the walkthrough created, in dependency order.

Safe to run twice and after a partial run: each resource that is already gone
is reported as such. The stacks of the run (``walkthrough deploy``, notebook
10) go first, by CloudFormation (``stack.delete_all``); what they made is left
to them, never deleted under them. The CloudFront distribution is disabled, waited for
(minutes on AWS, with a progress bar) and then deleted with its current ETag,
as CloudFront requires.

On AWS the resources are found two ways: by the names the settings give them,
and by their tags (``project=walkthrough`` and ``walkthrough:run=<run name>``,
through the Resource Groups Tagging API, in the region and in us-east-1 where
CloudFront's tags live), so a bucket or function the tutorial made under
another name is removed too. IAM roles, layer versions, origin access controls
and log groups carry no tags the Tagging API reports; they are found by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from botocore.exceptions import ClientError, WaiterError

from walkthrough import aws, buckets, cdn, inventory, layer, stack
from walkthrough.api import API_NAME
from walkthrough.config import PROJECT_TAG, RUN_TAG_KEY, Settings
from walkthrough.errors import WalkthroughError

#: The tag CloudFormation puts on what a stack creates.
STACK_TAG = "aws:cloudformation:stack-name"
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
    except (WalkthroughError, WaiterError) as exc:
        outcome = f"failed: {str(exc).splitlines()[0]}"
    rows.append({"resource": resource, "result": outcome})


# --------------------------------------------------------------------------- discovery by tags


@dataclass(frozen=True)
class Tagged:
    """A resource the Tagging API reports with the walkthrough's tags."""

    arn: str
    kind: str  # "bucket", "function", "table", "distribution", "api", "stack", "log group" or "other"
    name: str  # bucket/function/table name, distribution/API id, or the ARN for "other"


def _parse(arn: str) -> Tagged:
    parts = arn.split(":", 5)
    service, resource = (parts[2], parts[5]) if len(parts) == 6 else ("", arn)
    if service == "s3" and "/" not in resource:
        return Tagged(arn, "bucket", resource)
    if service == "lambda" and resource.startswith("function:"):
        return Tagged(arn, "function", resource.split(":")[1])
    if service == "dynamodb" and resource.startswith("table/"):
        return Tagged(arn, "table", resource.split("/")[1])
    if service == "cloudfront" and resource.startswith("distribution/"):
        return Tagged(arn, "distribution", resource.split("/")[1])
    if service == "apigateway" and resource.startswith("/restapis/") and resource.count("/") == 2:
        return Tagged(arn, "api", resource.split("/")[2])
    if service == "cloudformation" and resource.startswith("stack/"):
        return Tagged(arn, "stack", resource.split("/")[1])
    if service == "logs" and resource.startswith("log-group:"):
        return Tagged(arn, "log group", resource.split(":", 1)[1].removesuffix(":*"))
    return Tagged(arn, "other", arn)


def tag_filters(settings: Settings) -> list[dict[str, object]]:
    return [{"Key": PROJECT_TAG[0], "Values": [PROJECT_TAG[1]]}, {"Key": RUN_TAG_KEY, "Values": [settings.run_name]}]


def discover(settings: Settings) -> list[Tagged]:
    """Every resource tagged by this run of the walkthrough in the settings' region (CloudFront: global)."""
    found: dict[str, Tagged] = {}
    regions = [settings.region] + ([] if settings.region == "us-east-1" else ["us-east-1"])
    for region in regions:
        client = aws.client(settings if region == settings.region else settings.with_(region=region), "resourcegroupstaggingapi")
        for page in client.get_paginator("get_resources").paginate(TagFilters=tag_filters(settings)):
            for mapping in page.get("ResourceTagMappingList", []):
                if any(t.get("Key") == STACK_TAG for t in mapping.get("Tags", [])):
                    continue  # a stack's resource: deleting the stack deletes it (``stack.delete_all``)
                item = _parse(mapping["ResourceARN"])
                if item.arn not in found and _in_region(settings, item, queried=region):
                    found[item.arn] = item
    return sorted(found.values(), key=lambda t: (t.kind, t.name))


def _in_region(settings: Settings, item: Tagged, queried: str) -> bool:
    """Whether a tagged resource belongs to this run's region (another region's run keeps its resources)."""
    if item.kind == "distribution":  # global (its tags live in us-east-1): judge by its origin's region
        try:
            config = aws.client(settings, "cloudfront").get_distribution_config(Id=item.name)["DistributionConfig"]
        except ClientError:
            return False
        origins = config.get("Origins", {}).get("Items", []) or []
        return any(f".s3.{settings.region}.amazonaws.com" in o.get("DomainName", "") for o in origins)
    if queried != settings.region:
        return False
    if item.kind == "bucket":  # S3 ARNs name no region
        try:
            location = aws.client(settings, "s3").get_bucket_location(Bucket=item.name).get("LocationConstraint")
        except ClientError:
            return False
        return (location or "us-east-1") == settings.region
    arn_region = item.arn.split(":")[3] if item.arn.count(":") >= 5 else ""
    return arn_region in ("", settings.region)


def _names(tagged: Iterable[Tagged], kind: str, known: Iterable[str] = ()) -> list[str]:
    return list(dict.fromkeys([*known, *(t.name for t in tagged if t.kind == kind)]))


# --------------------------------------------------------------------------- deletions


def _delete_apis(settings: Settings, extra_ids: Iterable[str] = ()) -> str | None:
    apigateway = aws.client(settings, "apigateway")
    ids = [a["id"] for a in apigateway.get_rest_apis().get("items", []) if a["name"] == API_NAME]
    ids = list(dict.fromkeys([*ids, *extra_ids]))
    for api_id in ids:
        try:
            apigateway.delete_rest_api(restApiId=api_id)
        except apigateway.exceptions.NotFoundException:
            pass
    return f"deleted {len(ids)}" if len(ids) > 1 else (None if ids else "nothing to delete")


def _clear_notification(settings: Settings) -> str | None:
    aws.client(settings, "s3").put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration={})
    return "cleared"


def _delete_layer_versions(settings: Settings) -> str | None:
    lam = aws.client(settings, "lambda")
    deleted = 0
    for name in (layer.LAYER_NAME, layer.WRONG_PYTHON_LAYER_NAME):  # the second only if notebook 09 stopped halfway
        for version in lam.list_layer_versions(LayerName=name).get("LayerVersions", []):
            lam.delete_layer_version(LayerName=name, VersionNumber=version["Version"])
            deleted += 1
    return f"deleted {deleted} version(s)" if deleted else "nothing to delete"


def delete_distribution(settings: Settings, distribution_id: str | None = None, status: str | None = None) -> str | None:
    """Disable (with the current ETag), wait until deployed, then delete with the new ETag, as CloudFront requires."""
    cloudfront = aws.client(settings, "cloudfront")
    if distribution_id is None:
        found = cdn.find_distribution(settings)
        if found is None:
            return "already gone"
        distribution_id, status = found["Id"], found.get("Status")
    response = cloudfront.get_distribution_config(Id=distribution_id)
    config, etag = response["DistributionConfig"], response["ETag"]
    steps = []
    if config["Enabled"]:
        config["Enabled"] = False
        cloudfront.update_distribution(Id=distribution_id, IfMatch=etag, DistributionConfig=config)
        status = "InProgress"
        steps.append("disabled")
    if status != "Deployed":  # disabling, or a change still deploying: CloudFront refuses to delete until deployed
        cdn.wait_deployed(settings, distribution_id)
        etag = cloudfront.get_distribution_config(Id=distribution_id)["ETag"]
        steps.append("deployed")
    cloudfront.delete_distribution(Id=distribution_id, IfMatch=etag)
    return f"deleted ({', '.join(steps)} first)" if steps else None


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
    buckets.empty_bucket(settings, name)
    aws.client(settings, "s3").delete_bucket(Bucket=name)
    return None


def _delete_table(settings: Settings, name: str | None = None) -> str | None:
    dynamodb = aws.client(settings, "dynamodb")
    name = name or settings.table_name
    dynamodb.delete_table(TableName=name)
    dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return None


def _delete_role(settings: Settings) -> str | None:
    client = aws.client(settings, "iam")
    for attached in client.list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"]:
        client.detach_role_policy(RoleName=settings.role_name, PolicyArn=attached["PolicyArn"])
    for name in client.list_role_policies(RoleName=settings.role_name)["PolicyNames"]:
        client.delete_role_policy(RoleName=settings.role_name, PolicyName=name)
    client.delete_role(RoleName=settings.role_name)
    return None


def teardown(settings: Settings, tagged: list[Tagged] | None = None) -> list[dict[str, str]]:
    """Delete everything, dependents first; one row per resource.

    On AWS, resources found by their tags (``discover``) are deleted along with
    the named ones; a tagged resource of a kind the walkthrough does not make
    is reported as not removed.
    """
    lam, logs = aws.client(settings, "lambda"), aws.client(settings, "logs")
    rows: list[dict[str, str]] = []
    # first the stacks (`walkthrough deploy`, notebook 10): CloudFormation deletes what it made
    _attempt(rows, "CloudFormation stacks", lambda: stack.delete_all(settings))
    if not settings.is_local and (tagged is None or rows[-1]["result"].startswith("deleted")):
        tagged = discover(settings)  # what the stacks made is gone: it is not to be deleted again by hand
    tagged = tagged or []
    _attempt(rows, f"API Gateway {API_NAME}", lambda: _delete_apis(settings, _names(tagged, "api")))
    _attempt(rows, f"S3 trigger on {settings.raw_bucket}", lambda: _clear_notification(settings))
    for function in _names(tagged, "function", [settings.function_name]):
        _attempt(rows, f"Lambda {function}", lambda function=function: lam.delete_function(FunctionName=function) and None)
        _attempt(rows, f"log group /aws/lambda/{function}",
                 lambda function=function: logs.delete_log_group(logGroupName=f"/aws/lambda/{function}") and None)
    for group in [g for g in _names(tagged, "log group") if g not in {f"/aws/lambda/{f}" for f in _names(tagged, "function", [settings.function_name])}]:
        _attempt(rows, f"log group {group}", lambda group=group: logs.delete_log_group(logGroupName=group) and None)
    _attempt(rows, f"Lambda layer {layer.LAYER_NAME}", lambda: _delete_layer_versions(settings))
    try:
        named = (cdn.find_distribution(settings) or {}).get("Id")
    except ClientError:
        named = None
    _attempt(rows, "CloudFront distribution", lambda: delete_distribution(settings))
    for distribution_id in [d for d in _names(tagged, "distribution") if d != named]:
        _attempt(rows, f"CloudFront distribution {distribution_id} (tagged)",
                 lambda distribution_id=distribution_id: delete_distribution(settings, distribution_id))
    _attempt(rows, "CloudFront origin access (OAC/OAI)", lambda: _delete_access(settings))
    for name in _names(tagged, "bucket", [settings.raw_bucket, settings.processed_bucket]):
        _attempt(rows, f"S3 bucket {name}", lambda name=name: _delete_bucket(settings, name))
    for name in _names(tagged, "table", [settings.table_name]):
        _attempt(rows, f"DynamoDB table {name}", lambda name=name: _delete_table(settings, name))
    _attempt(rows, f"IAM role {settings.role_name}", lambda: _delete_role(settings))
    for item in tagged:
        if item.kind == "other":
            rows.append({"resource": item.arn, "result": "not removed: tagged by the walkthrough, but not a kind it makes"})
    return rows


def _still_there(settings: Settings, item: Tagged) -> bool:
    """Whether a tagged resource really exists (the Tagging API may list a deleted one for a while)."""
    try:
        if item.kind == "bucket":
            aws.client(settings, "s3").head_bucket(Bucket=item.name)
        elif item.kind == "function":
            aws.client(settings, "lambda").get_function(FunctionName=item.name)
        elif item.kind == "table":
            aws.client(settings, "dynamodb").describe_table(TableName=item.name)
        elif item.kind == "distribution":
            aws.client(settings, "cloudfront").get_distribution(Id=item.name)
        elif item.kind == "api":
            aws.client(settings, "apigateway").get_rest_api(restApiId=item.name)
        elif item.kind == "stack":
            return item.name in stack.walkthrough_stacks(settings) or stack.find(settings, item.arn) is not None
        elif item.kind == "log group":
            groups = aws.client(settings, "logs").describe_log_groups(logGroupNamePrefix=item.name)["logGroups"]
            return any(g["logGroupName"] == item.name for g in groups)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in GONE_CODES:
            return False
        raise
    return True


def remaining(settings: Settings) -> list[str]:
    """What still exists of the walkthrough's resources (empty after a full teardown)."""
    left = inventory.named_parts_left(settings, layer.LAYER_NAME, API_NAME)
    left += [f"CloudFormation stack {name}" for name in stack.walkthrough_stacks(settings)]
    if not settings.is_local:
        named = cdn.find_distribution(settings)
        known = {settings.raw_bucket, settings.processed_bucket, settings.table_name, settings.function_name,
                 (named or {}).get("Id")}
        for item in discover(settings):
            if item.name in known:
                continue
            if item.kind == "other" or _still_there(settings, item):
                left.append(f"tagged {item.kind} {item.name}" if item.kind != "other" else f"tagged {item.arn}")
    return left
