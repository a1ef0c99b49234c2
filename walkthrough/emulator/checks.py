"""Checks AWS makes and moto skips, where the tutorial's steps meet them.

S3 refuses a notification configuration whose Lambda destination does not
exist or has not granted ``s3.amazonaws.com`` permission to invoke it for that
bucket ("Unable to validate the following destination configurations"). The
check asks the emulator's own Lambda API (public calls, no moto internals).
"""

from __future__ import annotations

import fnmatch
import io
import json
import uuid
import xml.etree.ElementTree as ET
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


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


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows(policy: dict[str, Any], service: str, source_arn: str, action: str = "lambda:InvokeFunction") -> bool:
    """Whether a resource policy lets ``service`` invoke for ``source_arn`` (the subset Lambda policies use)."""
    for statement in _as_list(policy.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else [principal]
        if service not in services and "*" not in services:
            continue
        actions = _as_list(statement.get("Action", []))
        if not any(fnmatch.fnmatchcase(action, pattern) for pattern in actions):
            continue
        conditions = statement.get("Condition", {})
        patterns = [
            arn
            for operator in ("ArnLike", "ArnEquals", "StringEquals", "StringLike")
            for arn in _as_list(conditions.get(operator, {}).get("AWS:SourceArn", []))
        ]
        if patterns and not any(fnmatch.fnmatchcase(source_arn, p) for p in patterns):
            continue
        return True
    return False


def unvalidated_destinations(lambda_client: Any, bucket: str, arns: list[str]) -> dict[str, str]:
    """Destination ARN -> S3's reason, for each function S3 could not validate."""
    problems: dict[str, str] = {}
    source_arn = f"arn:aws:s3:::{bucket}"
    for arn in arns:
        try:
            policy = json.loads(lambda_client.get_policy(FunctionName=arn)["Policy"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                try:
                    lambda_client.get_function(FunctionName=arn)
                except ClientError:
                    problems[arn] = f"The function {arn} does not exist"
                    continue
                policy = {}
            else:
                raise
        if not policy_allows(policy, "s3.amazonaws.com", source_arn):
            problems[arn] = f"Not authorized to invoke function [{arn}]"
    return problems


def s3_error_xml(code: str, message: str, arguments: dict[str, str] | None = None) -> bytes:
    """An S3 error body as AWS writes it, with ArgumentNameN/ArgumentValueN pairs."""
    fields: dict[str, str] = {}
    for index, (name, value) in enumerate((arguments or {}).items(), start=1):
        fields[f"ArgumentName{index}"] = name
        fields[f"ArgumentValue{index}"] = value
    return s3_error(code, message, **fields)


# ------------------------------------------------------------------ WSGI helpers for the emulator's own answers


def read_body(environ: dict[str, Any]) -> bytes:
    """Read a WSGI request's body and put it back, so the next application can read it again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def respond(
    start_response: Any,
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = None,
    head: bool = False,
) -> list[bytes]:
    """Answer a WSGI request; ``head`` keeps the headers (Content-Length included) and drops the body."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    out = [(k, v) for k, v in (headers or []) if k.lower() != "content-length"]
    if content_type and not any(k.lower() == "content-type" for k, _ in out):
        out.insert(0, ("Content-Type", content_type))
    if status not in (204, 304):
        out.append(("Content-Length", str(len(body))))
    start_response(f"{status} {reason}", out)
    return [b""] if head or status in (204, 304) else [body]


def s3_error(code: str, message: str, **fields: str) -> bytes:
    """An S3 error body with extra top-level elements (``Key``, ``BucketName`` ...), as S3 writes them."""
    extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>{extra}"
        f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId><HostId>walkthrough-emulator</HostId></Error>"
    ).encode()


def signing_service(environ: dict[str, Any]) -> str:
    """The service a request is signed for (SigV4 credential scope); "" when unsigned or SigV2."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return scope[3] if len(scope) >= 4 else ""
    return ""


def request_path(raw: str) -> str:
    """A WSGI ``PATH_INFO`` (percent-decoded UTF-8 carried as latin-1) back to the text the client meant."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw
