"""The emulator process: moto's server plus what the tutorial needs, on one loopback port.

``python -m walkthrough.emulator.server --port N`` serves until SIGTERM. The
lifecycle module starts it in the background; tests may start it directly.
Requests pass through ``EmulatorApp`` first, which answers the emulator's own
``/_walkthrough/`` endpoints, authorizes the calls functions make against
their execution role (``roles.py``), applies test-injected faults
(``faults.py``), applies the checks moto skips, notes the recursion depth of
requests made by functions, and hands the rest to moto.

Settings (environment variables, read at start):

- ``WALKTHROUGH_EMULATOR_CONCURRENCY`` (default 4): asynchronous invocations
  of functions without reserved concurrency running at once; the excess waits.
  ``PutFunctionConcurrency`` (reserved concurrency) bounds one function instead.
- ``WALKTHROUGH_EMULATOR_RETRY_DELAYS`` (default ``1,2``): seconds before the
  first and second retry of a failed asynchronous invocation. AWS waits about
  1 and 2 minutes; the emulator is quicker. ``PutFunctionEventInvokeConfig``
  (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``, ``DestinationConfig``)
  is honoured.
- ``WALKTHROUGH_EMULATOR_IAM`` (default ``strict``; ``enforce``, ``off``): how
  functions' calls are authorized against their role (see ``roles.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from walkthrough.emulator import moto_hooks  # first: sets moto's configuration before moto loads
from walkthrough.emulator.apigateway import ApiGateway
from walkthrough.emulator.cloudfront import CloudFront
from walkthrough.emulator.s3_access import S3Access
from walkthrough.emulator.checks import lambda_destinations, read_body, s3_error_xml, signing_service, unvalidated_destinations
from walkthrough.emulator.events import AsyncDispatcher, AsyncEvent, request_depth, set_request_depth
from walkthrough.emulator.faults import Faults, operation_of
from walkthrough.emulator.roles import Check, Roles, refusal_response
from walkthrough.emulator.runtime import FunctionSpec, InvocationResult, WorkerPool

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

log = logging.getLogger("walkthrough.emulator")

ACCOUNT_ID = "123456789012"  # moto's default account, which the fake credentials map to
#: Seconds before the first and second retry of a failed asynchronous invocation (AWS: about 60 and 120).
RETRY_DELAYS_S = (1.0, 2.0)


def retry_delays_from_env(text: str | None) -> tuple[float, ...]:
    """``WALKTHROUGH_EMULATOR_RETRY_DELAYS`` ("1,2", "0.2,0.5") as seconds; the default when unset."""
    if not text or not text.strip():
        return RETRY_DELAYS_S
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"WALKTHROUGH_EMULATOR_RETRY_DELAYS={text!r}: give seconds separated by commas, e.g. 1,2") from None
    if not delays or any(d < 0 for d in delays):
        raise SystemExit(f"WALKTHROUGH_EMULATOR_RETRY_DELAYS={text!r}: give seconds separated by commas, e.g. 1,2")
    return delays


class CloudWatchSink:
    """Writes execution-environment log streams through the emulator's own Logs API, in one region.

    These are the platform's writes (Lambda's), made with the emulator's own
    credentials: whether the function's role may write its log is decided
    before (``Roles.may_write_logs``). A stream is created once and then only
    appended to (one request per invocation).
    """

    def __init__(self, endpoint: str, region: str) -> None:
        self._logs = boto3.client(
            "logs", endpoint_url=endpoint, region_name=region, config=Config(retries={"max_attempts": 2}),
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        self._streams: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _create(self, group: str, stream: str) -> None:
        logs = self._logs
        for create in (lambda: logs.create_log_group(logGroupName=group), lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream)):
            try:
                create()
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
        with self._lock:
            self._streams.add((group, stream))

    def write(self, group: str, stream: str, lines: list[str]) -> None:
        with self._lock:
            known = (group, stream) in self._streams
        if not known:
            self._create(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines]
        try:
            self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        except self._logs.exceptions.ResourceNotFoundException:  # deleted since (or the state was reset)
            self._create(group, stream)
            self._logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


class Emulator:
    """The parts behind the WSGI app: the worker pool, the asynchronous queue, roles, faults, the checks."""

    def __init__(self, port: int, concurrency: int, retry_delays: tuple[float, ...] = RETRY_DELAYS_S, iam_mode: str = "enforce") -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.started = time.time()
        self.retry_delays = tuple(retry_delays) or RETRY_DELAYS_S
        self.roles = Roles(iam_mode)
        self.faults = Faults()
        self._sinks: dict[str, CloudWatchSink] = {}
        self._sinks_lock = threading.Lock()
        self.workers = WorkerPool(self.endpoint, self.roles.credentials_for, self._sink, may_log=self.roles.may_write_logs)
        self.dispatcher = AsyncDispatcher(self._attempt, concurrency, self._reserved_concurrency)
        self.failed_events = 0
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        moto_hooks.install(self._run_now, self.dispatcher.submit)
        # What moto serves nothing of, or lets through: CloudFront, API Gateway stages, anonymous S3.
        self.cloudfront = CloudFront(self.endpoint)
        self.apigateway = ApiGateway(self._run_now, self.lambda_client)
        self.s3_access = S3Access()

    def _sink(self, region: str) -> CloudWatchSink:
        with self._sinks_lock:
            if region not in self._sinks:
                self._sinks[region] = CloudWatchSink(self.endpoint, region)
            return self._sinks[region]

    def pool(self, region: str) -> WorkerPool:
        """The worker pool (one for every region; kept for callers that name a region)."""
        return self.workers

    def _run_now(self, function: Any, event: Any) -> InvocationResult:
        spec = moto_hooks.spec_of(function)
        return self.workers.invoke(spec, lambda: moto_hooks.code_of(function), event, depth=request_depth() + 1)

    # -- asynchronous invocations -------------------------------------------------------
    def _reserved_concurrency(self, event: AsyncEvent) -> int | None:
        function = moto_hooks.find_function(event.account_id, event.region, event.arn)
        return moto_hooks.async_settings_of(function).reserved_concurrency

    def _attempt(self, event: AsyncEvent) -> float | None:
        """One attempt of an asynchronous invocation: the delay before the next one, or None when done."""
        try:
            function = moto_hooks.find_function(event.account_id, event.region, event.arn)
        except Exception:
            log.warning("asynchronous event for %s dropped: the function does not exist", event.arn)
            return None
        spec = moto_hooks.spec_of(function)
        settings = moto_hooks.async_settings_of(function)
        if time.time() - event.received > settings.max_event_age_s:
            self._give_up(event, spec, settings, "EventAgeExceeded", None)
            return None
        event.attempts += 1
        result = self.workers.invoke(spec, lambda: moto_hooks.code_of(function), event.payload, depth=event.depth, request_id=event.request_id)
        if result.ok:
            if settings.on_success:
                self._deliver(settings.on_success, self._record(event, spec, "Success", result), spec)
            return None
        retries_made = event.attempts - 1
        if retries_made < settings.max_retry_attempts:
            delay = self.retry_delays[min(retries_made, len(self.retry_delays) - 1)]
            log.warning(
                "asynchronous invocation of %s failed (attempt %d of %d, request %s): %s; retrying in %.1f s",
                spec.name, event.attempts, settings.max_retry_attempts + 1, event.request_id, _brief(result), delay,
            )
            return delay
        self._give_up(event, spec, settings, "RetriesExhausted", result)
        return None

    def _give_up(self, event: AsyncEvent, spec: FunctionSpec, settings: moto_hooks.AsyncSettings, condition: str, result: InvocationResult | None) -> None:
        self.failed_events += 1
        where = f"sent to its on-failure destination {settings.on_failure}" if settings.on_failure else "dropped (no on-failure destination configured)"
        log.error(
            "asynchronous invocation of %s failed: %s after %d attempt(s) (request %s, %s); the event is %s: %s",
            spec.name, condition, event.attempts, event.request_id, _brief(result) if result else "not attempted",
            where, json.dumps(event.payload, default=str)[:500],
        )
        if settings.on_failure:
            self._deliver(settings.on_failure, self._record(event, spec, condition, result), spec)

    @staticmethod
    def _record(event: AsyncEvent, spec: FunctionSpec, condition: str, result: InvocationResult | None) -> dict[str, Any]:
        """Lambda's invocation record for a destination (the same shape for success and failure)."""
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": spec.version}
        if result is not None and not result.ok:
            response["functionError"] = "Unhandled"
        payload: Any = None
        if result is not None:
            try:
                payload = json.loads(result.payload) if result.payload else None
            except ValueError:
                payload = result.payload.decode("utf-8", "replace")
        return {
            "version": "1.0",
            "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": f"{spec.arn}:{spec.version}",
                "condition": condition,
                "approximateInvokeCount": event.attempts,
            },
            "requestPayload": event.payload,
            "responseContext": response,
            "responsePayload": payload,
        }

    def _deliver(self, destination: str, record: dict[str, Any], spec: FunctionSpec) -> None:
        """Send an invocation record to an SQS queue, SNS topic or Lambda function, with the function's role."""
        parts = destination.split(":")
        if len(parts) < 6:
            log.error("destination %s of %s is not an ARN; the record is lost", destination, spec.name)
            return
        service, region, account, name = parts[2], parts[3], parts[4], parts[5]
        action = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}.get(service)
        if action is None:
            log.error("destination %s of %s: the emulator delivers to SQS, SNS and Lambda only; the record is lost", destination, spec.name)
            return
        if not self.roles.allows(spec.role, Check(action, destination)):
            log.error("destination %s of %s: its role %s may not %s; the record is lost (as on AWS)", destination, spec.name, spec.role, action)
            return
        body = json.dumps(record, default=str)
        try:
            if service == "sqs":
                sqs = self.client("sqs", region)
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            elif service == "sns":
                self.client("sns", region).publish(TopicArn=destination, Message=body)
            else:
                self.client("lambda", region).invoke(FunctionName=destination, InvocationType="Event", Payload=body.encode())
            log.info("invocation record of %s (%s) sent to %s", spec.name, record["requestContext"]["condition"], destination)
        except Exception as exc:  # noqa: BLE001 - a missing queue loses the record, as on AWS
            log.error("destination %s of %s could not take the record: %s", destination, spec.name, exc)

    # -- clients of the emulator itself ---------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        with self._clients_lock:
            if (service, region) not in self._clients:
                self._clients[service, region] = boto3.client(
                    service, endpoint_url=self.endpoint, region_name=region,
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                )
            return self._clients[service, region]

    def lambda_client(self, region: str) -> Any:
        return self.client("lambda", region)

    def status(self) -> dict[str, Any]:
        import moto

        return {
            "service": "walkthrough-emulator",
            "pid": os.getpid(),
            "port": self.port,
            "endpoint": self.endpoint,
            "moto": moto.__version__,
            "started_at": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "pending_invocations": self.dispatcher.pending,
            "warm_workers": self.workers.workers(),
            "concurrency": self.dispatcher.concurrency,
            "retry_delays_s": list(self.retry_delays),
            "iam": self.roles.mode,
            "invocations": self.workers.invocations,
            "running_invocations": self.workers.running,
            "max_concurrent_invocations": self.workers.max_concurrent,
            "async_attempts": self.dispatcher.attempts,
            "retries": self.dispatcher.retries,
            "failed_events": self.failed_events,
            "denied_requests": self.roles.denied,
            "injected_faults": self.faults.injected,
        }

    def function_status(self, name_or_arn: str) -> dict[str, Any] | None:
        """One function's invocation counts (by name or ARN), for tests and benchmarks."""
        for arn in list(self.workers.stats):
            if arn == name_or_arn or arn.rsplit(":", 1)[-1] == name_or_arn:
                stats = self.workers.function_stats(arn)
                return {"arn": arn, "invocations": stats.invocations, "running": stats.running,
                        "max_concurrent_invocations": stats.max_concurrent, "errors": stats.errors}
        return None

    def close(self) -> None:
        self.dispatcher.close()
        self.workers.close()


def _brief(result: InvocationResult) -> str:
    error = result.error or {}
    return f"{error.get('errorType', 'Error')}: {str(error.get('errorMessage', ''))[:300]}"


def _bucket_of(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST", "").split(":")[0]
    if host.endswith(".localhost") or ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return host.split(".")[0]
    return environ.get("PATH_INFO", "/").lstrip("/").split("/")[0]


class EmulatorApp:
    """WSGI middleware in front of moto's dispatcher."""

    def __init__(self, emulator: Emulator, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.emulator = emulator
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        set_request_depth(environ.get("HTTP_X_AMZN_TRACE_ID"))
        for viewer in (self.emulator.cloudfront, self.emulator.apigateway):  # loopback CloudFront and API stages
            served = viewer.serve(environ, start_response)
            if served is not None:
                return served
        if path.startswith("/_walkthrough/"):
            return self._own(path, environ, start_response)
        refusal = self.emulator.roles.authorize(environ)  # a function's call, judged by its role
        if refusal is not None:
            return refusal_response(refusal, start_response)
        if self.emulator.faults.active:  # test-only: the next N matching requests fail
            failed = self._fault(environ, start_response)
            if failed is not None:
                return failed
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if environ.get("REQUEST_METHOD") == "PUT" and "notification" in query and signing_service(environ) in ("s3", ""):
            refused = self._check_notification(environ)
            if refused is not None:
                start_response("400 Bad Request", [("Content-Type", "application/xml"), ("Content-Length", str(len(refused)))])
                return [refused]
        for layer in (self.emulator.cloudfront, self.emulator.apigateway, self.emulator.s3_access):
            answer = layer.control(environ, start_response, self.moto_app)
            if answer is not None:
                return answer
        return self.moto_app(environ, start_response)

    def _check_notification(self, environ: dict[str, Any]) -> bytes | None:
        body = read_body(environ)
        try:
            arns = lambda_destinations(body)
        except Exception:
            return None  # malformed XML: let moto answer with its own error
        if not arns:
            return None
        region = arns[0].split(":")[3]
        problems = unvalidated_destinations(self.emulator.lambda_client(region), _bucket_of(environ), arns)
        if not problems:
            return None
        return s3_error_xml("InvalidArgument", "Unable to validate the following destination configurations", problems)

    def _fault(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        service = signing_service(environ)
        if not service:
            return None
        caller = self.emulator.roles.caller_of(environ)
        fault = self.emulator.faults.take(service, operation_of(environ, service), caller.function_name if caller else None)
        if fault is None:
            return None
        log.info("injected %s into %s %s (fault %d, %d left)", fault.error, service, operation_of(environ, service), fault.id, fault.remaining)
        return self.emulator.faults.answer(fault, service, start_response, head=environ.get("REQUEST_METHOD") == "HEAD")

    def _own(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        method = environ.get("REQUEST_METHOD", "GET")
        status = "200 OK"
        if path == "/_walkthrough/health":
            body: Any = self.emulator.status()
        elif path == "/_walkthrough/idle":
            timeout = float(query.get("timeout", ["30"])[0])
            body = {"idle": self.emulator.dispatcher.wait_idle(timeout), "pending_invocations": self.emulator.dispatcher.pending}
        elif path == "/_walkthrough/function":
            body = self.emulator.function_status(query.get("name", [""])[0])
            if body is None:
                status, body = "404 Not Found", {"error": "no invocation of that function yet"}
        elif path == "/_walkthrough/faults":
            faults = self.emulator.faults
            if method == "POST":
                try:
                    fault = faults.add(json.loads(read_body(environ) or b"{}"))
                    body = {"fault": fault.id, "faults": faults.list()}
                except (ValueError, TypeError) as exc:
                    status, body = "400 Bad Request", {"error": str(exc)}
            elif method == "DELETE":
                faults.clear()
                body = {"faults": []}
            else:
                body = {"faults": faults.list(), "injected": faults.injected}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown emulator endpoint"}']
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def serve(
    port: int, host: str = "127.0.0.1", concurrency: int = 4, retry_delays: tuple[float, ...] = RETRY_DELAYS_S, iam_mode: str = "enforce"
) -> None:
    """Serve until SIGTERM/SIGINT, then stop every worker."""
    emulator = Emulator(port, concurrency, retry_delays, iam_mode)
    app = EmulatorApp(emulator, DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "walkthrough emulator (moto %s) listening on http://%s:%d; concurrency %d, retry delays %s s, IAM %s",
        emulator.status()["moto"], host, port, concurrency, ",".join(f"{d:g}" for d in emulator.retry_delays), iam_mode,
    )
    try:
        server.serve_forever()
    finally:
        emulator.close()
        log.info("emulator stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the walkthrough's local AWS emulator in the foreground.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WALKTHROUGH_EMULATOR_PORT", 4747)))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("WALKTHROUGH_EMULATOR_CONCURRENCY", 4)))
    parser.add_argument("--retry-delays", default=os.environ.get("WALKTHROUGH_EMULATOR_RETRY_DELAYS", ""),
                        help="seconds before the 1st and 2nd retry of a failed asynchronous invocation (default 1,2)")
    parser.add_argument("--iam", choices=("enforce", "strict", "off"), default=os.environ.get("WALKTHROUGH_EMULATOR_IAM") or "strict",
                        help="authorize functions' calls against their role (default enforce; see roles.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(args.port, args.host, args.concurrency, retry_delays_from_env(args.retry_delays), args.iam)


if __name__ == "__main__":
    main()
