"""S3 event notifications to Lambda: validating the destination, and the event record S3 sends.

- **Validation.** S3 refuses a notification configuration whose Lambda
  destination does not exist or has not granted ``s3.amazonaws.com``
  permission to invoke it for that bucket: 400 ``InvalidArgument``, "Unable to
  validate the following destination configurations", with each ARN and its
  reason (https://repost.aws/knowledge-center/lambda-invoke-error-s3-bucket-permission).
  moto accepts any, so ``NotificationValidation`` answers
  PutBucketNotificationConfiguration first. The function's policy is judged
  by ``policies.service_may_invoke`` with ``aws:SourceArn`` the bucket and
  ``aws:SourceAccount`` its owner, as S3 sends them.
- **The record.** moto's records lack what AWS's carry
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):
  the ``sequencer`` (hex, growing per bucket, comparable as strings of equal
  length), the identity and request ids; and moto encodes ``/`` in keys,
  which AWS keeps. ``complete_record`` adds them before the event is queued.

Delivery itself (the asynchronous queue, retries) is ``async_invoke.py``'s.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, quote_plus, unquote_plus

from botocore.exceptions import ClientError

from walkthrough.emulator import policies
from walkthrough.emulator.clients import InternalClients
from walkthrough.emulator.s3_requests import s3_target
from walkthrough.emulator.wsgi import read_body, respond, s3_error_with_arguments, signing_service

SERVICE_PRINCIPAL = "s3.amazonaws.com"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


# ------------------------------------------------------------------------- the event record


class Sequencer:
    """S3's per-bucket ``sequencer``: hex, growing with each event, comparable as strings of equal length."""

    def __init__(self) -> None:
        self._counter = itertools.count(time.time_ns() // 1000)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f"{next(self._counter):018X}"


def complete_record(event: dict[str, Any], sequencer: Sequencer) -> dict[str, Any]:
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


def is_s3_event(event: Any) -> bool:
    return isinstance(event, dict) and any(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in event.get("Records", []))


# ------------------------------------------------------------------------- validation


def lambda_destinations(notification_xml: bytes) -> list[str]:
    """The function ARNs a PutBucketNotificationConfiguration body names."""
    if not notification_xml.strip():
        return []
    root = ET.fromstring(notification_xml)
    arns = []
    for element in root.iter():
        tag = element.tag.removeprefix(_S3_NS)
        if tag in ("CloudFunction", "LambdaFunctionArn") and element.text:
            arns.append(element.text.strip())
    return arns


def unvalidated_destinations(lambda_client: Any, bucket: str, account: str, arns: Iterable[str]) -> dict[str, str]:
    """Destination ARN -> S3's reason, for each function S3 could not validate."""
    problems: dict[str, str] = {}
    source_arn = f"arn:aws:s3:::{bucket}"
    for arn in arns:
        try:
            policy = json.loads(lambda_client.get_policy(FunctionName=arn)["Policy"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") != "ResourceNotFoundException":
                raise
            try:  # no policy at all, or no function at all?
                lambda_client.get_function(FunctionName=arn)
            except ClientError:
                problems[arn] = f"The function {arn} does not exist"
                continue
            policy = {}
        if not policies.service_may_invoke(policy, SERVICE_PRINCIPAL, arn, source_arn, account):
            problems[arn] = f"Not authorized to invoke function [{arn}]"
    return problems


class NotificationValidation:
    """The WSGI layer: PutBucketNotificationConfiguration is refused, as S3 refuses it, before moto stores it."""

    def __init__(self, clients: InternalClients, account_of: Callable[[str], str | None]) -> None:
        self._clients = clients
        self._account_of = account_of  # bucket name -> owner account (None: no such bucket)

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        if environ.get("REQUEST_METHOD") != "PUT" or signing_service(environ) not in ("s3", ""):
            return None
        if "notification" not in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            return None
        target = s3_target(environ)
        if target is None or target.key:
            return None
        try:
            arns = lambda_destinations(read_body(environ))
        except ET.ParseError:
            return None  # malformed XML: moto answers with its own error
        account = self._account_of(target.bucket)
        if not arns or account is None:
            return None  # nothing to validate, or NoSuchBucket from moto
        region = arns[0].split(":")[3]
        problems = unvalidated_destinations(self._clients("lambda", region), target.bucket, account, arns)
        if not problems:
            return None
        body = s3_error_with_arguments("InvalidArgument", "Unable to validate the following destination configurations", problems)
        return respond(start_response, 400, body, content_type="application/xml")
