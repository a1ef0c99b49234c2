"""Every use of moto's internals, in one place.

moto provides the control planes; the emulator needs three things from inside
it that moto has no public hook for:

1. ``LambdaFunction.invoke`` (every Invoke API call) is replaced so the code
   runs in ``runtime.WorkerPool`` instead of Docker;
2. ``moto.s3.notifications._invoke_awslambda`` (S3 -> Lambda notifications,
   called synchronously inside the upload request) is replaced so the event is
   handed to the asynchronous dispatcher and the upload returns at once;
3. a function's deployed zip, layers and configuration are read from moto's
   ``LambdaFunction`` (``code_bytes``, ``layers``, ...) and its layer backend.

``check_internals`` verifies each of these still exists; a test calls it so a
moto upgrade that moves one fails with a message naming it.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any, Callable

# Must be set before moto's IAM backend is imported: AWS managed policies
# (AmazonS3FullAccess, ...) only exist when moto loads them at start.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.awslambda import models as lambda_models  # noqa: E402
from moto.awslambda.utils import get_backend as lambda_backend  # noqa: E402
from moto.s3 import notifications as s3_notifications  # noqa: E402

from walkthrough.emulator.runtime import FunctionCode, FunctionSpec, InvocationResult  # noqa: E402

#: (module or class, attribute, what the emulator uses it for)
INTERNALS: list[tuple[Any, str, str]] = [
    (lambda_models.LambdaFunction, "invoke", "runs every Lambda invocation"),
    (s3_notifications, "_invoke_awslambda", "delivers S3 notifications to Lambda"),
    (s3_notifications, "send_event", "matches notification filters and builds S3 events"),
    (lambda_models.LambdaBackend, "layers_versions_by_arn", "finds a layer version's zip"),
    (lambda_models.LambdaBackend, "get_function", "finds the function an S3 event names"),
]

#: Attributes read from a ``LambdaFunction`` instance (checked on a live one by the tests).
FUNCTION_ATTRIBUTES = (
    "function_name", "function_arn", "version", "handler", "run_time", "timeout", "memory_size",
    "environment_vars", "role", "code_sha_256", "code_bytes", "layers", "region", "account_id",
)


def check_internals(function: Any | None = None) -> list[str]:
    """Names of the moto internals the emulator relies on that are missing or changed."""
    problems = [f"{getattr(owner, '__name__', owner)}.{name} ({why})" for owner, name, why in INTERNALS if not hasattr(owner, name)]
    if hasattr(s3_notifications, "_invoke_awslambda"):
        params = list(inspect.signature(_ORIGINAL_S3_INVOKE).parameters)
        if params[:4] != ["account_id", "event_body", "fn_arn", "region_name"]:
            problems.append(f"moto.s3.notifications._invoke_awslambda{params} (expected account_id, event_body, fn_arn, region_name)")
    if hasattr(lambda_models.LambdaFunction, "invoke"):
        params = list(inspect.signature(_ORIGINAL_LAMBDA_INVOKE).parameters)
        if params[:4] != ["self", "body", "request_headers", "response_headers"]:
            problems.append(f"moto LambdaFunction.invoke{params} (expected self, body, request_headers, response_headers)")
    if function is not None:
        problems += [f"LambdaFunction.{a} (function configuration)" for a in FUNCTION_ATTRIBUTES if not hasattr(function, a)]
    return problems


_ORIGINAL_LAMBDA_INVOKE = getattr(lambda_models.LambdaFunction, "invoke", None)
_ORIGINAL_S3_INVOKE = getattr(s3_notifications, "_invoke_awslambda", None)


def spec_of(function: Any) -> FunctionSpec:
    """The identity of a moto function's execution environment."""
    return FunctionSpec(
        name=function.function_name,
        arn=function.function_arn,
        version=str(function.version),
        handler=function.handler or "lambda_function.lambda_handler",
        runtime=function.run_time or "python3.12",
        timeout_s=int(function.timeout),
        memory_mb=int(function.memory_size),
        environment=tuple(sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())),
        role=function.role,
        code_sha256=function.code_sha_256,
        layer_arns=tuple(layer["Arn"] for layer in function.layers),
        region=function.region,
        account_id=function.account_id,
    )


def code_of(function: Any) -> FunctionCode:
    """The function's zip and its layers' zips, read from moto's Lambda backend."""
    backend = lambda_backend(function.account_id, function.region)
    layers = []
    for layer in function.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        if version is None:
            raise LookupError(f"layer version {layer['Arn']} no longer exists")
        layers.append(version.code_bytes)
    return FunctionCode(function.code_bytes, layers)


def find_function(account_id: str, region: str, arn: str) -> Any:
    """The moto function an ARN names (raises moto's not-found error when gone)."""
    return lambda_backend(account_id, region).get_function(arn)


SyncInvoke = Callable[[Any, Any, int], InvocationResult]
AsyncInvoke = Callable[[str, str, str, Any], None]


def install(run_now: Callable[[Any, Any], InvocationResult], run_later: AsyncInvoke) -> None:
    """Route moto's Lambda invocations and S3 notifications to the emulator's runtime.

    ``run_now(function, event)`` runs a RequestResponse invocation and returns
    its result; ``run_later(account_id, region, arn, event)`` queues an
    asynchronous one (InvocationType=Event, S3 notifications).
    """
    problems = check_internals()
    if problems:
        raise RuntimeError("moto internals changed; the emulator cannot hook: " + "; ".join(problems))

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        invocation_type = (request_headers or {}).get("x-amz-invocation-type") or (request_headers or {}).get("X-Amz-Invocation-Type") or "RequestResponse"
        response_headers["x-amz-executed-version"] = str(self.version)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            run_later(self.account_id, self.region, self.function_arn, event)
            return b""
        result = run_now(self, event)
        if not result.ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = result.log_tail_b64
        return result.payload

    def s3_invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        run_later(account_id, region_name, fn_arn, event_body)

    lambda_models.LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    s3_notifications._invoke_awslambda = s3_invoke  # type: ignore[attr-defined]
