"""Asynchronous invocations, as Lambda queues them: S3 notifications and InvocationType=Event.

An upload returns at once; its notification waits in a bounded pool (like a
function's concurrency) and runs on a worker. The S3 event record is completed
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
from concurrent.futures import ThreadPoolExecutor
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


class AsyncDispatcher:
    """Runs asynchronous invocations on a bounded pool; the excess waits, nothing is dropped."""

    def __init__(self, invoke: Callable[[str, str, str, Any, int], Any], concurrency: int = 4) -> None:
        self._invoke = invoke
        self._executor = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="lambda-async")
        self._pending = 0
        self._lock = threading.Condition()
        self.sequencer = Sequencer()
        self.concurrency = concurrency

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

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
        with self._lock:
            self._pending += 1
        self._executor.submit(self._run, account_id, region, arn, event, depth)
        return True

    def _run(self, account_id: str, region: str, arn: str, event: Any, depth: int) -> None:
        try:
            self._invoke(account_id, region, arn, event, depth)
        except Exception:
            log.exception("asynchronous invocation of %s failed", arn)
        finally:
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running (used by tests and the CLI)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
