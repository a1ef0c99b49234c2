"""The emulator process: moto's server plus what the tutorial needs, on one loopback port.

``python -m walkthrough.emulator.server --port N`` serves until SIGTERM. The
lifecycle module starts it in the background; tests may start it directly.
Requests pass through ``EmulatorApp`` first, which answers the emulator's own
``/_walkthrough/`` endpoints, applies the checks moto skips, notes the
recursion depth of requests made by functions, and hands the rest to moto.
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
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from walkthrough.emulator import moto_hooks  # first: sets moto's configuration before moto loads
from walkthrough.emulator.apigateway import ApiGateway
from walkthrough.emulator.cloudfront import CloudFront
from walkthrough.emulator.s3_access import S3Access
from walkthrough.emulator.checks import lambda_destinations, read_body, s3_error_xml, signing_service, unvalidated_destinations
from walkthrough.emulator.events import AsyncDispatcher, request_depth, set_request_depth
from walkthrough.emulator.runtime import InvocationResult, WorkerPool

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

log = logging.getLogger("walkthrough.emulator")

ACCOUNT_ID = "123456789012"  # moto's default account, which the fake credentials map to
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
RETRY_DELAYS_S = (1.0, 2.0)  # Lambda retries a failed asynchronous invocation twice


class CloudWatchSink:
    """Writes execution-environment log streams through the emulator's own Logs API, in one region."""

    def __init__(self, endpoint: str, region: str) -> None:
        self._logs = boto3.client(
            "logs", endpoint_url=endpoint, region_name=region, config=Config(retries={"max_attempts": 2}),
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def write(self, group: str, stream: str, lines: list[str]) -> None:
        logs = self._logs
        for create in (lambda: logs.create_log_group(logGroupName=group), lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream)):
            try:
                create()
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": line} for line in lines])


class Emulator:
    """The parts behind the WSGI app: the worker pool, the async dispatcher, the checks."""

    def __init__(self, port: int, concurrency: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.started = time.time()
        self.pools: dict[str, WorkerPool] = {}
        self._pools_lock = threading.Lock()
        self.dispatcher = AsyncDispatcher(self._run_async, concurrency)
        self._lambda_clients: dict[str, Any] = {}
        moto_hooks.install(self._run_now, self.dispatcher.submit)
        # What moto serves nothing of, or lets through: CloudFront, API Gateway stages, anonymous S3.
        self.cloudfront = CloudFront(self.endpoint)
        self.apigateway = ApiGateway(self._run_now, self.lambda_client)
        self.s3_access = S3Access()

    def pool(self, region: str) -> WorkerPool:
        with self._pools_lock:
            if region not in self.pools:
                self.pools[region] = WorkerPool(self.endpoint, CREDENTIALS, CloudWatchSink(self.endpoint, region))
            return self.pools[region]

    def _run_now(self, function: Any, event: Any) -> InvocationResult:
        spec = moto_hooks.spec_of(function)
        return self.pool(spec.region).invoke(spec, lambda: moto_hooks.code_of(function), event, depth=request_depth() + 1)

    def _run_async(self, account_id: str, region: str, arn: str, event: Any, depth: int) -> None:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS_S)):
            time.sleep(delay)
            try:
                function = moto_hooks.find_function(account_id, region, arn)
            except Exception:
                log.warning("asynchronous event for %s dropped: the function does not exist", arn)
                return
            spec = moto_hooks.spec_of(function)
            result = self.pool(region).invoke(spec, lambda: moto_hooks.code_of(function), event, depth=depth)
            if result.ok:
                return
            log.warning("asynchronous invocation of %s failed (attempt %d): %s", spec.name, attempt + 1, result.payload[:300])
        log.error("asynchronous invocation of %s failed every attempt; event dropped: %s", arn, json.dumps(event)[:500])

    def lambda_client(self, region: str) -> Any:
        if region not in self._lambda_clients:
            self._lambda_clients[region] = boto3.client(
                "lambda", endpoint_url=self.endpoint, region_name=region,
                aws_access_key_id="testing", aws_secret_access_key="testing",
            )
        return self._lambda_clients[region]

    def status(self) -> dict[str, Any]:
        import moto

        return {
            "service": "walkthrough-emulator",
            "pid": os.getpid(),
            "port": self.port,
            "endpoint": self.endpoint,
            "moto": moto.__version__,
            "uptime_s": round(time.time() - self.started, 1),
            "pending_invocations": self.dispatcher.pending,
            "warm_workers": sum(p.workers() for p in self.pools.values()),
            "concurrency": self.dispatcher.concurrency,
        }

    def close(self) -> None:
        self.dispatcher.close()
        for pool in self.pools.values():
            pool.close()


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

    def _own(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if path == "/_walkthrough/health":
            body = self.emulator.status()
        elif path == "/_walkthrough/idle":
            timeout = float(parse_qs(environ.get("QUERY_STRING", "")).get("timeout", ["30"])[0])
            body = {"idle": self.emulator.dispatcher.wait_idle(timeout), "pending_invocations": self.emulator.dispatcher.pending}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown emulator endpoint"}']
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def serve(port: int, host: str = "127.0.0.1", concurrency: int = 4) -> None:
    """Serve until SIGTERM/SIGINT, then stop every worker."""
    emulator = Emulator(port, concurrency)
    app = EmulatorApp(emulator, DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("walkthrough emulator (moto %s) listening on http://%s:%d", emulator.status()["moto"], host, port)
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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(args.port, args.host, args.concurrency)


if __name__ == "__main__":
    main()
