"""Image handlers written the ways people write them, deployed with the AWS CLI as a user would.

Three shapes: AWS's S3 thumbnail tutorial (download to /tmp, resize, upload:
https://docs.aws.amazon.com/lambda/latest/dg/with-s3-tutorial.html), one that works
in memory, and one that also writes a DynamoDB item. The Pillow layer is built
as AWS documents it (https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html:
``pip install --platform manylinux2014_x86_64 --implementation cp --python-version 3.12
--only-binary=:all: --target python/ pillow``, zipped with ``python/`` at the root);
here pip takes the wheel from the wheel cache instead of the index. Without the
layer the same handler fails with Lambda's import error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.emulator_helpers import TRUST, aws_cli, eventually
from walkthrough import packaging

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

TUTORIAL = '''
import boto3, os, sys, uuid
from urllib.parse import unquote_plus
from PIL import Image

s3_client = boto3.client("s3")

def resize_image(image_path, resized_path):
    with Image.open(image_path) as image:
        image.thumbnail(tuple(x / 2 for x in image.size))
        image.save(resized_path)

def lambda_handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        tmpkey = key.replace("/", "")
        download_path = "/tmp/{}{}".format(uuid.uuid4(), tmpkey)
        upload_path = "/tmp/resized-{}".format(tmpkey)
        s3_client.download_file(bucket, key, download_path)
        resize_image(download_path, upload_path)
        s3_client.upload_file(upload_path, os.environ["OUT"], "resized-{}".format(key))
'''

IN_MEMORY = '''
import io, os, urllib.parse
import boto3
from PIL import Image, ImageDraw

s3 = boto3.client("s3")

def lambda_handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=record["s3"]["bucket"]["name"], Key=key)["Body"].read()
        image = Image.open(io.BytesIO(body)).convert("RGB")
        image.thumbnail((64, 64))
        ImageDraw.Draw(image).text((2, 2), "(c)", fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, "JPEG")
        s3.put_object(Bucket=os.environ["OUT"], Key="small-" + key, Body=out.getvalue(), ContentType="image/jpeg")
'''

WITH_METADATA = '''
import io, os, urllib.parse
from datetime import datetime, timezone
import boto3
from PIL import Image

s3 = boto3.client("s3")
table = boto3.resource("dynamodb").Table(os.environ["TABLE"])

def lambda_handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        body = s3.get_object(Bucket=record["s3"]["bucket"]["name"], Key=key)["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            width, height = image.size
        table.put_item(Item={"filename": key, "size": len(body), "width": width, "height": height,
                             "timestamp": datetime.now(timezone.utc).isoformat()})
'''

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "dynamodb:PutItem", "logs:CreateLogGroup",
                                   "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]})


@pytest.fixture(scope="module")
def cli(emulator):
    """Run ``aws …`` with the environment ``eval "$(python -m walkthrough emulator env)"`` gives a shell."""
    return aws_cli(emulator.port)


@pytest.fixture(scope="module")
def pillow_layer_zip(tmp_path_factory) -> Path:
    """python/ built with AWS's documented pip command (the wheel from the cache), zipped with python/ at the root."""
    wheel = packaging.cached_pillow_wheel("3.12", "x86_64")
    root = tmp_path_factory.mktemp("layer")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
                    "--python-version", "3.12", "--only-binary=:all:", "--target", str(root / "python"),
                    "--no-index", "--find-links", str(wheel.parent), packaging.pillow_requirement()], check=True)
    archive = root / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted((root / "python").rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(root))
    return archive


def execution_role(cli, emulator) -> str:
    """One role for the functions, as the tutorial makes it: trusted by Lambda, with the policy above."""
    role = emulator.unique("role")
    arn = cli("iam", "create-role", "--role-name", role, "--assume-role-policy-document", TRUST)["Role"]["Arn"]
    cli("iam", "put-role-policy", "--role-name", role, "--policy-name", "images", "--policy-document", POLICY)
    return arn


def deploy(cli, emulator, tmp_path, source: str, env: dict[str, str], layers: list[str], role_arn: str) -> tuple[str, str]:
    """(name, ARN) of a new function with ``source`` as lambda_function.py."""
    name = emulator.unique("handler")
    code = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("lambda_function.py", source)
    created = cli("lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", role_arn,
                  "--handler", "lambda_function.lambda_handler", "--zip-file", f"fileb://{code}", "--timeout", "30",
                  "--memory-size", "512", "--environment", json.dumps({"Variables": env}),
                  *(["--layers", *layers] if layers else []))
    return name, created["FunctionArn"]


def wire(cli, name: str, arn: str, bucket: str) -> None:
    cli("lambda", "add-permission", "--function-name", name, "--statement-id", "s3", "--action", "lambda:InvokeFunction",
        "--principal", "s3.amazonaws.com", "--source-arn", f"arn:aws:s3:::{bucket}")
    configuration = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    cli("s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration",
        json.dumps(configuration))


# Each AWS CLI run costs 0.8 s of CPU: one role and one output bucket serve the three functions,
# and the wait for their results goes through boto3, each result then read once with the CLI.
def test_three_handlers_with_a_layer_built_as_aws_documents_process_real_uploads(cli, emulator, tmp_path, pillow_layer_zip):
    layer = cli("lambda", "publish-layer-version", "--layer-name", emulator.unique("pillow"),
                "--zip-file", f"fileb://{pillow_layer_zip}", "--compatible-runtimes", "python3.12")["LayerVersionArn"]
    photo = Path(__file__).resolve().parent.parent / "notebooks" / "data" / "photo.jpg"
    table, out = emulator.unique("images"), emulator.unique("out")
    cli("dynamodb", "create-table", "--table-name", table, "--attribute-definitions", "AttributeName=filename,AttributeType=S",
        "--key-schema", "AttributeName=filename,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    cli("s3", "mb", f"s3://{out}")
    role_arn = execution_role(cli, emulator)
    for source in (TUTORIAL, IN_MEMORY, WITH_METADATA):
        raw = emulator.unique("raw")
        cli("s3", "mb", f"s3://{raw}")
        name, arn = deploy(cli, emulator, tmp_path, source, {"OUT": out, "TABLE": table}, [layer], role_arn)
        wire(cli, name, arn, raw)
        cli("s3", "cp", str(photo), f"s3://{raw}/2026/my photo.jpg")
    key = {"filename": {"S": "2026/my photo.jpg"}}
    outputs = ["resized-2026/my photo.jpg", "small-2026/my photo.jpg"]  # the tutorial's and the in-memory handler's
    eventually(lambda: len(emulator.client("s3").list_objects_v2(Bucket=out).get("Contents", [])) == 2 or None)
    assert [o["Key"] for o in cli("s3api", "list-objects-v2", "--bucket", out)["Contents"]] == outputs
    eventually(lambda: emulator.client("dynamodb").get_item(TableName=table, Key=key).get("Item"))
    item = cli("dynamodb", "get-item", "--table-name", table, "--key", json.dumps(key))["Item"]
    assert item["width"] == {"N": "600"} and item["size"] == {"N": str(photo.stat().st_size)}


def test_the_same_handler_without_the_layer_fails_with_lambdas_message(cli, emulator, tmp_path):
    name, _ = deploy(cli, emulator, tmp_path, TUTORIAL, {"OUT": "nowhere"}, [], execution_role(cli, emulator))
    answer = tmp_path / "answer.json"
    response = cli("lambda", "invoke", "--function-name", name, "--payload", "{}", str(answer))  # AWS CLI v1: raw payload
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(answer.read_text())
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'lambda_function': No module named 'PIL'"
