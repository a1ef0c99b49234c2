"""The Lambda runtime interface, inside one worker process (one execution environment).

Run as a script by ``runtime.Worker``, never imported by the emulator itself, so
it imports nothing from the repository: the function sees ``LAMBDA_TASK_ROOT``
and the layers first on ``sys.path``, as on Lambda, and the interpreter's own
packages (boto3) after them, like the managed runtime.

Protocol, one JSON object per line:
- control out (fd in ``_WALKTHROUGH_CONTROL_FD``): ``ready`` / ``init_error`` once,
  then one ``result`` per request;
- stdin: one request per invocation (event, request id, deadline, trace id);
- stdout/stderr: the function's log, with a marker line after each invocation so
  the parent knows it has every line that belongs to it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback
from typing import Any

MARKER = "\x1e__walkthrough_end__ "


class LambdaContext:
    """The attributes and method a handler expects from Lambda's context object."""

    def __init__(self, request_id: str, deadline_ms: float, invoked_arn: str) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    """Puts the current request id on every record, as Lambda's log format shows it."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _install_lambda_logging() -> _RequestIdFilter:
    """Configure the root logger the way the managed Python runtime does."""
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    return request_filter


def _error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    here = os.path.abspath(__file__)
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(f.filename) != here and not f.filename.startswith("<frozen") and "importlib" not in f.filename
    ]
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": [f'  File "{f.filename}", line {f.lineno}, in {f.name}\n    {f.line}\n' for f in frames],
    }


def _set_sys_path(task_root: str, opt_root: str) -> None:
    """Task root, then the layers' Python folders, then the interpreter's packages."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layer_paths = [
        os.path.join(opt_root, "python", "lib", version, "site-packages"),
        os.path.join(opt_root, "python"),
    ]
    rest = [p for p in sys.path if p and os.path.abspath(p) != os.path.dirname(os.path.abspath(__file__))]
    sys.path[:] = [task_root, *layer_paths, *rest]


def _max_rss_mb() -> int:
    """Peak resident memory of this process (VmHWM; ru_maxrss would count the forking parent)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    control = os.fdopen(int(os.environ.pop("_WALKTHROUGH_CONTROL_FD")), "w", buffering=1)

    def send(message: dict[str, Any]) -> None:
        control.write(json.dumps(message) + "\n")
        control.flush()

    _set_sys_path(os.environ["LAMBDA_TASK_ROOT"], os.environ.get("_WALKTHROUGH_OPT_ROOT", "/opt"))
    request_filter = _install_lambda_logging()
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
    except ImportError as exc:
        payload = _error_payload(exc, "Runtime.ImportModuleError")
        payload["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        sys.stdout.write(f"[ERROR] Runtime.ImportModuleError: {payload['errorMessage']}\n")
        sys.stdout.flush()
        send({"type": "init_error", "error": payload})
        return
    except AttributeError:
        payload = {
            "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
            "errorType": "Runtime.HandlerNotFound",
            "stackTrace": [],
        }
        send({"type": "init_error", "error": payload})
        return
    except Exception as exc:  # an exception at import time is an init error on Lambda too
        payload = _error_payload(exc, "Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError) else None)
        if isinstance(exc, SyntaxError):
            payload["errorMessage"] = f"Syntax error in module '{module_name}': {exc}"
        sys.stdout.write(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}\n" + "".join(payload["stackTrace"]))
        sys.stdout.flush()
        send({"type": "init_error", "error": payload})
        return
    send({"type": "ready", "init_ms": (time.perf_counter() - started) * 1000})

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext(request_id, request["deadline_ms"], request["invoked_arn"])
        started = time.perf_counter()
        message: dict[str, Any] = {"type": "result", "request_id": request_id}
        try:
            result = handler(request["event"], context)
            try:
                message["payload"] = json.dumps(result)
                message["ok"] = True
            except (TypeError, ValueError) as exc:
                message["payload"] = json.dumps(
                    {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError", "requestId": request_id}
                )
                message["ok"] = False
        except Exception as exc:
            payload = _error_payload(exc)
            payload["requestId"] = request_id
            # Lambda prints the uncaught exception into the log as a JSON line.
            sys.stdout.write(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}\n")
            sys.stdout.write("Traceback (most recent call last):\n" + "".join(payload["stackTrace"]))
            message["payload"] = json.dumps(payload)
            message["ok"] = False
        message["duration_ms"] = (time.perf_counter() - started) * 1000
        message["max_memory_mb"] = _max_rss_mb()
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout.write(f"{MARKER}{request_id}\n")
        sys.stdout.flush()
        send(message)


if __name__ == "__main__":
    main()
