"""The emulator's own boto3 clients: the emulator calling its own public APIs, as AWS's services call each other.

S3 validating a notification asks Lambda for the function's policy; CloudFront
reads its origin through S3; Lambda writes a function's log to CloudWatch
Logs and sends invocation records to a destination. Each goes through the
emulator's front door signed with the emulator's own key, so it meets the
same answers a user's client would. One cached client per service and region.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from walkthrough.emulator import credentials


class InternalClients:
    """Cached clients of the emulator at ``endpoint`` (thread-safe)."""

    def __init__(self, endpoint: str, keys: credentials.Keys) -> None:
        self.endpoint = endpoint
        self.keys = keys
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str = "us-east-1") -> Any:
        with self._lock:
            if (service, region) not in self._clients:
                self._clients[service, region] = boto3.client(
                    service, endpoint_url=self.endpoint, region_name=region, **self.keys.boto3_kwargs(),
                    # path-style S3 (loopback has no bucket subdomains); few retries: a failure here is reported, not hidden
                    config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}),
                )
            return self._clients[service, region]
