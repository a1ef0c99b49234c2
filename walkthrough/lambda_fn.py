"""Step 4: ImageProcessingFunction, deployed from ``lambda_function/`` with the Pillow layer.

Create or update, then wait until Lambda says the function is ready: a new
function is ``Pending`` before ``Active``, and an update is ``InProgress``
before ``Successful``. The "Test" step invokes it with a sample S3 put event,
as the console's Test button does.

On AWS a role created seconds ago is not yet usable by Lambda ("The role
defined for the function cannot be assumed by Lambda"): creating the function
is retried with backoff, for up to two minutes, saying why on each retry.
"""

from __future__ import annotations

import base64
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
#: What Lambda answers while a new role has not propagated through IAM yet.
ROLE_NOT_READY = "cannot be assumed by Lambda"
ROLE_WAIT_S = 120.0
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


def deploy_function(
    settings: Settings, role_arn: str, layer_arn: str, memory_mb: int = MEMORY_MB, timeout_s: int = TIMEOUT_S,
    **environment: str,
) -> dict[str, Any]:
    """Create the function, or bring its code and configuration up to date; waits until ready."""
    lam = aws.client(settings, "lambda")
    code = build_function_zip()
    config = {
        "Role": role_arn,
        "Handler": HANDLER,
        "Runtime": settings.runtime,
        "MemorySize": memory_mb,
        "Timeout": timeout_s,
        "Layers": [layer_arn],
        "Environment": {"Variables": function_environment(settings, **environment)},
        "Description": "Resizes and watermarks uploaded images, records their metadata",
    }
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
        "Layers": [layer_arn], "Environment": config["Environment"]["Variables"],
    }
    have = {
        "Role": current.get("Role"), "Handler": current.get("Handler"), "Runtime": current.get("Runtime"),
        "MemorySize": current.get("MemorySize"), "Timeout": current.get("Timeout"),
        "Layers": [layer["Arn"] for layer in current.get("Layers", [])],
        "Environment": current.get("Environment", {}).get("Variables", {}),
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
        "role": config["Role"],
        "arn": config["FunctionArn"],
    }


def sample_put_event(settings: Settings, key: str, size: int = 0, etag: str = "") -> dict[str, Any]:
    """An S3 put event as AWS documents it (the console's "s3-put" test template, filled in)."""
    return {
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": settings.region,
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/abcdefghijklmno"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "testConfigRule",
                "bucket": {"name": settings.raw_bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                           "arn": f"arn:aws:s3:::{settings.raw_bucket}"},
                # No "sequencer": the console template's made-up one would outrank real S3 events
                # for this key, and the function would skip them as older.
                "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
            },
        }]
    }


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
