"""A two-second proof that the emulator really runs Lambda code on S3 uploads.

``python -m walkthrough demo`` deploys a tiny function, wires an upload bucket
to it, uploads a file and shows what the function did and the log lines it
wrote: the same path (S3 event -> Lambda -> S3) the image pipeline takes.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

UPLOADS, RESULTS, FUNCTION, ROLE = "walkthrough-demo-uploads", "walkthrough-demo-results", "walkthrough-demo", "walkthrough-demo-role"

DEMO_HANDLER = '''\
import json, urllib.parse
import boto3

s3 = boto3.client("s3")

def lambda_handler(event, context):
    for record in event["Records"]:
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        size = record["s3"]["object"]["size"]
        print(json.dumps({"received": key, "bytes": size, "request": context.aws_request_id}))
        s3.put_object(Bucket="%s", Key=key + ".seen", Body=f"{key}: {size} bytes".encode())
    return {"processed": len(event["Records"])}
''' % RESULTS

#: What the demo function does, and its logs: the emulator enforces a function's role as AWS does.
DEMO_POLICY = (
    '{"Version":"2012-10-17","Statement":['
    f'{{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::{RESULTS}/*"}},'
    '{"Effect":"Allow","Action":["logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],'
    f'"Resource":"arn:aws:logs:*:*:log-group:/aws/lambda/{FUNCTION}*"}}]}}'
)
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'


@dataclass
class DemoResult:
    """What the demo saw: the object the function wrote and the function's log."""

    result_key: str
    result_body: str
    seconds: float
    log_lines: list[str] = field(default_factory=list)


def _zip(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lambda_function.py", source)
    return buffer.getvalue()


def run_demo(settings: Settings, timeout_s: float = 30.0) -> DemoResult:
    """Deploy the tiny function, upload a file, wait for the function's output."""
    if not settings.is_local:
        raise WalkthroughError("The demo only runs on the local emulator (target 'local').")
    s3, lam, iam, logs = (aws.client(settings, name) for name in ("s3", "lambda", "iam", "logs"))
    for bucket in (UPLOADS, RESULTS):
        s3.create_bucket(Bucket=bucket)
    try:
        role_arn = iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName="demo", PolicyDocument=DEMO_POLICY)
    code = _zip(DEMO_HANDLER)
    try:
        function_arn = lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=code)
    except lam.exceptions.ResourceNotFoundException:
        function_arn = lam.create_function(
            FunctionName=FUNCTION, Runtime="python3.12", Role=role_arn, Handler="lambda_function.lambda_handler",
            Code={"ZipFile": code}, Timeout=10,
        )["FunctionArn"]
        lam.add_permission(
            FunctionName=FUNCTION, StatementId="s3-invoke", Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{UPLOADS}",
        )
    s3.put_bucket_notification_configuration(
        Bucket=UPLOADS,
        NotificationConfiguration={"LambdaFunctionConfigurations": [{"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    key = f"hello {time.strftime('%H%M%S')}.txt"
    started = time.perf_counter()
    s3.put_object(Bucket=UPLOADS, Key=key, Body=b"hello from the walkthrough")
    result_key = key + ".seen"
    while True:
        try:
            body = s3.get_object(Bucket=RESULTS, Key=result_key)["Body"].read().decode()
            break
        except s3.exceptions.NoSuchKey:
            if time.perf_counter() - started > timeout_s:
                raise WalkthroughError(f"The demo function did not write {result_key} within {timeout_s:.0f} s; see the emulator log.") from None
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    lines = _latest_log(logs, f"/aws/lambda/{FUNCTION}", key)
    return DemoResult(result_key, body, seconds, lines)


def _latest_log(logs: object, group: str, key: str, wait_s: float = 5.0) -> list[str]:
    """The log lines of the invocation that handled ``key`` (written just after it returns).

    The function's output can be there before its log group is: Lambda ships
    logs after the invocation, so a missing group means "not yet", as on AWS.
    """
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=group)["events"]  # type: ignore[attr-defined]
        except logs.exceptions.ResourceNotFoundException:  # type: ignore[attr-defined]
            time.sleep(0.1)
            continue
        messages = [e["message"] for e in events]
        for index, message in enumerate(messages):
            if key in message and message.startswith("{"):
                start = max(i for i in range(index + 1) if messages[i].startswith("START"))
                end = next((i for i in range(index, len(messages)) if messages[i].startswith("REPORT")), len(messages) - 1)
                return messages[start : end + 1]
        time.sleep(0.1)
    return []
