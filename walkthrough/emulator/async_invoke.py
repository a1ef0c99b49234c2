"""Asynchronous invocation, as Lambda does it: the queue, concurrency, retries, destinations, loop detection.

An S3 notification or an ``InvocationType=Event`` call returns at once; the
event waits in the function's queue and runs on a worker when the function's
concurrency allows (its reserved concurrency, else the emulator-wide limit).
A failed attempt is queued again after a delay, up to the function's
``MaximumRetryAttempts`` (default 2) and ``MaximumEventAgeInSeconds``;
then, or on success, Lambda's invocation record goes to the configured
destination (SQS, SNS or Lambda), if the function's role may send it there
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). A chain
of functions that keeps writing into its own trigger is stopped after
``MAX_RECURSION_DEPTH`` hops, as Lambda's recursive loop detection does
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html: "if your
function is invoked as part of a chain of requests approximately 16 times,
Lambda drops the next invocation"), and counted in the CloudWatch metric
``RecursiveInvocationsDropped``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from walkthrough.emulator import moto_internals
from walkthrough.emulator.clients import InternalClients
from walkthrough.emulator.roles import Check, Roles
from walkthrough.emulator.runtime import FunctionSpec, InvocationResult, WorkerPool

log = logging.getLogger("walkthrough.emulator.async")

MAX_RECURSION_DEPTH = 16
#: botocore's documentation of Lambda's RecursiveInvocationException (AWS's wording).
RECURSION_STOPPED = ("Lambda has detected your function being invoked in a recursive loop with other AWS resources "
                     "and stopped your function's invocation.")
_LINEAGE = re.compile(r"Lineage=[0-9a-fA-F]+:(\d+)")
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


_request = threading.local()


def set_request_depth(trace_header: str | None) -> None:
    """Remember, for this request's thread, how deep in a function chain it was made."""
    match = _LINEAGE.search(trace_header or "")
    _request.depth = int(match.group(1)) if match else 0


def request_depth() -> int:
    """The depth of the request being served on this thread (0: not from a function)."""
    return getattr(_request, "depth", 0)


@dataclass
class AsyncEvent:
    """One asynchronous invocation request, from the queue to its last attempt."""

    account_id: str
    region: str
    arn: str
    payload: Any
    depth: int
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the same on every attempt, as on Lambda
    received: float = field(default_factory=time.time)
    attempts: int = 0  # attempts made so far


#: One attempt: returns the delay before the next attempt, or None when the event is done (or given up).
Attempt = Callable[[AsyncEvent], "float | None"]
#: A function's reserved concurrency (None: it shares the emulator-wide limit).
LimitOf = Callable[[AsyncEvent], "int | None"]


class AsyncDispatcher:
    """Lambda's asynchronous queue: bounded concurrency, retries after a delay, nothing dropped.

    Events wait in one queue per function. A function with reserved
    concurrency runs at most that many at once; the others share the
    emulator-wide limit (``concurrency``). The excess waits; a failed attempt
    goes back to the queue after the delay ``attempt`` returns, without
    holding a concurrency slot while it waits.
    """

    def __init__(self, attempt: Attempt, concurrency: int = 4, limit_of: LimitOf | None = None,
                 dropped: Callable[[AsyncEvent], None] | None = None) -> None:
        self._attempt = attempt
        self._dropped = dropped or (lambda event: None)
        self._limit_of = limit_of or (lambda event: None)
        self.concurrency = max(1, concurrency)
        # Threads are only started for admitted attempts; this is just a ceiling.
        self._executor = ThreadPoolExecutor(max_workers=256, thread_name_prefix="lambda-async")
        self._queues: dict[str, deque[AsyncEvent]] = {}
        self._running: dict[str, int] = {}
        self._unreserved_running = 0
        self._waiting_retries = 0
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Condition()
        self._closed = False
        self.attempts = 0
        self.retries = 0

    @property
    def pending(self) -> int:
        """Queued, running and waiting-to-retry invocations."""
        with self._lock:
            return self._pending_locked()

    def _pending_locked(self) -> int:
        return sum(len(q) for q in self._queues.values()) + sum(self._running.values()) + self._waiting_retries

    def submit(self, account_id: str, region: str, arn: str, event: Any) -> bool:
        """Queue one invocation; returns False when recursion detection stops it."""
        depth = request_depth() + 1
        if depth > MAX_RECURSION_DEPTH:
            log.warning("%s (%s, invocation %d of its chain was dropped)", RECURSION_STOPPED, arn, depth)
            self._dropped(AsyncEvent(account_id, region, arn, event, depth))
            return False
        self._enqueue(AsyncEvent(account_id, region, arn, event, depth))
        return True

    def _enqueue(self, event: AsyncEvent) -> None:
        with self._lock:
            if self._closed:
                return
            self._queues.setdefault(event.arn, deque()).append(event)
            self._pump_locked()

    def _pump_locked(self) -> None:
        """Start every queued attempt the limits admit (called with the lock held)."""
        for arn in list(self._queues):
            queue = self._queues[arn]
            while queue:
                try:
                    reserved = self._limit_of(queue[0])
                except Exception:  # noqa: BLE001 - the function is gone: the attempt itself reports it
                    reserved = None
                running = self._running.get(arn, 0)
                if reserved is not None:
                    if running >= reserved:
                        break
                elif self._unreserved_running >= self.concurrency:
                    break
                event = queue.popleft()
                self._running[arn] = running + 1
                if reserved is None:
                    self._unreserved_running += 1
                self.attempts += 1
                self.retries += 1 if event.attempts else 0
                self._executor.submit(self._run, event, reserved is None)
            if not queue:
                del self._queues[arn]

    def _run(self, event: AsyncEvent, unreserved: bool) -> None:
        delay: float | None = None
        try:
            delay = self._attempt(event)
        except Exception:
            log.exception("asynchronous invocation of %s failed", event.arn)
        finally:
            with self._lock:
                self._running[event.arn] -= 1
                if not self._running[event.arn]:
                    del self._running[event.arn]
                if unreserved:
                    self._unreserved_running -= 1
                if delay is not None and not self._closed:
                    self._schedule_locked(event, delay)
                self._pump_locked()
                self._lock.notify_all()

    def _schedule_locked(self, event: AsyncEvent, delay: float) -> None:
        self._waiting_retries += 1

        def due() -> None:
            with self._lock:
                self._timers.discard(timer)
                self._waiting_retries -= 1
                if not self._closed:
                    self._queues.setdefault(event.arn, deque()).append(event)
                    self._pump_locked()
                self._lock.notify_all()

        timer = threading.Timer(max(0.0, delay), due)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued, running or waiting to be retried (used by tests and the CLI)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending_locked():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._queues.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)


class AsyncInvoker:
    """Runs queued events on the worker pool; decides retries, gives up, and delivers invocation records."""

    def __init__(self, workers: WorkerPool, roles: Roles, clients: InternalClients, concurrency: int,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self._workers = workers
        self._roles = roles
        self._clients = clients
        self.retry_delays = tuple(retry_delays) or RETRY_DELAYS_S
        self.failed_events = 0
        self.recursions_stopped = 0
        self.dispatcher = AsyncDispatcher(self._attempt, concurrency, self._reserved_concurrency, self._recursion_stopped)

    def submit(self, account_id: str, region: str, arn: str, event: Any) -> bool:
        """Queue one invocation (False when recursion detection stopped it)."""
        return self.dispatcher.submit(account_id, region, arn, event)

    def _recursion_stopped(self, event: AsyncEvent) -> None:
        """What Lambda does besides dropping the event: the ``RecursiveInvocationsDropped`` metric (AWS/Lambda, by function).

        It is published from a thread of its own: the drop happens inside the
        request (an S3 upload) whose notification would have invoked the function.
        """
        self.recursions_stopped += 1
        name = event.arn.split(":")[6] if event.arn.count(":") >= 6 else event.arn

        def publish() -> None:
            try:
                self._clients("cloudwatch", event.region).put_metric_data(Namespace="AWS/Lambda", MetricData=[{
                    "MetricName": "RecursiveInvocationsDropped", "Dimensions": [{"Name": "FunctionName", "Value": name}],
                    "Value": 1.0, "Unit": "Count",
                }])
            except Exception as exc:  # noqa: BLE001 - a metric lost is logged, never a failure of the upload
                log.error("could not publish RecursiveInvocationsDropped for %s: %s", name, exc)

        threading.Thread(target=publish, name="recursion-metric", daemon=True).start()

    def _reserved_concurrency(self, event: AsyncEvent) -> int | None:
        function = moto_internals.find_function(event.account_id, event.region, event.arn)
        return moto_internals.async_settings_of(function).reserved_concurrency

    def _attempt(self, event: AsyncEvent) -> float | None:
        """One attempt of an asynchronous invocation: the delay before the next one, or None when done."""
        try:
            function = moto_internals.find_function(event.account_id, event.region, event.arn)
        except Exception:
            log.warning("asynchronous event for %s dropped: the function does not exist", event.arn)
            return None
        spec = moto_internals.spec_of(function)
        settings = moto_internals.async_settings_of(function)
        if time.time() - event.received > settings.max_event_age_s:
            self._give_up(event, spec, settings, "EventAgeExceeded", None)
            return None
        event.attempts += 1
        result = self._workers.invoke(spec, lambda: moto_internals.code_of(function), event.payload, depth=event.depth, request_id=event.request_id)
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

    def _give_up(self, event: AsyncEvent, spec: FunctionSpec, settings: moto_internals.AsyncSettings, condition: str, result: InvocationResult | None) -> None:
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
        if not self._roles.allows(spec.role, Check(action, destination)):
            log.error("destination %s of %s: its role %s may not %s; the record is lost (as on AWS)", destination, spec.name, spec.role, action)
            return
        body = json.dumps(record, default=str)
        try:
            if service == "sqs":
                sqs = self._clients("sqs", region)
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                sqs.send_message(QueueUrl=url, MessageBody=body)
            elif service == "sns":
                self._clients("sns", region).publish(TopicArn=destination, Message=body)
            else:
                self._clients("lambda", region).invoke(FunctionName=destination, InvocationType="Event", Payload=body.encode())
            log.info("invocation record of %s (%s) sent to %s", spec.name, record["requestContext"]["condition"], destination)
        except Exception as exc:  # noqa: BLE001 - a missing queue loses the record, as on AWS
            log.error("destination %s of %s could not take the record: %s", destination, spec.name, exc)

    def close(self) -> None:
        self.dispatcher.close()


def _brief(result: InvocationResult) -> str:
    error = result.error or {}
    return f"{error.get('errorType', 'Error')}: {str(error.get('errorMessage', ''))[:300]}"
