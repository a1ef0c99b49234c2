"""CloudFormation on the emulator: the walkthrough's template deployed with the AWS CLI as a user deploys it,
and the checks AWS makes meeting stack-created resources as they meet a user's calls.

Where CloudFormation's behaviour is quoted: AWS's knowledge center on the S3
notification circle (https://repost.aws/knowledge-center/unable-validate-circular-dependency-cloudformation:
"Unable to validate the following destination configurations", "Circular
dependency between resources"), S3's BucketNotEmpty ("The bucket you tried to
delete is not empty"), and the AWS CLI's own ``deploy``/``package`` commands.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.emulator_helpers import TRUST, aws_cli, eventually
from walkthrough import template

pytestmark = [pytest.mark.emulator]
ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "notebooks" / "data" / "photo.jpg"


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _reasons(cloudformation, stack_name: str) -> dict[str, str]:
    """Logical id -> the reason of its first failure, from the stack's events."""
    reasons: dict[str, str] = {}
    for event in reversed(cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]):
        if event["ResourceStatus"].endswith(("FAILED", "ROLLBACK_IN_PROGRESS")) and event.get("ResourceStatusReason"):
            reasons.setdefault(event["LogicalResourceId"], event["ResourceStatusReason"])
    return reasons


def _settle(cloudformation, stack_name: str, timeout: float = 60.0) -> str:
    return eventually(lambda: (lambda s: s if not s.endswith("_IN_PROGRESS") else None)(
        cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]), timeout)


def _gone(cloudformation, stack_name: str) -> None:
    with pytest.raises(ClientError, match="does not exist"):
        cloudformation.describe_stacks(StackName=stack_name)


def _function(name: str, code: str, role: dict) -> dict:
    return {"Type": "AWS::Lambda::Function", "Properties": {
        "FunctionName": name, "Runtime": "python3.12", "Handler": "index.handler", "Role": role, "Timeout": 10,
        "Code": {"ZipFile": code}}}


def _role(name: str, statements: list[dict]) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": name, "AssumeRolePolicyDocument": json.loads(TRUST),
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}]}}


# --------------------------------------------------------------------------- the walkthrough's template, as a user deploys it


@pytest.mark.slow
def test_the_template_deploys_with_the_aws_cli_works_and_deletes_without_a_trace(emulator, tmp_path, capsys):
    """`template --artifacts`, `aws cloudformation package` and `deploy`; an upload processed and served through CloudFront;
    `delete-stack` refused while the buckets hold objects (as S3 refuses), then everything gone."""
    from walkthrough.__main__ import main

    aws = aws_cli(emulator.port)
    prefix = "cli" + uuid.uuid4().hex[:6]
    stack_name = f"{prefix}-walkthrough"
    source = tmp_path / "pipeline.yaml"
    assert main(["template", "--port", str(emulator.port), "--prefix", prefix, "--output", str(source),
                 "--artifacts", str(tmp_path / "build")]) == 0
    capsys.readouterr()
    artifacts = f"{prefix}-artifacts"
    aws("s3", "mb", f"s3://{artifacts}")
    aws("cloudformation", "package", "--template-file", str(source), "--s3-bucket", artifacts,
        "--output-template-file", str(tmp_path / "packaged.yaml"))
    started = time.monotonic()
    deployed = aws("cloudformation", "deploy", "--template-file", str(tmp_path / "packaged.yaml"), "--stack-name", stack_name,
                   "--capabilities", "CAPABILITY_NAMED_IAM")
    deploy_s = time.monotonic() - started
    assert f"Successfully created/updated stack - {stack_name}" in deployed["text"]
    cloudformation = emulator.client("cloudformation")  # the checks with boto3: each `aws` command costs 2 s of start-up
    described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["RawBucketName"] == f"{prefix}-raw-image-bucket"
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    completed = {e["LogicalResourceId"] for e in events if e["ResourceStatus"] == "CREATE_COMPLETE"}
    assert completed >= set(template.load(source.read_text())["Resources"])  # every resource, each with its own event

    # the pipeline at work: the emulator runs the function; CloudFront serves the result, S3 refuses a direct read
    aws("s3", "cp", str(PHOTO), f"s3://{outputs['RawBucketName']}/photo.jpg")
    dynamodb = emulator.client("dynamodb")
    item = eventually(lambda: dynamodb.get_item(TableName=outputs["MetadataTableName"], Key={"filename": {"S": "photo.jpg"}}).get("Item"),
                      timeout=60)
    assert item["status"]["S"] == "processed" and item["processed_key"]["S"] == "processed-photo.jpg"
    served = f"{emulator.endpoint}/_walkthrough/cloudfront/{outputs['DistributionId']}/processed-photo.jpg"
    status, content_type, body = _get(served)
    assert (status, content_type, body[:3]) == (200, "image/jpeg", b"\xff\xd8\xff")
    assert _get(f"{emulator.endpoint}/{outputs['ProcessedBucketName']}/processed-photo.jpg")[0] == 403
    logs = emulator.log_messages(f"{prefix}-ImageProcessingFunction")
    assert any('"outcome": "processed"' in message for message in logs)  # JSON logs: the template's LoggingConfig

    # S3 deletes only empty buckets; CloudFormation says so and keeps the stack
    aws("cloudformation", "delete-stack", "--stack-name", stack_name)
    waited = aws("cloudformation", "wait", "stack-delete-complete", "--stack-name", stack_name, check=False)
    assert "DELETE_FAILED" in waited["error"]
    reasons = _reasons(cloudformation, stack_name)
    assert "The bucket you tried to delete is not empty" in reasons["RawImageBucket"]
    assert reasons[stack_name].startswith("The following resource(s) failed to delete: [")
    s3 = emulator.client("s3")
    for bucket in (outputs["RawBucketName"], outputs["ProcessedBucketName"]):
        for listed in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=listed["Key"])
    started = time.monotonic()
    aws("cloudformation", "delete-stack", "--stack-name", stack_name)
    aws("cloudformation", "wait", "stack-delete-complete", "--stack-name", stack_name)
    delete_s = time.monotonic() - started
    print(f"\nemulator: aws cloudformation deploy {deploy_s:.1f} s, delete-stack + wait {delete_s:.1f} s", file=sys.stderr)

    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not [n for n in names if n.startswith(f"{prefix}-") and n != artifacts]
    lam = emulator.client("lambda")
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(prefix)]
    assert not lam.list_layer_versions(LayerName=f"{prefix}-Pillow")["LayerVersions"]
    assert not [t for t in emulator.client("dynamodb").list_tables()["TableNames"] if t.startswith(prefix)]
    assert not [r for r in emulator.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    assert not emulator.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{prefix}")["logGroups"]
    assert not [a for a in emulator.client("apigateway").get_rest_apis()["items"] if a["name"].startswith(prefix)]
    cloudfront = emulator.client("cloudfront")
    distributions = cloudfront.list_distributions()["DistributionList"].get("Items") or []
    assert not [d for d in distributions if d["Comment"].startswith(f"walkthrough: {prefix}-")]
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"].get("Items") or []
    assert not [c for c in controls if c["Name"].startswith(prefix)]


# --------------------------------------------------------------------------- AWS's checks meet stack-created resources


def test_a_notification_to_a_function_without_permission_fails_the_stack_and_rolls_it_back(emulator):
    """The classic mistake: no AWS::Lambda::Permission (or one created after the bucket). S3 refuses, CloudFormation rolls back."""
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("nop")
    body = {"Resources": {
        "Role": _role(f"{name}-role", [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]),
        "Fn": _function(name, "def handler(event, context):\n    return event\n", {"Fn::GetAtt": ["Role", "Arn"]}),
        "Uploads": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name, "NotificationConfiguration": {
            "LambdaConfigurations": [{"Event": "s3:ObjectCreated:*", "Function": {"Fn::GetAtt": ["Fn", "Arn"]}}]}}},
    }}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_NAMED_IAM"])
    assert _settle(cloudformation, name) == "ROLLBACK_COMPLETE"
    reasons = _reasons(cloudformation, name)
    assert "Unable to validate the following destination configurations" in reasons["Uploads"]
    assert reasons["Uploads"].startswith('Resource handler returned message: "') and "(Service: S3, Status Code: 400" in reasons["Uploads"]
    assert reasons[name] == "The following resource(s) failed to create: [Uploads]. Rollback requested by user."
    with pytest.raises(ClientError, match="Function not found|ResourceNotFound"):
        emulator.client("lambda").get_function(FunctionName=name)  # rolled back: nothing of it is left
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0].get("Outputs") is None
    cloudformation.delete_stack(StackName=name)
    _gone(cloudformation, name)


def test_the_circle_aws_warns_about_is_refused_as_cloudformation_refuses_it(emulator):
    """A permission whose SourceArn refers to the bucket, and a bucket that DependsOn the permission."""
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("circle")
    body = {"Resources": {
        "Role": _role(f"{name}-role", [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]),
        "Fn": _function(name, "def handler(event, context):\n    return 1\n", {"Fn::GetAtt": ["Role", "Arn"]}),
        "Permission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Ref": "Fn"}, "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["Uploads", "Arn"]}}},
        "Uploads": {"Type": "AWS::S3::Bucket", "DependsOn": "Permission", "Properties": {"BucketName": name}},
    }}
    with pytest.raises(ClientError, match=r"Circular dependency between resources: \[Permission, Uploads\]"):
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_NAMED_IAM"])
    change_set = cloudformation.create_change_set(StackName=name, ChangeSetName="c1", TemplateBody=json.dumps(body),
                                                  ChangeSetType="CREATE", Capabilities=["CAPABILITY_NAMED_IAM"])
    described = cloudformation.describe_change_set(ChangeSetName=change_set["Id"])
    assert (described["Status"], described["StatusReason"]) == ("FAILED", "Circular dependency between resources: [Permission, Uploads]")
    with pytest.raises(ClientError, match="cannot be executed"):
        cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]


def test_block_public_access_refuses_a_public_bucket_policy_from_a_stack(emulator):
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("public")
    body = {"Resources": {
        "Site": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}},  # S3's defaults: Block Public Access on
        "Open": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Site"}, "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{name}/*"}]}}},
    }}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body))
    assert _settle(cloudformation, name) == "ROLLBACK_COMPLETE"
    reason = _reasons(cloudformation, name)["Open"]
    assert "Status Code: 403" in reason and "HandlerErrorCode: AccessDenied" in reason
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]


def test_a_stack_created_role_is_enforced_like_any_other(emulator):
    """The function runs with its stack-made role's credentials: what the role does not allow, S3 refuses."""
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("role")
    code = ("import boto3, os\n"
            "def handler(event, context):\n"
            "    boto3.client('s3').put_object(Bucket=os.environ['BUCKET'], Key='x.txt', Body=b'x')\n"
            "    return 'written'\n")
    function = _function(name, code, {"Fn::GetAtt": ["Role", "Arn"]})
    function["Properties"]["Environment"] = {"Variables": {"BUCKET": {"Ref": "Out"}}}
    body = {"Resources": {
        "Out": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}},
        "Role": _role(f"{name}-role", [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]),  # no s3:PutObject
        "Fn": function,
    }}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_NAMED_IAM"])
    assert _settle(cloudformation, name) == "CREATE_COMPLETE"
    result, error = emulator.invoke(name, {})
    assert error == "Unhandled" and "AccessDenied" in json.dumps(result)
    iam = emulator.client("iam")
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="write", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))
    assert emulator.invoke(name, {}) == ("written", None)
    iam.delete_role_policy(RoleName=f"{name}-role", PolicyName="write")
    emulator.client("s3").delete_object(Bucket=name, Key="x.txt")
    cloudformation.delete_stack(StackName=name)
    _gone(cloudformation, name)
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]


def test_what_the_emulator_cannot_create_or_resolve_is_refused_in_one_line_before_anything_is_made(emulator):
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("refused")
    unknown = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}},
                             "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {}}}}
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(unknown))
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("The walkthrough emulator cannot create AWS::WAFv2::WebACL") and "\n" not in message
    dangling = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Nowhere"}}}}}
    with pytest.raises(ClientError, match=r"Template format error: Unresolved resource dependencies \[Nowhere\]"):
        cloudformation.create_change_set(StackName=name, ChangeSetName="c1", TemplateBody=json.dumps(dangling), ChangeSetType="CREATE")
    odd = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name, "AccelerateConfiguration": {
        "AccelerationStatus": "Enabled"}}}}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(odd))
    assert _settle(cloudformation, name) == "ROLLBACK_COMPLETE"
    assert "does not handle AccelerateConfiguration of AWS::S3::Bucket" in _reasons(cloudformation, name)["Bucket"]
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]


def test_a_bucket_that_exists_is_not_adopted(emulator):
    """CloudFormation does not take over an existing bucket (in us-east-1 CreateBucket alone would answer 200)."""
    name = emulator.unique("taken")
    emulator.client("s3").create_bucket(Bucket=name)
    cloudformation = emulator.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(
        {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}}}}))
    assert _settle(cloudformation, name) == "ROLLBACK_COMPLETE"
    assert f'"{name} already exists"' in _reasons(cloudformation, name)["Bucket"]
    assert name in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]  # the rollback leaves it alone


def test_named_iam_resources_need_the_acknowledgement_aws_asks_for(emulator):
    """`aws cloudformation deploy` without `--capabilities CAPABILITY_NAMED_IAM`: AWS's InsufficientCapabilitiesException."""
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("caps")
    named = {"Resources": {"Role": _role(f"{name}-role", [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}])}}
    for call in (lambda **kw: cloudformation.create_stack(StackName=name, **kw),
                 lambda **kw: cloudformation.create_change_set(StackName=name, ChangeSetName="c1", ChangeSetType="CREATE", **kw)):
        with pytest.raises(ClientError) as refused:
            call(TemplateBody=json.dumps(named))
        assert refused.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
        assert refused.value.response["Error"]["Message"] == "Requires capabilities : [CAPABILITY_NAMED_IAM]"
        with pytest.raises(ClientError, match=r"Requires capabilities : \[CAPABILITY_NAMED_IAM\]"):
            call(TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_IAM"])
    unnamed = json.loads(json.dumps(named))
    del unnamed["Resources"]["Role"]["Properties"]["RoleName"]
    with pytest.raises(ClientError, match=r"Requires capabilities : \[CAPABILITY_IAM\]"):
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(unnamed))
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(unnamed), Capabilities=["CAPABILITY_IAM"])
    assert _settle(cloudformation, name) == "CREATE_COMPLETE"
    role = emulator.client("cloudformation").describe_stack_resources(StackName=name)["StackResources"][0]["PhysicalResourceId"]
    assert role.startswith(f"{name}-Role-") and len(role) <= 64  # CloudFormation's name for an unnamed role
    cloudformation.delete_stack(StackName=name)
    _gone(cloudformation, name)


def test_an_update_that_fails_is_rolled_back_to_the_template_before_it(emulator):
    cloudformation = emulator.client("cloudformation")
    name = emulator.unique("update")
    bucket = {"Site": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}}}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": bucket}))
    assert _settle(cloudformation, name) == "CREATE_COMPLETE"
    public = {**bucket, "Open": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Site"}, "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                "Resource": f"arn:aws:s3:::{name}/*"}]}}}}
    change_set = cloudformation.create_change_set(StackName=name, ChangeSetName="open", ChangeSetType="UPDATE",
                                                  TemplateBody=json.dumps({"Resources": public}))
    cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
    assert _settle(cloudformation, name) == "UPDATE_ROLLBACK_COMPLETE"
    reasons = _reasons(cloudformation, name)
    assert "HandlerErrorCode: AccessDenied" in reasons["Open"]
    assert reasons[name] == "The following resource(s) failed to update: [Open]. Rollback requested by user."
    assert "Open" not in json.dumps(cloudformation.get_template(StackName=name)["TemplateBody"])
    cloudformation.update_stack(StackName=name, TemplateBody=json.dumps({"Resources": public}))  # UpdateStack, directly
    assert _settle(cloudformation, name) == "UPDATE_ROLLBACK_COMPLETE"
    cloudformation.delete_stack(StackName=name)
    _gone(cloudformation, name)
    assert name not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
