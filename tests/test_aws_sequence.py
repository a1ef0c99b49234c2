"""The notebooks with ``target="aws"``, as a learner runs them on an account — here against an
AWS-compatible endpoint (a fresh emulator, its key as the credentials, ``AWS_ENDPOINT_URL``) in eu-west-1.

Everything real AWS needs is on this path: the account from STS, globally unique
bucket names, tags, the confirmation, the waits, the Klayers look-up (offline
here: it falls back to the document's ARN, which the emulator serves), then
``python -m walkthrough down --target aws`` finding it all by tags and names.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.emulator_helpers import reset
from walkthrough import Settings, aws, cdn, mistakes, runner, safety, teardown
from walkthrough.emulator import lifecycle
from walkthrough.errors import WalkthroughError

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # the emulator's account for its key
ROOT = runner.NOTEBOOKS.parent


@pytest.fixture
def endpoint(fresh_emulator):
    """An empty emulator (the worker's shared one, reset) standing in for an account."""
    reset(fresh_emulator.endpoint)
    return fresh_emulator.endpoint


@pytest.fixture
def as_aws(endpoint, monkeypatch):
    """The environment the kernels and the CLI inherit: target aws, the emulator as the AWS endpoint, its key as the credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for name, value in lifecycle.keys(int(endpoint.rsplit(":", 1)[1])).environment().items():  # what `emulator env` exports
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("WALKTHROUGH_TARGET", "aws")
    aws._cached_client.cache_clear()
    safety.forget()
    return aws.resolve(Settings.from_env(target="aws", region=REGION))


def _tags(pairs) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "walkthrough", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)


def test_without_confirm_a_notebook_on_aws_creates_nothing(as_aws, tmp_path):
    notebooks = runner.select(runner.numbered_notebooks(), "01", "01")
    with pytest.raises(WalkthroughError) as failure:
        runner.run_notebooks(notebooks, {"target": "aws", "region": REGION}, tmp_path, progress=False)
    assert "confirm = True" in str(failure.value) and "\n" not in str(failure.value)
    names = [b["Name"] for b in aws.client(as_aws, "s3").list_buckets()["Buckets"]]
    assert as_aws.raw_bucket not in names


def test_the_notebooks_on_aws_build_the_pipeline_and_down_removes_it(as_aws, tmp_path):
    settings = as_aws
    notebooks = runner.select(runner.numbered_notebooks())
    assert {"08_api_gateway", "09_when_it_goes_wrong", "10_pipeline_as_code"} <= {n.stem for n in notebooks}
    runner.run_notebooks(notebooks, {"target": "aws", "region": REGION, "confirm": True}, tmp_path, progress=False)

    raw, processed = f"raw-image-bucket-{ACCOUNT}-{REGION}", f"processed-image-bucket-{ACCOUNT}-{REGION}"
    assert (settings.raw_bucket, settings.processed_bucket) == (raw, processed)
    s3, dynamodb, lam = (aws.client(settings, n) for n in ("s3", "dynamodb", "lambda"))
    wanted = {"project": "walkthrough", "walkthrough:run": "default"}
    for bucket in (raw, processed):
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION
        assert _tags(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == wanted
    item = dynamodb.get_item(TableName="ImageMetadata", Key={"filename": {"S": "photo.jpg"}})["Item"]
    assert item["status"]["S"] == "processed" and item["processed_key"]["S"] == "processed-photo.jpg"
    table_arn = dynamodb.describe_table(TableName="ImageMetadata")["Table"]["TableArn"]
    assert _tags(dynamodb.list_tags_of_resource(ResourceArn=table_arn)["Tags"]) == wanted
    function = lam.get_function(FunctionName="ImageProcessingFunction")
    assert {k: function["Tags"][k] for k in wanted} == wanted
    # the AWS default, Klayers' current layer, was looked up offline: the document's ARN, served by the emulator
    assert [l["Arn"] for l in function["Configuration"]["Layers"]] == [
        f"arn:aws:lambda:{REGION}:770693421928:layer:Klayers-p312-Pillow:6"]
    distribution = cdn.find_distribution_summary(settings)
    cloudfront = aws.client(settings, "cloudfront")
    assert _tags(cloudfront.list_tags_for_resource(Resource=distribution["arn"])["Tags"]["Items"]) == wanted
    assert cdn.fetch(settings, "processed-photo.jpg")["status"] == 200  # the emulator's loopback address
    api = [a for a in aws.client(settings, "apigateway").get_rest_apis()["items"] if a["name"] == "ImageProcessingApi"]
    assert len(api) == 1 and {k: api[0]["tags"][k] for k in wanted} == wanted
    assert mistakes.leftovers(settings) == []  # 09 made its mistakes on the account and put everything back

    down = _cli("down", "--target", "aws", "--region", REGION)
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.startswith(f"Target: AWS account {ACCOUNT}")
    for removed in (f"S3 bucket {raw}", f"S3 bucket {processed}", "DynamoDB table ImageMetadata",
                    "Lambda ImageProcessingFunction", "IAM role LambdaImageProcessingRole", "API Gateway ImageProcessingApi"):
        assert f"removed     {removed}" in down.stdout, down.stdout
    assert "removed     CloudFront distribution (deleted (disabled, deployed first))" in down.stdout
    assert "Everything the walkthrough created is gone." in down.stdout
    assert teardown.remaining(settings) == []
    assert teardown.discover(settings) == []

    plan = _cli("plan", "--target", "aws", "--region", REGION)
    assert plan.returncode == 0, plan.stderr
    assert f"account: {ACCOUNT}" in plan.stdout and raw in plan.stdout and "Nothing was created." in plan.stdout
    assert raw not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
