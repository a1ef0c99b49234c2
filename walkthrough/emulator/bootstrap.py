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

import decimal
import importlib
import json
import math
import logging
import os
import resource
import sys
import time
import traceback
from typing import Any

MARKER = "\x1e__walkthrough_end__ "


class CognitoIdentity:
    """``context.identity``, as awslambdaric builds it: both attributes None unless a mobile SDK sent them."""

    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self, identity: dict[str, Any] | None = None) -> None:
        identity = identity or {}
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __init__(self, fields: dict[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.get(name))


class ClientContext:
    """``context.client_context``: None unless the caller sent one (Invoke's ``ClientContext``, base64 JSON)."""

    __slots__ = ["custom", "env", "client"]

    def __init__(self, fields: dict[str, Any]) -> None:
        self.custom = fields.get("custom")
        self.env = fields.get("env")
        self.client = Client(fields["client"]) if isinstance(fields.get("client"), dict) else None


class LambdaContext:
    """Lambda's context object, with the attributes awslambdaric's ``LambdaContext`` gives it."""

    def __init__(self, request_id: str, deadline_ms: float, invoked_arn: str, client_context: dict[str, Any] | None = None) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity()
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _DecimalText(float):
    """A Decimal written as its own digits (awslambdaric serializes Decimal raw, not as a float or a string)."""

    def __init__(self, value: decimal.Decimal) -> None:
        self._value = value

    def __repr__(self) -> str:
        return str(self._value)


class _ResponseEncoder(json.JSONEncoder):
    """awslambdaric's marshaller: Decimal as a number (NaN as NaN); non-ASCII kept as is on python3.12+."""

    def __init__(self) -> None:
        modern = os.environ.get("AWS_EXECUTION_ENV") in {"AWS_Lambda_python3.12", "AWS_Lambda_python3.13"}
        super().__init__(ensure_ascii=not modern)

    def default(self, obj: Any) -> Any:
        if isinstance(obj, decimal.Decimal):
            return math.nan if obj.is_nan() else _DecimalText(obj)
        return super().default(obj)

    def iterencode(self, o: Any, _one_shot: bool = False) -> Any:
        # float.__repr__ is looked up on the class by the C encoder; the pure-Python one honours _DecimalText.__repr__
        return json.encoder._make_iterencode(  # type: ignore[attr-defined]
            {} if self.check_circular else None, self.default, json.encoder.encode_basestring if self.ensure_ascii is False else json.encoder.encode_basestring_ascii,
            self.indent, lambda value: repr(value) if isinstance(value, _DecimalText) else _float_text(value),
            self.key_separator, self.item_separator, self.sort_keys, self.skipkeys, _one_shot,
        )(o, 0)


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return float.__repr__(value)


class _RequestIdFilter(logging.Filter):
    """Puts the current request id on every record, as Lambda's log format shows it."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


# awslambdaric/lambda_runtime_log_utils.py: the record attributes that are not extra fields.
_RESERVED_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
}
_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


class _JsonFormatter(logging.Formatter):
    """Lambda's JSON format for application logs, as awslambdaric's ``JsonFormatter`` writes it.

    ``timestamp`` (seconds, UTC), ``level``, ``message``, ``logger``,
    ``requestId``; ``stackTrace``, ``errorType``, ``errorMessage`` and
    ``location`` for a record with an exception; then every extra field
    (``logger.info(..., extra={...})``). Fields whose value is None are left out.
    """

    def __init__(self) -> None:
        super().__init__(datefmt=_DATETIME_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc_info = record.exc_info
        result: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        result.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED_FIELDS and k not in result)
        return _encode_json({k: v for k, v in result.items() if v is not None})


class _EmulatorEndpointFilter(logging.Filter):
    """Drops botocore's INFO line about the endpoint it found in ``AWS_ENDPOINT_URL``.

    The emulator sets that variable so the function's calls come back to it;
    Lambda does not, so its log never has "Found endpoint for s3 via:
    environment_global." at the application log level INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Found endpoint for")


def _log_format() -> str:
    """AWS_LAMBDA_LOG_FORMAT, as awslambdaric reads it: JSON, or else Text."""
    return "JSON" if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON" else "Text"


def _install_lambda_logging() -> _RequestIdFilter:
    """Configure the root logger the way the managed Python runtime does (awslambdaric ``_setup_logging``).

    Text: ``[LEVEL]\ttimestamp\trequest id\tmessage``; JSON: one object per
    record. ``AWS_LAMBDA_LOG_LEVEL`` (the application log level, set with
    JSON) becomes the root logger's level (TRACE counts as DEBUG); without
    it the root logger keeps Python's default, WARNING.
    """
    logging.Formatter.converter = time.gmtime
    request_filter = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    if _log_format() == "JSON":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
        )
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.getLogger("botocore.configprovider").addFilter(_EmulatorEndpointFilter())
    level = {"": "", "TRACE": "DEBUG"}.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper(), os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.WARNING)
    return request_filter


def _write_error(payload: dict[str, Any], with_trace: bool = True) -> None:
    """An uncaught error in the log, as awslambdaric's ``log_error`` writes it in the function's format.

    JSON: one object, ``timestamp`` and ``log_level`` first, then the error
    (``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``). Text:
    ``[ERROR] Type: message`` and (``with_trace``) the traceback.
    """
    if _log_format() == "JSON":
        record = {"timestamp": time.strftime(_DATETIME_FORMAT, time.gmtime()), "log_level": "ERROR", **payload}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}\n")
        if with_trace:
            sys.stdout.write("Traceback (most recent call last):\n" + "".join(payload["stackTrace"]))
    sys.stdout.flush()


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


def _set_sys_path(task_root: str, opt_root: str, runtime_dir: str) -> None:
    """The code, the layers' Python folders, the runtime's packages (boto3), then the standard library.

    Lambda's order for its Python runtimes
    (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-searchpath).
    The interpreter runs with ``-I -S``: no site-packages of its own, so
    nothing installed on the machine is importable, as on Lambda.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layer_paths = [
        os.path.join(opt_root, "python", "lib", version, "site-packages"),
        os.path.join(opt_root, "python"),
    ]
    here = os.path.dirname(os.path.abspath(__file__))
    stdlib = [p for p in sys.path if p and os.path.abspath(p) not in (here, os.path.abspath(runtime_dir))]
    sys.path[:] = [task_root, *layer_paths, runtime_dir, *stdlib]


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

    _set_sys_path(os.environ["LAMBDA_TASK_ROOT"], os.environ.get("_WALKTHROUGH_OPT_ROOT", "/opt"),
                  os.environ.get("LAMBDA_RUNTIME_DIR", os.path.dirname(os.path.abspath(__file__))))
    request_filter = _install_lambda_logging()
    module_path, _, function_name = os.environ["_HANDLER"].rpartition(".")
    module_name = module_path.replace("/", ".")  # "src/app.handler" is the module src.app, as awslambdaric reads it
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
    except ImportError as exc:
        payload = _error_payload(exc, "Runtime.ImportModuleError")
        payload["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        _write_error(payload, with_trace=False)
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
        _write_error(payload)
        send({"type": "init_error", "error": payload})
        return
    send({"type": "ready", "init_ms": (time.perf_counter() - started) * 1000, "pid": os.getpid()})

    for line in sys.stdin:
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
        context = LambdaContext(request_id, request["deadline_ms"], request["invoked_arn"], request.get("client_context"))
        started = time.perf_counter()
        message: dict[str, Any] = {"type": "result", "request_id": request_id}
        try:
            result = handler(request["event"], context)
            try:
                message["payload"] = _ResponseEncoder().encode(result)
                message["ok"] = True
            except (TypeError, ValueError) as exc:
                message["payload"] = json.dumps(
                    {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError", "requestId": request_id}
                )
                message["ok"] = False
        except Exception as exc:
            payload = _error_payload(exc)
            payload["requestId"] = request_id
            _write_error(payload)  # Lambda writes the uncaught exception into the log
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
