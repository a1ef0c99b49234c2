"""The CloudFormation template: linted clean, made from the notebooks' own definitions, readable YAML.

No emulator and no AWS here: the template is a value made from ``Settings``;
``tests/test_stack.py`` deploys it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from walkthrough import api, buckets, cdn, iam, lambda_fn, table, template, trigger
from walkthrough.__main__ import main
from walkthrough.config import Settings
from walkthrough.emulator.cloudformation import circular_dependency, distribution_api, template_problems
from walkthrough.errors import WalkthroughError

ACCOUNT = "111122223333"
KLAYERS = "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-Pillow:6"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def local_settings(**changes) -> Settings:
    return Settings.from_env({}, account_id="123456789012", **changes)


def aws_settings(region: str = "eu-west-1", **changes) -> Settings:
    return Settings.from_env({}, target="aws", region=region, account_id=ACCOUNT, **changes)


def built_layer() -> template.PillowLayer:
    return template.PillowLayer("build", artifact=template.Artifact("pillow-layer", b"PK\x05\x06" + bytes(18)), description="Pillow")


def made(settings: Settings, prefix: str = "", pillow: template.PillowLayer | None = None, **options) -> dict:
    names = template.names(settings, prefix)
    pillow = pillow or template.PillowLayer("klayers", arn=KLAYERS)
    return template.build(names, template.in_bucket("walkthrough-artifacts", names.stack), pillow, **options)


VARIANTS = {
    "local, built layer": lambda: made(local_settings(), pillow=built_layer()),
    "aws eu-west-1, Klayers": lambda: made(aws_settings()),
    "aws ap-southeast-2, prefix": lambda: made(aws_settings("ap-southeast-2"), "iac"),
    "managed policies, no API": lambda: made(local_settings(), policy="managed", with_api=False),
    "another run": lambda: made(aws_settings(run_name="workshop-7"), "w7"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_reports_nothing(variant):
    assert template.lint(template.to_yaml(VARIANTS[variant]()), "eu-west-1") == []


@pytest.mark.slow
def test_the_cfn_lint_command_passes_the_written_template(tmp_path):
    """As a reviewer or CI runs it: `cfn-lint pipeline.yaml`, exit status 0 and no output."""
    path = tmp_path / "pipeline.yaml"
    path.write_text(template.to_yaml(made(local_settings(), pillow=built_layer())))
    result = subprocess.run([str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=300)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


def test_cfn_lint_still_catches_a_broken_template():
    body = made(local_settings())
    body["Resources"]["ImageMetadataTable"]["Properties"]["BillingMode"] = "ON_DEMAND"
    findings = template.lint(template.to_yaml(body))
    assert findings and any("ON_DEMAND" in f for f in findings)


def test_the_yaml_reads_back_as_the_template_and_uses_the_short_forms():
    body = made(aws_settings(), pillow=built_layer())
    text = template.to_yaml(body)
    assert template.load(text) == body
    assert "!GetAtt ImageProcessingFunction.Arn" in text and "!Ref ProcessedImageBucket" in text
    assert "!Sub arn:aws:cloudfront::111122223333:distribution/${Distribution}" in text
    assert "&id" not in text and "*id" not in text  # no YAML aliases for repeated tags
    assert "  # 05_s3_trigger: S3 may invoke the function" in text  # each resource under the notebook that makes it


def test_every_resource_is_made_from_the_notebooks_definitions():
    settings = aws_settings()
    body = made(settings, pillow=built_layer())
    resources = body["Resources"]
    props = {name: resource["Properties"] for name, resource in resources.items()}
    assert props["ImageMetadataTable"] == table.table_definition(settings)
    role = props["LambdaImageProcessingRole"]
    assert role["AssumeRolePolicyDocument"] == iam.TRUST_POLICY
    assert role["Policies"] == [{"PolicyName": iam.INLINE_POLICY_NAME, "PolicyDocument": iam.least_privilege_policy(settings, ACCOUNT)}]
    for name in ("RawImageBucket", "ProcessedImageBucket"):
        assert props[name]["PublicAccessBlockConfiguration"] == buckets.BLOCK_ALL
    assert [props["RawImageBucket"]["BucketName"], props["ProcessedImageBucket"]["BucketName"]] == buckets.bucket_names(settings)
    function = props["ImageProcessingFunction"]
    configuration = lambda_fn.function_configuration(settings, {"Fn::GetAtt": ["LambdaImageProcessingRole", "Arn"]},
                                                     {"Ref": "PillowLayer"}, MAX_DIMENSION=str(lambda_fn.TUTORIAL_MAX_DIMENSION))
    assert {k: function[k] for k in configuration} == configuration
    assert function["Code"] == {"S3Bucket": "walkthrough-artifacts",
                                "S3Key": f"walkthrough/{template.function_artifact().file_name}"}
    permission = {k: v for k, v in props["AllowS3Invoke"].items() if k != "FunctionName"}
    assert permission == trigger.s3_permission(settings)
    assert props["RawImageBucket"]["NotificationConfiguration"]["LambdaConfigurations"] == [
        {"Event": event, "Function": {"Fn::GetAtt": ["ImageProcessingFunction", "Arn"]}} for event in trigger.EVENTS]
    assert props["OriginAccessControl"]["OriginAccessControlConfig"] == cdn.origin_access_control_config(settings)
    assert props["ImageProcessingApi"]["Name"] == api.API_NAME
    # every resource that can carry tags carries the notebooks' tags
    taggable = [p for name, p in props.items() if resources[name]["Type"] not in (
        "AWS::Lambda::Permission", "AWS::Lambda::LayerVersion", "AWS::CloudFront::OriginAccessControl", "AWS::S3::BucketPolicy",
        "AWS::ApiGateway::Resource", "AWS::ApiGateway::Method", "AWS::ApiGateway::Deployment")]
    assert len(taggable) == 8 and all(p["Tags"] == settings.tag_list() for p in taggable)


def test_the_distribution_is_the_notebooks_in_cloudformations_shape_and_back():
    """The template writes CreateDistribution's config as CloudFormation lists; the emulator's handler reads it back."""
    settings = local_settings()
    body = made(settings)
    api_config = cdn.distribution_config(settings, {"kind": "OAC", "id": "E2OAC"})
    cfn_config = json.loads(json.dumps(body["Resources"]["Distribution"]["Properties"]["DistributionConfig"]).replace(
        '{"Fn::GetAtt": ["OriginAccessControl", "Id"]}', '"E2OAC"'))
    assert "CallerReference" not in cfn_config and isinstance(cfn_config["Origins"], list)
    assert cfn_config["DefaultCacheBehavior"]["CachedMethods"] == ["GET", "HEAD"]
    back = distribution_api(cfn_config, caller_reference=api_config["CallerReference"])
    assert back == api_config


def test_the_bucket_policy_names_this_distribution_only():
    statement = made(local_settings())["Resources"]["ProcessedImageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["AWS:SourceArn"] == {
        "Fn::Sub": "arn:aws:cloudfront::123456789012:distribution/${Distribution}"}


def test_the_raw_bucket_waits_for_the_permission_without_a_circle():
    """S3 checks the notification against the permission when it creates the bucket (hence DependsOn), and the
    permission names the bucket by its name, not by Ref: AWS's own advice for exactly this circle."""
    body = made(local_settings())
    assert body["Resources"]["RawImageBucket"]["DependsOn"] == ["AllowS3Invoke"]
    assert circular_dependency(body) is None
    assert template_problems(body, lambda kind: True) == []
    circular = json.loads(json.dumps(body))
    circular["Resources"]["AllowS3Invoke"]["Properties"]["SourceArn"] = {"Fn::GetAtt": ["RawImageBucket", "Arn"]}
    assert circular_dependency(circular) == "Circular dependency between resources: [RawImageBucket, AllowS3Invoke]"


def test_the_layer_follows_the_choice():
    with_arn = made(local_settings())
    assert "PillowLayer" not in with_arn["Resources"]
    assert with_arn["Resources"]["ImageProcessingFunction"]["Properties"]["Layers"] == [KLAYERS]
    built = made(local_settings(), pillow=built_layer())
    layer = built["Resources"]["PillowLayer"]["Properties"]
    assert layer["LayerName"] == "Pillow" and layer["CompatibleArchitectures"] == ["x86_64"]
    assert layer["Content"]["S3Key"].startswith("walkthrough/pillow-layer-")
    assert built["Resources"]["ImageProcessingFunction"]["Properties"]["Layers"] == [{"Ref": "PillowLayer"}]


def test_an_artifacts_key_changes_exactly_when_its_content_does():
    first, same, other = (template.Artifact("function", data) for data in (b"one", b"one", b"two"))
    assert first.file_name == same.file_name != other.file_name
    assert re.fullmatch(r"function-[0-9a-f]{16}\.zip", first.file_name)
    assert template.function_artifact().file_name == template.function_artifact().file_name  # reproducible zip


def test_a_prefix_names_everything_and_the_default_names_are_the_notebooks():
    plain = template.names(local_settings())
    assert (plain.stack, plain.api, plain.layer, plain.settings.raw_bucket) == (
        "walkthrough", "ImageProcessingApi", "Pillow", "raw-image-bucket")
    named = template.names(aws_settings(), "iac")
    assert named.stack == "iac-walkthrough" and named.api == "iac-ImageProcessingApi" and named.layer == "iac-Pillow"
    assert named.settings.raw_bucket == f"iac-raw-image-bucket-{ACCOUNT}-eu-west-1"
    assert (named.settings.table_name, named.settings.role_name, named.settings.function_name) == (
        "iac-ImageMetadata", "iac-LambdaImageProcessingRole", "iac-ImageProcessingFunction")
    assert named.settings.tags == aws_settings().tags


@pytest.mark.parametrize("bad", ["IAC", "9lives", "a_b", "way-too-long-prefix", "-x", "x-"])
def test_a_prefix_that_cannot_start_a_bucket_name_is_a_one_line_error(bad):
    with pytest.raises(WalkthroughError, match="cannot start a bucket name") as error:
        template.names(local_settings(), bad)
    assert "\n" not in str(error.value)


@hypothesis_settings(max_examples=60, deadline=None)
@given(prefix=st.from_regex(template.PREFIX, fullmatch=True),
       region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1", "us-gov-west-1"]))
def test_every_prefixed_name_is_one_aws_accepts(prefix, region):
    named = template.names(aws_settings(region), prefix)
    for bucket in buckets.bucket_names(named.settings):
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) and ".." not in bucket, bucket
    assert re.fullmatch(r"[A-Za-z][-A-Za-z0-9]{0,127}", named.stack)
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", named.settings.function_name)
    assert re.fullmatch(r"[\w+=,.@-]{1,64}", named.settings.role_name)
    assert re.fullmatch(r"[a-zA-Z0-9_.-]{3,255}", named.settings.table_name)
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,140}", named.layer)


# --------------------------------------------------------------------------- the command


def test_template_prints_yaml_and_output_writes_it(emulator, tmp_path, capsys):
    port = ["--port", str(emulator.port)]
    assert main(["template", *port, "--pillow-layer", "document", "--no-api"]) == 0
    printed = capsys.readouterr().out
    body = template.load(printed)
    assert "ImageProcessingApi" not in body["Resources"] and body["Resources"]["ImageProcessingFunction"]
    target = tmp_path / "out" / "pipeline.yaml"
    assert main(["template", *port, "--pillow-layer", "document", "--no-api", "--output", str(target)]) == 0
    assert target.read_text() == printed
    said = capsys.readouterr().out
    assert said.startswith(f"Wrote {target}: stack walkthrough, ") and "python -m walkthrough deploy" in said


def test_template_artifacts_writes_the_zips_for_aws_cloudformation_package(emulator, tmp_path, capsys):
    target = tmp_path / "pipeline.yaml"
    assert main(["template", "--port", str(emulator.port), "--pillow-layer", "document", "--output", str(target),
                 "--artifacts", str(tmp_path / "build")]) == 0
    code = template.load(target.read_text())["Resources"]["ImageProcessingFunction"]["Properties"]["Code"]
    assert code == f"build/{template.function_artifact().file_name}"
    assert (tmp_path / code).read_bytes() == lambda_fn.build_function_zip()
    assert "aws cloudformation package" in capsys.readouterr().out


def test_a_bad_prefix_is_one_line_before_anything_starts(capsys, tmp_path):
    assert main(["template", "--prefix", "Bad_Prefix", "--pillow-layer", "document", "--port", "9"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot start a bucket name" in error


@hypothesis_settings(max_examples=200, deadline=None)
@given(edges=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from(["DependsOn", "Ref", "GetAtt", "Sub"])),
                      max_size=14))
def test_the_emulator_finds_a_circle_exactly_when_cloudformation_would(edges):
    """Any template: refused for a circle of DependsOn, Ref, GetAtt or ${} in Sub iff its resources cannot be ordered."""
    import graphlib

    resources = {f"R{i}": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": []}} for i in range(7)}
    graph: dict[str, set[str]] = {name: set() for name in resources}
    for source, target, how in edges:
        a, b = f"R{source}", f"R{target}"
        graph[a].add(b)
        resource = resources[a]
        if how == "DependsOn":
            resource.setdefault("DependsOn", []).append(b)
        else:
            value = {"Ref": b} if how == "Ref" else {"Fn::GetAtt": [b, "Arn"]} if how == "GetAtt" else {"Fn::Sub": f"x-${{{b}.Arn}}"}
            resource["Properties"]["Tags"].append({"Key": "k", "Value": value})
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
        orderable = True
    except graphlib.CycleError:
        orderable = False
    found = circular_dependency({"Resources": resources})
    assert (found is None) == orderable, (edges, found)
    assert template_problems({"Resources": resources}, lambda kind: True) == []  # every reference resolves
