"""Failed asynchronous invocations are retried as Lambda retries them, and end with exactly one result.

Faults are injected by the emulator's test-only ``/_walkthrough/faults``
endpoint (walkthrough/emulator/faults.py); a crash is a worker that kills
itself. Retry delays are the emulator's (``WALKTHROUGH_EMULATOR_RETRY_DELAYS``,
1 and 2 s by default; AWS waits about 1 and 2 minutes).
"""

from __future__ import annotations

import json
import urllib.error

import pytest

from tests.emulator_helpers import TRUST, unique_settings, zip_files
from walkthrough import lambda_fn, pipeline, sequence
from walkthrough.emulator import lifecycle

pytestmark = pytest.mark.emulator
PHOTO = "notebooks/data/photo.jpg"


def own(emulator, path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    return emulator.control(f"_walkthrough/{path}", method, data)


@pytest.fixture
def settings(emulator):
    return unique_settings(emulator.endpoint, "us-east-1")


def test_a_throttled_put_item_is_retried_and_ends_with_one_output_and_one_item(settings, emulator):
    sequence.ensure_before(settings, 6)
    # The function's client makes 4 attempts (botocore standard mode, 3 retries): 4 throttled answers fail its first invocation.
    own(emulator, "faults", "POST", {"service": "dynamodb", "operation": "PutItem", "count": 4, "function": settings.function_name})
    item = pipeline.process(settings, PHOTO)
    emulator.wait_idle(60)

    assert item["status"] == "processed"
    assert [f for f in own(emulator, "faults")["faults"] if f["function"] == settings.function_name] == []  # used up
    listing = emulator.client("s3").list_objects_v2(Bucket=settings.processed_bucket)
    assert [o["Key"] for o in listing["Contents"]] == ["processed-photo.jpg"]
    items = emulator.client("dynamodb").scan(TableName=settings.table_name)["Items"]
    assert [i["filename"]["S"] for i in items] == ["photo.jpg"]
    log = lambda_fn.recent_log_lines(settings)
    starts = lambda_fn.invocation_ids(log)  # the function logs in JSON: platform.start records
    assert len(starts) == 2 and starts[0] == starts[1]  # one retry, with the same request id, as on Lambda
    assert any("ThrottlingException" in line for line in log)
    assert own(emulator, f"function?name={settings.function_name}")["invocations"] == 2


CRASH_ONCE = '''
import os, boto3
s3 = boto3.client("s3")
def lambda_handler(event, context):
    bucket = os.environ["BUCKET"]
    try:
        s3.head_object(Bucket=bucket, Key="marker")
    except Exception:
        s3.put_object(Bucket=bucket, Key="marker", Body=b"first attempt")
        os.kill(os.getpid(), 9)  # the execution environment dies mid-invocation
    s3.put_object(Bucket=bucket, Key="result/" + event["id"], Body=context.aws_request_id.encode())
    return "done"
'''


def _function(emulator, source: str, statements: list[dict], **env: str) -> tuple[str, str]:
    iam, lam = emulator.client("iam"), emulator.client("lambda")
    role = emulator.unique("role")
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    logs = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [logs, *statements]}))
    name = emulator.unique("fn")
    arn = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_files({"lambda_function.py": source})}, Timeout=10, Environment={"Variables": env},
    )["FunctionArn"]
    return name, arn


def test_a_worker_killed_mid_invocation_is_a_runtime_exit_error_and_is_retried(emulator):
    s3 = emulator.client("s3")
    bucket = emulator.unique("crash")
    s3.create_bucket(Bucket=bucket)
    name, _ = _function(emulator, CRASH_ONCE, [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                                               "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}], BUCKET=bucket)
    emulator.client("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"id": "one"}).encode())
    emulator.wait_idle(60)

    results = s3.list_objects_v2(Bucket=bucket, Prefix="result/")["Contents"]
    assert [o["Key"] for o in results] == ["result/one"]
    messages = emulator.log_messages(name)
    assert any("Runtime exited with error: signal: killed" in m for m in messages)
    assert any(m.startswith("REPORT") and "Error Type: Runtime.ExitError" in m for m in messages)
    request_ids = {m.split()[2] for m in messages if m.startswith("START RequestId")}
    assert len(request_ids) == 1 and sum(m.startswith("START") for m in messages) == 2
    assert s3.get_object(Bucket=bucket, Key="result/one")["Body"].read().decode() == request_ids.pop()


ALWAYS_FAILS = "def lambda_handler(event, context):\n    raise RuntimeError('the database is down: ' + event['id'])\n"


def test_an_event_that_fails_every_attempt_goes_to_the_on_failure_queue(emulator):
    sqs, lam = emulator.client("sqs"), emulator.client("lambda")
    queue = emulator.unique("failures")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name, arn = _function(emulator, ALWAYS_FAILS, [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}])
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    before = own(emulator, "health")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"id": "evt-1"}).encode())
    emulator.wait_idle(60)

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    record = json.loads(messages[0]["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    context = record["requestContext"]
    assert context["functionArn"] == f"{arn}:$LATEST" and context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 2  # MaximumRetryAttempts 1: one retry
    assert record["requestPayload"] == {"id": "evt-1"}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError" and "evt-1" in record["responsePayload"]["errorMessage"]
    assert {m.split()[2] for m in emulator.log_messages(name) if m.startswith("START")} == {context["requestId"]}

    after = own(emulator, "health")
    assert after["failed_events"] == before["failed_events"] + 1
    log = lifecycle.log_file(emulator.port).read_text()
    assert f"asynchronous invocation of {name} failed: RetriesExhausted after 2 attempt(s)" in log
    assert f"sent to its on-failure destination {queue_arn}" in log


def test_no_retries_when_maximum_retry_attempts_is_zero(emulator):
    lam = emulator.client("lambda")
    name, _ = _function(emulator, ALWAYS_FAILS, [])
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"id": "once"}).encode())
    emulator.wait_idle(30)
    assert sum(m.startswith("START") for m in emulator.log_messages(name)) == 1
    log = lifecycle.log_file(emulator.port).read_text()
    assert f"asynchronous invocation of {name} failed: RetriesExhausted after 1 attempt(s)" in log
    assert "dropped (no on-failure destination configured)" in log


def test_fault_endpoint_refuses_a_fault_without_service_or_operation(emulator):
    with pytest.raises(urllib.error.HTTPError) as refused:
        emulator.control("_walkthrough/faults", "POST", b'{"service": "s3"}')
    assert refused.value.code == 400 and "operation" in json.loads(refused.value.read())["error"]
