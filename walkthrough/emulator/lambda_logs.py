"""Delivering a function's log to CloudWatch Logs, as Lambda does after each invocation.

These are the platform's writes (Lambda's), made through the emulator's own
Logs API: whether the function's role may write its log is decided before
(``Roles.may_write_logs``). A stream is created once and then only appended
to (one request per invocation).
"""

from __future__ import annotations

import threading
import time

from walkthrough.emulator.clients import InternalClients


class CloudWatchSink:
    """Writes execution-environment log streams in one region."""

    def __init__(self, clients: InternalClients, region: str) -> None:
        self._logs = clients("logs", region)
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


class LogDelivery:
    """One sink per region, made on first use: what the worker pool hands a finished invocation's log to."""

    def __init__(self, clients: InternalClients) -> None:
        self._clients = clients
        self._sinks: dict[str, CloudWatchSink] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> CloudWatchSink:
        with self._lock:
            if region not in self._sinks:
                self._sinks[region] = CloudWatchSink(self._clients, region)
            return self._sinks[region]
