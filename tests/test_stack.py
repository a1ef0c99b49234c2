"""The pipeline as one stack: the same resources as the notebooks make, deployed and removed by ``walkthrough
deploy`` and ``down``, locally and on AWS (here: the emulator standing in for an account, as in
tests/test_aws_sequence.py).

The comparison test is what keeps the two ways from drifting apart: the
notebooks' steps build the pipeline, its configuration is read back through
the APIs; then the stack builds it with the same names, and what the APIs
answer must be the same, up to the ids AWS makes (distribution, API, OAC ids,
statement ids).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from botocore.stub import Stubber

from tests.emulator_helpers import reset
from walkthrough import Settings, api, aws, buckets, cdn, pipeline, safety, sequence, stack, teardown
from walkthrough.emulator import lifecycle
from walkthrough.errors import WalkthroughError

ROOT = pipeline.SAMPLE_PHOTO.parent.parent.parent


@pytest.fixture(autouse=True)
def fresh_caches():
    """No clients, accounts or confirmations carried into or out of a test."""
    aws._cached_client.cache_clear()
    aws._caller_account.cache_clear()
    safety.forget()
    yield
    aws._cached_client.cache_clear()
    aws._caller_account.cache_clear()
    safety.forget()


@pytest.fixture
def empty(fresh_emulator):
    """An empty emulator (the worker's shared fresh one, reset), and local settings on it."""
    reset(fresh_emulator.endpoint)
    aws._cached_client.cache_clear()
    return Settings.from_env(emulator_port=fresh_emulator.port)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "walkthrough", *args], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=600)


# --------------------------------------------------------------------------- what the APIs say about a pipeline


def _tags(pairs) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs}


def snapshot(settings: Settings, api_name: str = api.API_NAME) -> dict:
    """Everything a pipeline's configuration is, read back through the APIs, with AWS-made ids replaced by placeholders."""
    s3, lam, dynamodb, iam, cloudfront, apigateway, logs = (aws.client(settings, n) for n in (
        "s3", "lambda", "dynamodb", "iam", "cloudfront", "apigateway", "logs"))
    distribution = cdn.find_distribution(settings)
    ids = {distribution["Id"]: "<distribution>"}
    found_api = next(a for a in apigateway.get_rest_apis()["items"] if a["name"] == api_name)
    ids[found_api["id"]] = "<api>"
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    control = next(c for c in controls if c["Name"] == cdn.origin_access_control_config(settings)["Name"])
    ids[control["Id"]] = "<oac>"

    def plain(value):
        text = json.dumps(value, default=str, sort_keys=True)
        for real, placeholder in ids.items():
            text = text.replace(real, placeholder)
        return json.loads(text)

    out: dict = {}
    for name in buckets.bucket_names(settings):
        notification = s3.get_bucket_notification_configuration(Bucket=name).get("LambdaFunctionConfigurations", [])
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        except s3.exceptions.ClientError:
            policy = None
        out[f"bucket {name}"] = {
            "region": s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1",
            "block public access": s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
            "ownership": s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"],
            "tags": _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"]),
            "notification": [{k: v for k, v in c.items() if k != "Id"} for c in notification],  # CloudFormation names it
            "policy": policy,
            "index.html": "index.html" in [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])],
        }
    table = dynamodb.describe_table(TableName=settings.table_name)["Table"]
    out["table"] = {"key": table["KeySchema"], "attributes": table["AttributeDefinitions"],
                    "billing": table["BillingModeSummary"]["BillingMode"],
                    "tags": _tags(dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"])}
    role = iam.get_role(RoleName=settings.role_name)["Role"]
    inline = {n: iam.get_role_policy(RoleName=settings.role_name, PolicyName=n)["PolicyDocument"]
              for n in iam.list_role_policies(RoleName=settings.role_name)["PolicyNames"]}
    out["role"] = {"arn": role["Arn"], "trust": role["AssumeRolePolicyDocument"], "description": role.get("Description"),
                   "inline": inline, "attached": iam.list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"],
                   "tags": _tags(role.get("Tags", []))}
    function = lam.get_function(FunctionName=settings.function_name)
    config = function["Configuration"]
    layers = []
    for layer_arn in [layer["Arn"] for layer in config.get("Layers", [])]:
        layer = lam.get_layer_version(LayerName=layer_arn.split(":")[-2], VersionNumber=int(layer_arn.split(":")[-1]))
        layers.append({"name": layer_arn.split(":")[-2], "sha": layer["Content"]["CodeSha256"]})  # the version number may differ
    statements = json.loads(lam.get_policy(FunctionName=settings.function_name)["Policy"])["Statement"]
    out["function"] = {
        **{k: config.get(k) for k in ("Runtime", "Handler", "MemorySize", "Timeout", "Environment", "LoggingConfig",
                                      "Architectures", "Role", "Description", "CodeSha256", "EphemeralStorage")},
        "layers": layers, "tags": function.get("Tags", {}),
        "invoked by": sorted(({k: v for k, v in s.items() if k != "Sid"} for s in statements), key=json.dumps),
    }
    out["log group"] = bool(logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{settings.function_name}")["logGroups"])
    out["origin access control"] = {k: v for k, v in cloudfront.get_origin_access_control(Id=control["Id"])[
        "OriginAccessControl"]["OriginAccessControlConfig"].items()}
    distribution_config = cloudfront.get_distribution_config(Id=distribution["Id"])["DistributionConfig"]
    distribution_config.pop("CallerReference")
    out["distribution"] = {"config": distribution_config, "status": distribution["Status"],
                           "tags": _tags(cloudfront.list_tags_for_resource(Resource=distribution["ARN"])["Tags"]["Items"])}
    resources = apigateway.get_resources(restApiId=found_api["id"], embed=["methods"])["items"]
    process = next(r for r in resources if r["path"] == f"/{api.RESOURCE}")
    integration = apigateway.get_integration(restApiId=found_api["id"], resourceId=process["id"], httpMethod="POST")
    out["api"] = {"name": found_api["name"], "description": found_api.get("description"),
                  "endpoint": found_api.get("endpointConfiguration", {}).get("types"), "tags": found_api.get("tags"),
                  "paths": sorted(r["path"] for r in resources), "methods": sorted(process.get("resourceMethods", {})),
                  "integration": {k: integration.get(k) for k in ("type", "httpMethod", "uri")},
                  "stages": sorted(s["stageName"] for s in apigateway.get_stages(restApiId=found_api["id"])["item"])}
    return plain(out)


@pytest.mark.slow
@pytest.mark.emulator
def test_the_stack_creates_what_the_notebooks_create(empty):
    settings = aws.resolve(empty)
    sequence.ensure_before(settings, 8)  # notebooks 01-07, as they make them (07: the function has run, its log group exists)
    api.ensure_api(settings)  # notebook 08
    by_hand = snapshot(settings)
    assert [r for r in teardown.teardown(settings) if r["result"].startswith("failed")] == []
    assert teardown.remaining(settings) == []

    deployed = stack.deploy(settings, progress=False)
    assert deployed["status"] == "created" and deployed["resources"] == 16
    as_code = snapshot(settings)
    for part in by_hand:
        assert as_code[part] == by_hand[part], part

    # it works: an upload processed, recorded, served by CloudFront and refused by S3 directly
    item = pipeline.process(settings, pipeline.SAMPLE_PHOTO)
    assert item["status"] == "processed" and (item["width"], item["height"]) == (400, 267)
    served = cdn.fetch(settings, item["processed_key"])
    assert served["status"] == 200 and served["body"][:3] == b"\xff\xd8\xff"
    assert cdn.fetch_directly(settings, item["processed_key"])["status"] == 403

    # a change redeploys only what changed; the same template again changes nothing
    again = stack.deploy(settings, progress=False)
    assert again["status"] == "unchanged"
    distribution = cdn.find_distribution(settings)["Id"]
    updated = stack.deploy(settings, max_dimension=512, progress=False)
    assert updated["status"] == "updated"
    environment = aws.client(settings, "lambda").get_function_configuration(FunctionName=settings.function_name)["Environment"]
    assert environment["Variables"]["MAX_DIMENSION"] == "512" and cdn.find_distribution(settings)["Id"] == distribution

    assert stack.delete(settings, "walkthrough", progress=False).startswith("deleted in ")
    assert teardown.remaining(settings) == []
    assert stack.artifacts_bucket(settings) not in [b["Name"] for b in aws.client(settings, "s3").list_buckets()["Buckets"]]


@pytest.mark.slow
@pytest.mark.emulator
def test_deploy_beside_the_notebooks_pipeline_and_down_removes_both(empty, tmp_path):
    settings = aws.resolve(empty)
    port = ["--port", str(settings.emulator_port)]
    sequence.ensure_before(settings, 3)  # the notebooks' buckets and table
    refused = _cli("deploy", *port)
    assert refused.returncode == 1
    error = refused.stderr.strip()
    assert "\n" not in error and "raw-image-bucket" in error and "--prefix" in error
    assert stack.find(settings, "walkthrough") is None  # nothing was created
    assert stack.artifacts_bucket(settings) not in [b["Name"] for b in aws.client(settings, "s3").list_buckets()["Buckets"]]

    deployed = _cli("deploy", *port, "--prefix", "iac", "--no-api")
    assert deployed.returncode == 0, deployed.stderr
    assert "Stack iac-walkthrough: created in " in deployed.stdout
    assert f"CloudFront: http://127.0.0.1:{settings.emulator_port}/_walkthrough/cloudfront/" in deployed.stdout
    assert "API:" not in deployed.stdout and "bucket walkthrough-artifacts" in deployed.stdout
    beside = settings.with_(raw_bucket="iac-raw-image-bucket", processed_bucket="iac-processed-image-bucket",
                            table_name="iac-ImageMetadata", role_name="iac-LambdaImageProcessingRole",
                            function_name="iac-ImageProcessingFunction")
    assert pipeline.process(beside, pipeline.SAMPLE_PHOTO)["status"] == "processed"
    assert stack.walkthrough_stacks(settings) == ["iac-walkthrough"]

    down = _cli("down", *port, "--output", str(tmp_path))
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Everything the walkthrough created is gone." in down.stdout
    assert stack.walkthrough_stacks(settings) == [] and teardown.remaining(settings) == []
    assert not [b for b in aws.client(settings, "s3").list_buckets()["Buckets"] if b["Name"].startswith(("iac-", "walkthrough-"))]


@pytest.mark.slow
@pytest.mark.emulator
def test_deploy_and_down_on_aws(fresh_emulator, monkeypatch):
    """``deploy --target aws``: the plan, the one confirmation, the tags; ``down --target aws`` finds and deletes it."""
    reset(fresh_emulator.endpoint)
    region, account = "eu-west-1", "123456789012"
    monkeypatch.setenv("AWS_ENDPOINT_URL", fresh_emulator.endpoint)
    for name, value in lifecycle.keys(fresh_emulator.port).environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    aws._cached_client.cache_clear()
    safety.forget()
    settings = aws.resolve(Settings.from_env(target="aws", region=region))
    target = ["--target", "aws", "--region", region]

    unconfirmed = _cli("deploy", *target, "--pillow-layer", "document")
    assert unconfirmed.returncode == 1
    assert "Nothing was created" in unconfirmed.stderr and "--yes" in unconfirmed.stderr
    assert f"Target: AWS account {account}" in unconfirmed.stdout and "stack walkthrough" in unconfirmed.stdout
    assert aws.client(settings, "s3").list_buckets()["Buckets"] == []

    deployed = _cli("deploy", *target, "--pillow-layer", "document", "--yes")
    assert deployed.returncode == 0, deployed.stderr
    assert "CloudFront takes about 5-15 minutes" in deployed.stdout and "Stack walkthrough: created" in deployed.stdout
    found = stack.find(settings, "walkthrough")
    assert _tags(found["Tags"]) == settings.tags
    outputs = stack.outputs(settings, "walkthrough")
    assert outputs["RawBucketName"] == f"raw-image-bucket-{account}-{region}"
    s3 = aws.client(settings, "s3")
    for bucket in (outputs["RawBucketName"], outputs["ProcessedBucketName"], f"walkthrough-artifacts-{account}-{region}"):
        assert _tags(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == settings.tags
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == region
    function = aws.client(settings, "lambda").get_function(FunctionName="ImageProcessingFunction")
    assert [l["Arn"] for l in function["Configuration"]["Layers"]] == [
        f"arn:aws:lambda:{region}:770693421928:layer:Klayers-p312-Pillow:6"]
    assert cdn.fetch(settings, "index.html")["status"] == 200  # through the emulator's CloudFront

    down = _cli("down", *target)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "removed     CloudFormation stacks (deleted walkthrough)" in down.stdout
    assert "Everything the walkthrough created is gone." in down.stdout
    assert stack.find(settings, "walkthrough") is None and s3.list_buckets()["Buckets"] == []
    assert teardown.remaining(settings) == []


# --------------------------------------------------------------------------- what AWS takes minutes for


def _aws_settings() -> Settings:
    return Settings.from_env(target="aws", region="eu-west-1", account_id="111122223333", confirm=True)


def _stack(status: str) -> dict:
    return {"Stacks": [{"StackName": "walkthrough", "StackId": "arn:aws:cloudformation:eu-west-1:111122223333:stack/walkthrough/1",
                        "StackStatus": status, "CreationTime": datetime(2026, 1, 1, tzinfo=timezone.utc)}]}


def _event(logical_id: str, status: str, reason: str = "", minute: int = 0) -> dict:
    return {"StackId": "s", "EventId": f"{logical_id}-{status}", "StackName": "walkthrough", "LogicalResourceId": logical_id,
            "ResourceType": "AWS::S3::Bucket" if logical_id != "walkthrough" else "AWS::CloudFormation::Stack",
            "ResourceStatus": status, "ResourceStatusReason": reason,
            "Timestamp": datetime(2026, 1, 1, 0, minute, tzinfo=timezone.utc)}


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(stack, "_sleep", slept.append)
    aws._cached_client.cache_clear()
    yield slept
    aws._cached_client.cache_clear()


def test_waiting_for_a_stack_on_aws_polls_until_cloudformation_is_done(no_sleep):
    settings = _aws_settings()
    cloudformation = aws.client(settings, "cloudformation")
    with Stubber(cloudformation) as stub:
        for status, done in (("CREATE_IN_PROGRESS", []), ("CREATE_IN_PROGRESS", ["RawImageBucket"]),
                             ("CREATE_COMPLETE", ["RawImageBucket", "Distribution"])):
            stub.add_response("describe_stacks", _stack(status), {"StackName": "walkthrough"})
            stub.add_response("describe_stack_events", {"StackEvents": [_event(r, "CREATE_COMPLETE") for r in done]},
                              {"StackName": "walkthrough"})
        assert stack.wait(settings, "walkthrough", "creating", 2, progress=False) == "CREATE_COMPLETE"
    assert no_sleep == [stack.POLL_S["aws"]] * 2


def test_a_stack_that_never_settles_is_a_clear_error(no_sleep, monkeypatch):
    settings = _aws_settings()
    cloudformation = aws.client(settings, "cloudformation")
    clock = iter([0.0, 10.0, 4000.0])
    monkeypatch.setattr(stack.time, "monotonic", lambda: next(clock))
    with Stubber(cloudformation) as stub:
        for _ in range(2):
            stub.add_response("describe_stacks", _stack("CREATE_IN_PROGRESS"), {"StackName": "walkthrough"})
            stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": "walkthrough"})
        with pytest.raises(WalkthroughError, match="still CREATE_IN_PROGRESS after 60 min") as error:
            stack.wait(settings, "walkthrough", "creating", 2, progress=False)
    assert "\n" not in str(error.value)


def test_a_failed_stack_is_explained_by_the_resource_that_failed_first():
    settings = _aws_settings()
    cloudformation = aws.client(settings, "cloudformation")
    reason = 'Resource handler returned message: "Unable to validate the following destination configurations"'
    events = [_event("walkthrough", "ROLLBACK_COMPLETE", "", 9), _event("RawImageBucket", "DELETE_COMPLETE", "", 8),
              _event("walkthrough", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [RawImageBucket].", 7),
              _event("RawImageBucket", "CREATE_FAILED", reason, 6), _event("RawImageBucket", "CREATE_IN_PROGRESS", "", 5)]
    with Stubber(cloudformation) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": events}, {"StackName": "walkthrough"})
        assert stack.failure(settings, "walkthrough") == f"RawImageBucket (AWS::S3::Bucket): {reason}"


def test_deploying_on_aws_asks_the_one_question_first(mocked_aws, monkeypatch):
    """Without confirmation nothing is created, not even the artifacts bucket (the same gate as the notebooks)."""
    monkeypatch.setattr(safety, "_interactive", lambda: False)
    safety.forget()
    aws._cached_client.cache_clear()
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1"))
    with pytest.raises(WalkthroughError, match="needs confirmation"):
        stack.deploy(settings, pillow_layer="document", progress=False)
    assert aws.client(settings, "s3").list_buckets()["Buckets"] == []
    aws._cached_client.cache_clear()
