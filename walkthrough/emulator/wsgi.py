"""WSGI plumbing shared by the emulator's layers: reading requests and writing AWS-shaped answers.

Every layer in front of moto reads the same few things from a request (its
body, which service it is signed for, with which access key, the path as the
client meant it) and answers in the same few shapes (S3's XML errors, plain
bodies with the right headers). Pure functions of the WSGI environ.
"""

from __future__ import annotations

import io
import uuid
from http import HTTPStatus
from typing import Any, Mapping
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape


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


def s3_error_with_arguments(code: str, message: str, arguments: Mapping[str, str]) -> bytes:
    """An S3 error body with ``ArgumentNameN``/``ArgumentValueN`` pairs (S3's notification errors)."""
    fields: dict[str, str] = {}
    for index, (name, value) in enumerate(arguments.items(), start=1):
        fields[f"ArgumentName{index}"] = name
        fields[f"ArgumentValue{index}"] = value
    return s3_error(code, message, **fields)


def credential_scope(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) of a SigV4-signed request (header or presigned URL), else None."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        scope = unquote((query.get("X-Amz-Credential") or [""])[0])
    parts = scope.split("/")
    if len(parts) < 4 or not parts[0]:
        return None
    return parts[0], parts[2], parts[3]


def signing_service(environ: Mapping[str, Any]) -> str:
    """The service a request is signed for (SigV4 credential scope); "" when unsigned or SigV2."""
    scope = credential_scope(environ) if "Credential=" in environ.get("HTTP_AUTHORIZATION", "") else None
    return scope[2] if scope else ""


def request_path(raw: str) -> str:
    """A WSGI ``PATH_INFO`` (percent-decoded UTF-8 carried as latin-1) back to the text the client meant."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw
