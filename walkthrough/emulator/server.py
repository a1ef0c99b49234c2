"""The emulator process: moto's server plus what the tutorial needs, on one loopback port.

``python -m walkthrough.emulator.server --port N`` serves until SIGTERM. The
lifecycle module starts it in the background; tests may start it directly.
This module only wires the parts together; each is one concern:

==================  ==============================================================
``runtime``         the Lambda runtime: workers, timeouts, memory, logs (no moto)
``async_invoke``    asynchronous invocation: queue, concurrency, retries, destinations
``s3_notifications`` S3 -> Lambda: destination validation, the event record
``roles``           a function's execution role: credentials, authorization
``policies``        the one policy evaluator (identity and resource policies)
``s3_access``       anonymous S3 requests and Block Public Access
``s3_bucket_defaults`` new buckets as S3 makes them today (BPA on, ACLs disabled)
``cloudfront_api``  CloudFront's control plane where moto lacks it (OAI)
``cloudfront_content`` a distribution's content, served on loopback
``cloudfront_cache`` the edge cache: TTLs, hits and misses, invalidations
``apigateway``      API Gateway stages routed to Lambda proxy integrations
``cloudformation``  CloudFormation's resource handlers where moto lacks or drops a type
``faults``          test-only fault injection
``origins``         the host check (DNS rebinding) and CORS
``signatures``      SigV4 verification: only the emulator's keys (and those it minted)
``credentials``     the emulator's own key, in its state folder
``moto_internals``  every use of moto's internals
``wsgi``            request/response plumbing shared by the layers
==================  ==============================================================

A request meets, in order: the host check and CORS (``origins``), the
viewer sides (CloudFront content, API Gateway stages: public by design),
``/_walkthrough/health`` (unsigned, for ``lifecycle``), the signature check
(every other request: signed with a key the emulator knows, or an anonymous
S3 request), the emulator's other ``/_walkthrough/`` endpoints, the role
check of a function's call, injected faults, then the control layers that
answer before moto or let it through (S3 notification validation, CloudFront,
API Gateway deployments, bucket defaults and ACLs, S3 access), and finally moto.

Settings (environment variables, read at start):

- ``WALKTHROUGH_EMULATOR_CONCURRENCY`` (default 4): asynchronous invocations
  of functions without reserved concurrency running at once; the excess waits.
  ``PutFunctionConcurrency`` (reserved concurrency) bounds one function instead.
- ``WALKTHROUGH_EMULATOR_RETRY_DELAYS`` (default ``1,2``): seconds before the
  first and second retry of a failed asynchronous invocation. AWS waits about
  1 and 2 minutes; the emulator is quicker.
- ``WALKTHROUGH_EMULATOR_IAM`` (default ``strict``; ``enforce``, ``off``): how
  functions' calls are authorized against their role (see ``roles.py``).
- ``WALKTHROUGH_EMULATOR_CORS_ORIGINS`` (default none): origins a web page may
  call the emulator from (see ``origins.py``).
- ``WALKTHROUGH_EMULATOR_KEYS_FILE``: the key file (``lifecycle.start`` sets
  it; default ``<state dir>/emulator-<port>.keys``, see ``credentials.py``).
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

from walkthrough.emulator import moto_internals  # first: it configures moto before moto's backends load

import moto  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from walkthrough.emulator.apigateway import ApiGateway  # noqa: E402
from walkthrough.emulator.async_invoke import RETRY_DELAYS_S, AsyncInvoker, request_depth, retry_delays_from_env, set_request_depth  # noqa: E402
from walkthrough.emulator import cloudformation, credentials, lifecycle  # noqa: E402
from walkthrough.emulator.clients import InternalClients  # noqa: E402
from walkthrough.emulator.cloudfront_api import CloudFrontApi  # noqa: E402
from walkthrough.emulator.cloudfront_cache import EdgeCache, check_invalidation_paths  # noqa: E402
from walkthrough.emulator.cloudfront_content import CloudFrontContent  # noqa: E402
from walkthrough.emulator import interpreters, sandbox  # noqa: E402
from walkthrough.emulator.faults import Faults, operation_of  # noqa: E402
from walkthrough.emulator.lambda_logs import LogDelivery  # noqa: E402
from walkthrough.emulator.origins import Origins  # noqa: E402
from walkthrough.emulator.roles import DEFAULT_MODE, MODES, Roles, refusal_response  # noqa: E402
from walkthrough.emulator.runtime import InvocationResult, WorkerPool  # noqa: E402
from walkthrough.emulator.s3_access import S3Access  # noqa: E402
from walkthrough.emulator.s3_bucket_defaults import BucketDefaults  # noqa: E402
from walkthrough.emulator.s3_notifications import NotificationValidation, Sequencer, complete_record  # noqa: E402
from walkthrough.emulator.signatures import Secret, Verifier, missing_authentication, parse  # noqa: E402
from walkthrough.emulator.signatures import refusal as auth_refusal  # noqa: E402
from walkthrough.emulator.wsgi import read_body, signing_service  # noqa: E402

log = logging.getLogger("walkthrough.emulator")


class Emulator:
    """The parts behind the WSGI app, wired together."""

    def __init__(self, port: int, concurrency: int, retry_delays: tuple[float, ...] = RETRY_DELAYS_S, iam_mode: str = DEFAULT_MODE,
                 keys: credentials.Keys | None = None, bind_host: str = "127.0.0.1") -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.started = time.time()
        self.keys = keys or credentials.server_keys(port, lifecycle.state_dir())
        self.clients = InternalClients(self.endpoint, self.keys)
        self.roles = Roles(iam_mode)
        self.verifier = Verifier(self.keys, self.roles.secret, _issued_secret)
        self.origins = Origins.from_env(port, bind_host)
        self.unsigned_refused = 0
        self.faults = Faults()
        self.workers = WorkerPool(self.endpoint, self.roles.credentials_for, LogDelivery(self.clients), self.roles.may_write_logs)
        self.invoker = AsyncInvoker(self.workers, self.roles, self.clients, concurrency, retry_delays)
        self.sequencer = Sequencer()
        moto_internals.install(self._run_now, self.invoker.submit, self._deliver_s3_event)
        self.edge_cache = EdgeCache()
        moto_internals.on_invalidation(self._invalidate)
        self.cloudfront_api = CloudFrontApi(self.edge_cache)
        self.cloudfront_content = CloudFrontContent(self.clients, self.cloudfront_api.identities, self.edge_cache)
        self.apigateway = ApiGateway(self._run_now, self.clients)
        self.notifications = NotificationValidation(self.clients, _bucket_account)
        self.bucket_defaults = BucketDefaults(self.clients)
        self.s3_access = S3Access()
        self._cloudformation_ready = False

    def ensure_cloudformation(self) -> None:
        """Hand CloudFormation's resources to the emulator's handlers, at the first CloudFormation request.

        Not at start: moto's CloudFormation imports most of moto (about 1 s) and most runs never use it.
        """
        if not self._cloudformation_ready:
            moto_internals.install_cloudformation(cloudformation.handlers(self.clients))
            self._cloudformation_ready = True

    def _run_now(self, function: Any, event: Any, client_context: dict[str, Any] | None = None) -> InvocationResult:
        spec = moto_internals.spec_of(function)
        return self.workers.invoke(spec, lambda: moto_internals.code_of(function), event, depth=request_depth() + 1,
                                   client_context=client_context)

    def _invalidate(self, distribution_id: str, paths: list[str]) -> None:
        cleared = self.edge_cache.invalidate(distribution_id, check_invalidation_paths(paths))
        log.info("invalidation of %s for %s: %d cached object(s) removed", distribution_id, ", ".join(paths), cleared)

    def _deliver_s3_event(self, account_id: str, region: str, arn: str, event: Any) -> None:
        if isinstance(event, dict):
            complete_record(event, self.sequencer)
        self.invoker.submit(account_id, region, arn, event)

    def status(self) -> dict[str, Any]:
        return {
            "runtimes": interpreters.describe(),
            "sandbox": "bubblewrap" if sandbox.bubblewrap() else sandbox.fallback_reason(),
            "service": "walkthrough-emulator",
            "pid": os.getpid(),
            "port": self.port,
            "endpoint": self.endpoint,
            "moto": moto.__version__,
            "started_at": self.started,
            "uptime_s": round(time.time() - self.started, 1),
            "pending_invocations": self.invoker.dispatcher.pending,
            "warm_workers": self.workers.workers(),
            "concurrency": self.invoker.dispatcher.concurrency,
            "retry_delays_s": list(self.invoker.retry_delays),
            "iam": self.roles.mode,
            "invocations": self.workers.invocations,
            "running_invocations": self.workers.running,
            "max_concurrent_invocations": self.workers.max_concurrent,
            "async_attempts": self.invoker.dispatcher.attempts,
            "retries": self.invoker.dispatcher.retries,
            "failed_events": self.invoker.failed_events,
            "recursive_invocations_dropped": self.invoker.recursions_stopped,
            "denied_requests": self.roles.denied,
            "injected_faults": self.faults.injected,
            "refused_hosts": self.origins.refused_hosts,
            "refused_preflights": self.origins.refused_preflights,
            "refused_unsigned": self.unsigned_refused,
            "cloudfront_cache": self.edge_cache.stats(),
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
        self.invoker.close()
        self.workers.close()


def _issued_secret(access_key_id: str) -> Secret | None:
    found = moto_internals.issued_secret(access_key_id)
    return Secret(*found) if found else None


def _bucket_account(bucket: str) -> str | None:
    found = moto_internals.find_bucket(bucket)
    return found.account_id if found else None


class EmulatorApp:
    """WSGI middleware in front of moto's dispatcher."""

    def __init__(self, emulator: Emulator, moto_app: Callable[..., Iterable[bytes]]) -> None:
        self.emulator = emulator
        self.moto_app = moto_app
        self.viewers = (emulator.cloudfront_content, emulator.apigateway)
        self.controls = (emulator.notifications, emulator.cloudfront_api, emulator.apigateway, emulator.bucket_defaults, emulator.s3_access)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.emulator.origins(environ, start_response, self._serve)  # the host check and CORS, first

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        set_request_depth(environ.get("HTTP_X_AMZN_TRACE_ID"))
        for viewer in self.viewers:  # loopback CloudFront and API stages: public, as on AWS
            served = viewer.serve(environ, start_response)
            if served is not None:
                return served
        if path == "/_walkthrough/health":
            return self._own(path, environ, start_response)
        refused = self._authenticate(environ, start_response)
        if refused is not None:
            return refused
        if path.startswith("/_walkthrough/"):
            return self._own(path, environ, start_response)
        refusal = self.emulator.roles.authorize(environ)  # a function's call, judged by its role
        if refusal is not None:
            return refusal_response(refusal, start_response)
        if signing_service(environ) == "cloudformation":
            self.emulator.ensure_cloudformation()
        if self.emulator.faults.active:  # test-only: the next N matching requests fail
            failed = self._fault(environ, start_response)
            if failed is not None:
                return failed
        for layer in self.controls:
            answer = layer.control(environ, start_response, self.moto_app)
            if answer is not None:
                return answer
        return self.moto_app(environ, start_response)

    def _authenticate(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        """None when the request is signed with a key the emulator knows, or is an anonymous S3 request."""
        head = environ.get("REQUEST_METHOD") == "HEAD"
        signed = parse(environ)
        if isinstance(signed, str):  # SigV2 or a malformed signature
            service = signing_service(environ) or "s3"
            return auth_refusal(service, environ, "InvalidRequest" if service == "s3" else "IncompleteSignature", signed, status=400).respond(start_response, head)
        if signed is not None:
            answer = self.emulator.verifier.check(environ, signed)
            if answer is not None:
                log.info("refused %s %s: %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), answer.body[:160])
            return answer.respond(start_response, head) if answer is not None else None
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/_walkthrough/", "/moto-api")):
            self.emulator.unsigned_refused += 1
            body = json.dumps({"error": "sign this request with the emulator's key (see `python -m walkthrough emulator env`)"}).encode()
            start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        backend = target.split(".")[0].split("_")[0].lower() if target else moto_internals.unsigned_backend(self.moto_app, environ)
        if backend == "s3" and environ.get("REQUEST_METHOD") != "POST":
            return None  # anonymous S3: s3_access answers as S3 does (anonymous POSTs, which moto would run, are refused)
        self.emulator.unsigned_refused += 1
        return missing_authentication(backend, environ).respond(start_response, head)

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
            body = {"idle": self.emulator.invoker.dispatcher.wait_idle(timeout), "pending_invocations": self.emulator.invoker.dispatcher.pending}
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
    port: int, host: str = "127.0.0.1", concurrency: int = 4, retry_delays: tuple[float, ...] = RETRY_DELAYS_S, iam_mode: str = DEFAULT_MODE
) -> None:
    """Serve until SIGTERM/SIGINT, then stop every worker."""
    emulator = Emulator(port, concurrency, retry_delays, iam_mode, bind_host=host)
    app = EmulatorApp(emulator, DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "walkthrough emulator (moto %s) listening on http://%s:%d; concurrency %d, retry delays %s s, IAM %s",
        moto.__version__, host, port, concurrency, ",".join(f"{d:g}" for d in emulator.invoker.retry_delays), iam_mode,
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
    parser.add_argument("--iam", choices=MODES, default=os.environ.get("WALKTHROUGH_EMULATOR_IAM") or DEFAULT_MODE,
                        help=f"authorize functions' calls against their role (default {DEFAULT_MODE}; see roles.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(args.port, args.host, args.concurrency, retry_delays_from_env(args.retry_delays), args.iam)


if __name__ == "__main__":
    main()
