"""Test-only fault injection: make the next N matching requests fail as AWS fails under load.

Tests use it to prove the pipeline survives a transient error (a retry ends
with one output and one item). Nothing is injected unless a test asks:

    POST   /_walkthrough/faults   {"service": "dynamodb", "operation": "PutItem", "count": 4,
                                   "caller": "function", "function": "ImageProcessingFunction"}
    GET    /_walkthrough/faults   the active faults, with how many requests each has failed
    DELETE /_walkthrough/faults   remove them all

``service`` is the signing name (``s3``, ``dynamodb``, ``logs``, ...);
``operation`` the API operation (``PutItem``, ``PutObject``, ... or ``*``);
``caller`` is ``function`` (only requests signed with a function's role
credentials, the default), ``client`` (only the others) or ``any``;
``function`` narrows it to one function by name. ``error`` defaults to the
service's throttling error (S3: 503 ``SlowDown``; others: 400
``ThrottlingException``), which botocore retries: the tutorial's function
makes 4 attempts (standard mode, ``max_attempts=3`` retries), so ``count: 4``
fails one invocation. Errors are answered in the S3 (XML) and JSON
protocols' shapes (DynamoDB, CloudWatch Logs, SQS, ...).
A fault is used up after ``count`` matching requests.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from walkthrough.emulator.s3_requests import action_of, s3_target
from walkthrough.emulator.wsgi import read_body, s3_error

CALLERS = ("function", "client", "any")
#: (HTTP status, message) of the errors a test may ask for by code.
ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (400, "Rate exceeded"),
    "ProvisionedThroughputExceededException": (400, "The level of configured provisioned throughput for the table was exceeded."),
    "RequestLimitExceeded": (400, "Throughput exceeds the current throughput limit for your account."),
    "ServiceUnavailable": (503, "Service Unavailable"),
    "InternalServerError": (500, "Internal server error"),
    "SlowDown": (503, "Please reduce your request rate."),
}


@dataclass
class Fault:
    id: int
    service: str
    operation: str
    count: int
    error: str
    caller: str = "function"
    function: str | None = None
    failed: int = 0

    @property
    def remaining(self) -> int:
        return self.count - self.failed

    def matches(self, service: str, operation: str, function: str | None) -> bool:
        if self.remaining <= 0 or service != self.service or self.operation not in ("*", operation):
            return False
        if self.caller == "function" and function is None or self.caller == "client" and function is not None:
            return False
        return self.function is None or self.function == function


def operation_of(environ: dict[str, Any], service: str) -> str:
    """The API operation a request calls, for the protocols the tutorial's services use."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rpartition(".")[2]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    if service == "s3":
        where = s3_target(environ)
        if where is None:
            return "ListBuckets"
        action = action_of(environ.get("REQUEST_METHOD", "GET"), where, query) or ""
        name = action.removeprefix("s3:")
        if name == "GetObject" and environ.get("REQUEST_METHOD") == "HEAD":
            return "HeadObject"
        if name == "ListBucket":
            return "ListObjectsV2" if query.get("list-type") == ["2"] else ("HeadBucket" if environ.get("REQUEST_METHOD") == "HEAD" else "ListObjects")
        return name
    if environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form = parse_qs(read_body(environ).decode("utf-8", "replace"))
        return (form.get("Action") or [""])[0]
    return ""


class Faults:
    """The active faults, matched against each request before moto sees it."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.injected = 0

    @property
    def active(self) -> bool:
        return bool(self._faults)

    def add(self, spec: dict[str, Any]) -> Fault:
        service = str(spec.get("service") or "").strip().lower()
        operation = str(spec.get("operation") or "").strip()
        if not service or not operation:
            raise ValueError('a fault needs "service" (e.g. "dynamodb") and "operation" (e.g. "PutItem", or "*")')
        caller = str(spec.get("caller") or "function")
        if caller not in CALLERS:
            raise ValueError(f'"caller" must be one of {", ".join(CALLERS)}')
        error = str(spec.get("error") or ("SlowDown" if service == "s3" else "ThrottlingException"))
        count = int(spec.get("count", 1))
        if count < 1:
            raise ValueError('"count" must be at least 1')
        fault = Fault(next(self._ids), service, operation, count, error, caller, spec.get("function") or None)
        with self._lock:
            self._faults.append(fault)
        return fault

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**asdict(f), "remaining": f.remaining} for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, service: str, operation: str, function: str | None) -> Fault | None:
        """The fault this request meets (and uses one of its count), or None; used-up faults are removed."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(service, operation, function):
                    fault.failed += 1
                    self.injected += 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def answer(self, fault: Fault, service: str, start_response: Callable[..., Any], head: bool = False) -> Iterable[bytes]:
        """The error response the service would send."""
        status, message = ERRORS.get(fault.error, (400, fault.error))
        request_id = uuid.uuid4().hex.upper()[:16]
        if service == "s3":
            body = b"" if head else s3_error(fault.error, message)
            headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        else:
            body = json.dumps({"__type": fault.error, "message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
        headers.append(("Content-Length", str(len(body))))
        reasons = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}
        start_response(f"{status} {reasons.get(status, 'Error')}", headers)
        return [body]
