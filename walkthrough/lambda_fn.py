"""Step 4: ImageProcessingFunction, deployed from ``lambda_function/`` with the Pillow layer.

Create or update, then wait until Lambda says the function is ready: a new
function is ``Pending`` before ``Active``, and an update is ``InProgress``
before ``Successful``. The function logs in Lambda's JSON log format (its
``LoggingConfig``), so every record has a timestamp, a level and the request
id, and the log level filters without code. The "Test" step invokes it with
the console's *S3 Put* test template, bucket name and key edited, as people
do with the console's Test button.

On AWS a role created seconds ago is not yet usable by Lambda ("The role
defined for the function cannot be assumed by Lambda"): creating the function
is retried with backoff, for up to two minutes, saying why on each retry.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import ClientError

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError
from walkthrough.packaging import code_sha256, deterministic_zip

SOURCE_DIR = Path(__file__).resolve().parent.parent / "lambda_function"
HANDLER = "lambda_function.lambda_handler"
#: Pillow holds a decoded image in memory and Lambda's CPU share grows with memory:
#: 1024 MB processes a 12 MP photo in well under a second; 60 s covers a 48 MP one.
MEMORY_MB = 1024
TIMEOUT_S = 60
#: The function's CPU architecture (Lambda's default); a built Pillow layer matches it.
ARCHITECTURE = "x86_64"
#: Lambda's JSON log format: records with timestamp, level, requestId and the function's fields;
#: INFO lets the per-image records through (WARN would keep only failures and errors).
LOG_FORMAT = "JSON"
LOG_LEVEL = "INFO"
#: What Lambda answers while a new role has not propagated through IAM yet.
ROLE_NOT_READY = "cannot be assumed by Lambda"
ROLE_WAIT_S = 120.0
DESCRIPTION = "Resizes and watermarks uploaded images, records their metadata"
#: The largest side of a processed image in the tutorial's runs: the sample photos are small (1024 suits real photos).
TUTORIAL_MAX_DIMENSION = 400
_sleep = time.sleep  # tests replace it


def _role_not_ready(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "InvalidParameterValueException" and ROLE_NOT_READY in error.get("Message", "")


def _layer_missing(exc: ClientError, layers: list[str]) -> bool:
    message = exc.response.get("Error", {}).get("Message", "")
    return any(arn in message for arn in layers) or "LayerVersion does not exist" in message or "Layer version" in message


def retry_while_role_propagates(call: Any, role_arn: str, timeout_s: float = ROLE_WAIT_S, notify: Any = None) -> Any:
    """``call()``, retried with backoff while Lambda cannot assume the new role yet (IAM is eventually consistent).

    Only that one ``InvalidParameterValueException`` is retried; any other error
    is raised at once. Each retry prints one line saying why; after
    ``timeout_s`` seconds of waiting it gives up with a ``WalkthroughError``.
    """
    notify = notify or (lambda text: print(text, flush=True))
    waited, delay, attempt = 0.0, 2.0, 0
    while True:
        try:
            return call()
        except ClientError as exc:
            if not _role_not_ready(exc):
                raise
            if waited >= timeout_s:
                raise WalkthroughError(
                    f"Lambda still cannot assume {role_arn} after {timeout_s:.0f} s: check that its trust policy "
                    "allows lambda.amazonaws.com (notebook 03), then run this step again."
                ) from None
            attempt += 1
            pause = min(delay, timeout_s - waited)
            notify(f"The role is not usable by Lambda yet (a new IAM role takes a few seconds to propagate); "
                   f"retry {attempt} in {pause:.0f} s ({waited:.0f}/{timeout_s:.0f} s waited).")
            _sleep(pause)
            waited += pause
            delay = min(delay * 2, 20.0)


def _explain_layer(exc: ClientError, layer_arn: str) -> None:
    """A missing layer version (Klayers deletes old ones) becomes a one-line error naming the way out."""
    if exc.response.get("Error", {}).get("Code") in ("InvalidParameterValueException", "ResourceNotFoundException", "AccessDeniedException") \
            and _layer_missing(exc, [layer_arn]):
        raise WalkthroughError(
            f"Lambda refused the layer {layer_arn} ({exc.response['Error'].get('Message', '')}): Klayers deletes old "
            "versions; use pillow_layer='klayers' (the current one) or 'build' (your own)."
        ) from None


def build_function_zip() -> bytes:
    """The deployment package: ``lambda_function.py`` at the root, nothing else."""
    source = SOURCE_DIR / "lambda_function.py"
    if not source.exists():
        raise WalkthroughError(f"{source} is missing: run from a clone of the repository (pip install -e .).")
    return deterministic_zip([("lambda_function.py", source)])


def package_info() -> dict[str, Any]:
    """What the deployment package holds, its size and the CodeSha256 Lambda will report."""
    import io
    import zipfile

    data = build_function_zip()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    return {"files": ", ".join(names), "zip_bytes": len(data), "code_sha256": code_sha256(data)}


def function_environment(settings: Settings, **overrides: str) -> dict[str, str]:
    """The function's configuration: environment variables only, as the design fixes."""
    return {
        "PROCESSED_BUCKET": settings.processed_bucket,
        "METADATA_TABLE": settings.table_name,
        "MAX_DIMENSION": "1024",
        "OUTPUT_PREFIX": "processed-",
        "SOURCE_BUCKET": settings.raw_bucket,
        **overrides,
    }


def logging_config(log_format: str = LOG_FORMAT, log_level: str = LOG_LEVEL) -> dict[str, str]:
    """The function's ``LoggingConfig``: JSON with application and system levels, or plain Text."""
    if log_format.upper() != "JSON":
        return {"LogFormat": "Text"}
    return {"LogFormat": "JSON", "ApplicationLogLevel": log_level.upper(), "SystemLogLevel": "INFO"}


def function_configuration(
    settings: Settings, role_arn: Any, layer_arn: Any, memory_mb: int = MEMORY_MB, timeout_s: int = TIMEOUT_S,
    log_format: str = LOG_FORMAT, log_level: str = LOG_LEVEL, **environment: str,
) -> dict[str, Any]:
    """The function's configuration as CreateFunction takes it, and as the CloudFormation template declares it.

    ``role_arn`` and ``layer_arn`` are ARNs here, and references to the
    template's own role and layer there (``walkthrough.template``).
    """
    return {
        "Role": role_arn,
        "Handler": HANDLER,
        "Runtime": settings.runtime,
        "MemorySize": memory_mb,
        "Timeout": timeout_s,
        "Layers": [layer_arn],
        "Environment": {"Variables": function_environment(settings, **environment)},
        "LoggingConfig": logging_config(log_format, log_level),
        "Description": DESCRIPTION,
    }


def deploy_function(
    settings: Settings, role_arn: str, layer_arn: str, memory_mb: int = MEMORY_MB, timeout_s: int = TIMEOUT_S,
    log_format: str = LOG_FORMAT, log_level: str = LOG_LEVEL, **environment: str,
) -> dict[str, Any]:
    """Create the function, or bring its code and configuration up to date; waits until ready."""
    lam = aws.client(settings, "lambda")
    code = build_function_zip()
    config = function_configuration(settings, role_arn, layer_arn, memory_mb, timeout_s, log_format, log_level, **environment)
    try:
        current = lam.get_function(FunctionName=settings.function_name)["Configuration"]
    except lam.exceptions.ResourceNotFoundException:
        try:
            retry_while_role_propagates(
                lambda: lam.create_function(FunctionName=settings.function_name, Code={"ZipFile": code}, Publish=False,
                                            Architectures=[ARCHITECTURE], Tags=settings.tags, **config),
                role_arn,
            )
        except ClientError as exc:
            _explain_layer(exc, layer_arn)
            raise
        lam.get_waiter("function_active_v2").wait(FunctionName=settings.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return {"status": "created", **describe_function(settings)}
    changes = []
    if current.get("CodeSha256") != code_sha256(code):
        lam.update_function_code(FunctionName=settings.function_name, ZipFile=code)
        lam.get_waiter("function_updated_v2").wait(FunctionName=settings.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        changes.append("code")
    wanted = {
        "Role": role_arn, "Handler": HANDLER, "Runtime": settings.runtime, "MemorySize": memory_mb, "Timeout": timeout_s,
        "Layers": [layer_arn], "Environment": config["Environment"]["Variables"], "LoggingConfig": config["LoggingConfig"],
    }
    have = {
        "Role": current.get("Role"), "Handler": current.get("Handler"), "Runtime": current.get("Runtime"),
        "MemorySize": current.get("MemorySize"), "Timeout": current.get("Timeout"),
        "Layers": [layer["Arn"] for layer in current.get("Layers", [])],
        "Environment": current.get("Environment", {}).get("Variables", {}),
        "LoggingConfig": {k: v for k, v in current.get("LoggingConfig", {}).items() if k in config["LoggingConfig"]},
    }
    if have != wanted:
        try:
            retry_while_role_propagates(
                lambda: lam.update_function_configuration(
                    FunctionName=settings.function_name, **{k: v for k, v in config.items() if k != "Description"}),
                role_arn,
            )
        except ClientError as exc:
            _explain_layer(exc, layer_arn)
            raise
        lam.get_waiter("function_updated_v2").wait(FunctionName=settings.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        changes.append("configuration")
    return {"status": f"updated ({', '.join(changes)})" if changes else "unchanged", **describe_function(settings)}


def describe_function(settings: Settings) -> dict[str, Any]:
    """The configuration a learner checks in the console's function overview."""
    config = aws.client(settings, "lambda").get_function(FunctionName=settings.function_name)["Configuration"]
    return {
        "function": config["FunctionName"],
        "runtime": config["Runtime"],
        "handler": config["Handler"],
        "memory_mb": config["MemorySize"],
        "timeout_s": config["Timeout"],
        "state": config.get("State", "Active"),
        "layers": [layer["Arn"] for layer in config.get("Layers", [])],
        "environment": config.get("Environment", {}).get("Variables", {}),
        "logging": _describe_logging(config.get("LoggingConfig") or {"LogFormat": "Text"}),
        "role": config["Role"],
        "arn": config["FunctionArn"],
    }


def _describe_logging(config: dict[str, Any]) -> str:
    if config.get("LogFormat") != "JSON":
        return "Text"
    return f"JSON (application {config.get('ApplicationLogLevel', 'INFO')}, system {config.get('SystemLogLevel', 'INFO')})"


#: The Lambda console's *S3 Put* test event template (Test > Create new event > Template: S3 Put), as the
#: console shows it. Its ``eTag`` and ``sequencer`` are made up; people edit the bucket name and the key only.
S3_PUT_TEMPLATE: dict[str, Any] = {
    "Records": [
        {
            "eventVersion": "2.0",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "1970-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": "EXAMPLE123456789",
                "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {
                    "name": "example-bucket",
                    "ownerIdentity": {"principalId": "EXAMPLE"},
                    "arn": "arn:aws:s3:::example-bucket",
                },
                "object": {
                    "key": "test%2Fkey",
                    "size": 1024,
                    "eTag": "0123456789abcdef0123456789abcdef",
                    "sequencer": "0A1B2C3D4E5F678901",
                },
            },
        }
    ]
}


def console_test_event(bucket: str, key: str, region: str = "us-east-1") -> dict[str, Any]:
    """The console's S3 Put template with what people change: the bucket name and the key.

    The console fills in the function's region; everything else stays as the
    template has it, the made-up ``eTag``, ``sequencer`` and ``size`` too. The
    key is written as S3 sends keys (URL-encoded; ``photo.jpg`` stays as it is).
    """
    event = copy.deepcopy(S3_PUT_TEMPLATE)
    record = event["Records"][0]
    record["awsRegion"] = region
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    return event


def invoke(settings: Settings, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke synchronously, like the console's Test button: the result and the log tail."""
    response = aws.client(settings, "lambda").invoke(
        FunctionName=settings.function_name, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    payload = response["Payload"].read()
    return {
        "status_code": response["StatusCode"],
        "function_error": response.get("FunctionError"),
        "result": json.loads(payload) if payload else None,
        "log": base64.b64decode(response.get("LogResult", "")).decode(errors="replace").splitlines(),
    }


def recent_log_lines(settings: Settings, minutes: int = 15, limit: int = 200) -> list[str]:
    """The function's CloudWatch log lines from the last ``minutes``, oldest first."""
    logs = aws.client(settings, "logs")
    group = f"/aws/lambda/{settings.function_name}"
    try:
        events = logs.filter_log_events(logGroupName=group, startTime=int((time.time() - minutes * 60) * 1000))["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    events.sort(key=lambda e: (e["timestamp"], e.get("ingestionTime", 0)))
    return [e["message"].rstrip("\n") for e in events][-limit:]


def parse_log_line(line: str) -> dict[str, Any]:
    """One log line as a record, in either of Lambda's log formats.

    JSON lines are their fields (application records: ``timestamp``, ``level``,
    ``message``, ``requestId``, extra fields; platform records: ``time``,
    ``type``, ``record``). Text lines become the same shapes: ``START``,
    ``END`` and ``REPORT`` lines ``{"type": "platform.start"|"platform.end"|
    "platform.report", "record": {"requestId": ...}}``, ``[LEVEL]\ttime\tid\tmessage``
    lines an application record, anything else ``{"message": line}``.
    """
    if line.startswith("{"):
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    for prefix, kind in (("START RequestId: ", "platform.start"), ("END RequestId: ", "platform.end"), ("REPORT RequestId: ", "platform.report")):
        if line.startswith(prefix):
            fields = line[len(prefix):].split("\t")
            first = fields[0].split(" Version: ")
            record: dict[str, Any] = {"requestId": first[0].strip()}
            if len(first) > 1:
                record["version"] = first[1].strip()
            for field in fields[1:]:
                name, _, value = field.partition(": ")
                if name.strip():
                    record[name.strip()] = value.strip()
            return {"type": kind, "record": record}
    parts = line.split("\t", 3)
    if len(parts) == 4 and parts[0].startswith("[") and parts[0].endswith("]"):
        return {"timestamp": parts[1], "level": parts[0].strip("[]"), "requestId": parts[2], "message": parts[3]}
    return {"message": line}


def invocation_ids(lines: list[str]) -> list[str]:
    """The request id of each invocation in these log lines (one per start record), oldest first."""
    return [r["record"]["requestId"] for r in map(parse_log_line, lines) if r.get("type") == "platform.start"]


def log_records(
    settings: Settings, key: str | None = None, level: str | None = None, minutes: int = 15, limit: int = 200
) -> list[dict[str, Any]]:
    """The function's recent log records, parsed (``parse_log_line``), oldest first.

    ``key``: only the last invocation whose records name that key (its start,
    the function's records, its report). ``level``: only the function's
    records of that level (what Logs Insights' ``filter level = "WARNING"`` does).
    """
    records = [parse_log_line(line) for line in recent_log_lines(settings, minutes, limit)]
    if key is not None:
        ids = [r.get("requestId") for r in records if r.get("key") == key]
        if not ids:
            return []
        records = [r for r in records if ids[-1] in (r.get("requestId"), _platform_request_id(r))]
    if level is not None:
        records = [r for r in records if str(r.get("level") or r.get("log_level") or "").upper() == level.upper()]
    return records


def _platform_request_id(record: dict[str, Any]) -> str | None:
    inner = record.get("record")
    return inner.get("requestId") if "type" in record and isinstance(inner, dict) else None
