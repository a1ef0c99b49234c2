"""Asynchronous invocations, as Lambda queues them: S3 notifications and InvocationType=Event.

An upload returns at once; its notification waits in the function's queue
and runs on a worker when the function's concurrency allows (its reserved
concurrency, else the emulator-wide limit); a failed attempt is queued again
after a delay, as Lambda retries asynchronous invocations. The S3 event record is completed
to the format AWS documents (moto omits the sequencer and the identity fields),
and a chain of functions that keeps writing into its own trigger is stopped
after ``MAX_RECURSION_DEPTH`` hops, as Lambda's recursive loop detection does.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from urllib.parse import quote_plus, unquote_plus
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("walkthrough.emulator.events")

MAX_RECURSION_DEPTH = 16
_LINEAGE = re.compile(r"Lineage=[0-9a-fA-F]+:(\d+)")

_request = threading.local()


def set_request_depth(trace_header: str | None) -> None:
    """Remember, for this request's thread, how deep in a function chain it was made."""
    match = _LINEAGE.search(trace_header or "")
    _request.depth = int(match.group(1)) if match else 0


def request_depth() -> int:
    """The depth of the request being served on this thread (0: not from a function)."""
    return getattr(_request, "depth", 0)


class Sequencer:
    """S3's per-bucket ``sequencer``: hex, growing with each event, comparable as strings of equal length."""

    def __init__(self) -> None:
        self._counter = itertools.count(time.time_ns() // 1000)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f"{next(self._counter):018X}"


def complete_s3_event(event: dict[str, Any], sequencer: Sequencer) -> dict[str, Any]:
    """Add what AWS's S3 event records carry and moto's lack (sequencer, identity, request ids, key encoding)."""
    for record in event.get("Records", []):
        record.setdefault("userIdentity", {"principalId": "AWS:AIDAWALKTHROUGHLOCAL"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex})
        obj = record.get("s3", {}).get("object", {})
        if "key" in obj:  # moto encodes "/" too; AWS keeps folder separators as they are
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
        obj.setdefault("sequencer", sequencer.next())
    return event


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

    def __init__(self, attempt: Attempt, concurrency: int = 4, limit_of: LimitOf | None = None) -> None:
        self._attempt = attempt
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
        self.sequencer = Sequencer()
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
        if isinstance(event, dict) and "Records" in event:
            complete_s3_event(event, self.sequencer)
        if depth > MAX_RECURSION_DEPTH:
            log.warning(
                "Lambda has detected that %s is part of a recursive loop (depth %d) and stopped the invocation", arn, depth
            )
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
