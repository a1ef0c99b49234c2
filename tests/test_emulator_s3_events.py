"""S3 uploads trigger functions asynchronously, as AWS delivers them, and only as configured."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.emulator_helpers import eventually

pytestmark = pytest.mark.emulator

# Records every event it receives into the output bucket, then optionally sleeps.
RECORDER = '''
import json, os, time, urllib.parse
import boto3
s3 = boto3.client("s3")
def lambda_handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        s3.put_object(Bucket=os.environ["OUT"], Key="seen/" + key, Body=json.dumps(record).encode())
    time.sleep(float(os.environ.get("SLEEP", "0")))
'''


def wire(emulator, source=RECORDER, filters=None, events=("s3:ObjectCreated:*",), env=None, permit=True, **config):
    s3, lam = emulator.client("s3"), emulator.client("lambda")
    raw, out = emulator.unique("raw"), emulator.unique("out")
    s3.create_bucket(Bucket=raw)
    s3.create_bucket(Bucket=out)
    name = emulator.deploy(source, Environment={"Variables": {"OUT": out, **(env or {})}}, **config)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    if permit:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{raw}")
    configuration = {"LambdaFunctionArn": arn, "Events": list(events)}
    if filters:
        configuration["Filter"] = {"Key": {"FilterRules": [{"Name": k, "Value": v} for k, v in filters.items()]}}
    s3.put_bucket_notification_configuration(Bucket=raw, NotificationConfiguration={"LambdaFunctionConfigurations": [configuration]})
    return raw, out, name


def seen(emulator, bucket):
    listing = emulator.client("s3").list_objects_v2(Bucket=bucket, Prefix="seen/")
    return sorted(o["Key"].removeprefix("seen/") for o in listing.get("Contents", []))


def test_event_record_has_the_documented_shape(emulator):
    raw, out, _ = wire(emulator)
    s3 = emulator.client("s3")
    put = s3.put_object(Bucket=raw, Key="2026/a b+c%.jpg", Body=b"12345")
    eventually(lambda: seen(emulator, out))
    record = json.loads(s3.get_object(Bucket=out, Key="seen/2026/a b+c%.jpg")["Body"].read())
    assert record["eventVersion"] == "2.1" and record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["bucket"]["name"] == raw and record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{raw}"
    obj = record["s3"]["object"]
    assert obj["key"] == "2026/a+b%2Bc%25.jpg"  # URL-encoded as AWS sends it
    assert obj["size"] == 5
    assert obj["eTag"] == put["ETag"].strip('"')
    assert len(obj["sequencer"]) >= 16 and int(obj["sequencer"], 16) > 0
    assert "principalId" in record["userIdentity"] and "sourceIPAddress" in record["requestParameters"]


def test_upload_returns_before_the_function_finishes(emulator):
    raw, out, _ = wire(emulator, env={"SLEEP": "3"})
    started = time.perf_counter()
    emulator.client("s3").put_object(Bucket=raw, Key="slow.jpg", Body=b"x")
    assert time.perf_counter() - started < 1.5  # the function sleeps 3 s after writing
    eventually(lambda: seen(emulator, out) == ["slow.jpg"])


def test_prefix_and_suffix_filters_are_respected(emulator):
    raw, out, _ = wire(emulator, filters={"prefix": "uploads/", "suffix": ".jpg"})
    s3 = emulator.client("s3")
    for key in ("uploads/yes.jpg", "uploads/no.png", "elsewhere/no.jpg", "uploads/deeper/yes2.jpg"):
        s3.put_object(Bucket=raw, Key=key, Body=b"x")
    emulator.wait_idle()
    assert seen(emulator, out) == ["uploads/deeper/yes2.jpg", "uploads/yes.jpg"]


def test_only_configured_event_names_trigger(emulator):
    raw, out, _ = wire(emulator, events=("s3:ObjectRemoved:*",))
    s3 = emulator.client("s3")
    s3.put_object(Bucket=raw, Key="created.jpg", Body=b"x")
    emulator.wait_idle()
    assert seen(emulator, out) == []
    s3.delete_object(Bucket=raw, Key="created.jpg")
    eventually(lambda: seen(emulator, out) == ["created.jpg"])


def test_concurrent_uploads_are_all_processed(emulator):
    raw, out, _ = wire(emulator)
    s3 = emulator.client("s3")
    keys = [f"burst/{i:03d}.jpg" for i in range(30)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=raw, Key=k, Body=k.encode()), keys))
    emulator.wait_idle()
    assert seen(emulator, out) == keys


def test_a_function_writing_into_its_own_trigger_is_stopped(emulator):
    loop = '''
import urllib.parse, boto3
s3 = boto3.client("s3")
def lambda_handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        s3.put_object(Bucket=record["s3"]["bucket"]["name"], Key="again-" + key, Body=b"x")
'''
    raw, _, _ = wire(emulator, source=loop)
    s3 = emulator.client("s3")
    s3.put_object(Bucket=raw, Key="seed.jpg", Body=b"x")
    emulator.wait_idle()
    time.sleep(0.5)
    emulator.wait_idle()
    count = s3.list_objects_v2(Bucket=raw)["KeyCount"]
    assert 2 < count <= 18  # the loop ran, then recursion detection stopped it (about 16 hops)


def test_notification_to_a_function_without_permission_is_refused(emulator):
    with pytest.raises(ClientError) as refused:
        wire(emulator, permit=False)
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert "Unable to validate the following destination configurations" in str(refused.value)


def test_notification_to_a_missing_function_is_refused(emulator):
    s3 = emulator.client("s3")
    bucket = emulator.unique("raw")
    s3.create_bucket(Bucket=bucket)
    missing = "arn:aws:lambda:us-east-1:123456789012:function:does-not-exist"
    with pytest.raises(ClientError, match="Unable to validate"):
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}]},
        )
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_permission_for_another_bucket_does_not_count(emulator):
    s3, lam = emulator.client("s3"), emulator.client("lambda")
    bucket = emulator.unique("raw")
    s3.create_bucket(Bucket=bucket)
    name = emulator.deploy("def lambda_handler(e, c):\n    return 1\n")
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::some-other-bucket")
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError, match="Unable to validate"):
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
        )


def test_aws_managed_policies_exist_and_attach(emulator):
    iam = emulator.client("iam")
    role = emulator.role().split("/")[-1]
    for arn in (
        "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ):
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
    assert {"AmazonS3FullAccess", "AmazonDynamoDBFullAccess", "CloudWatchLogsFullAccess", "AWSLambdaBasicExecutionRole"} <= attached
