"""Signature Version 4, verified as AWS verifies it: who may call the emulator's APIs.

Every API request must be signed (an ``Authorization: AWS4-HMAC-SHA256 ...``
header, or a presigned URL's ``X-Amz-*`` query parameters) with a key the
emulator knows:

- its own key (``credentials.py``: made at start, in its state folder);
- a function's execution-role credentials, which it minted (``roles.py``);
- keys moto issued to a caller who already had one of those: ``sts
  assume-role``, ``iam create-access-key`` (``moto_internals.issued_secret``).

The signature is recomputed with botocore's own SigV4 code from the request
as it arrived (method, raw path, query, the signed headers only, the payload
hash) and compared in constant time. As AWS does:

- the request time (``X-Amz-Date``) may differ from the clock by 15 minutes
  at most; a presigned URL is good for its ``X-Amz-Expires`` seconds (at most
  7 days);
- S3 takes the payload hash from ``x-amz-content-sha256`` (required with a
  header signature; ``UNSIGNED-PAYLOAD`` and the ``STREAMING-...`` forms are
  accepted as signed values; a hex hash must match the body) and uses the
  path as sent; other services hash the body and encode the path once more;
- temporary credentials need their session token.

Refusals are each service's own words: S3's XML ``InvalidAccessKeyId`` /
``SignatureDoesNotMatch`` / ``RequestTimeTooSkewed`` / ``AccessDenied``
("Request has expired"); JSON services' ``UnrecognizedClientException`` /
``InvalidSignatureException``; query and REST-XML services'
``InvalidClientTokenId`` / ``SignatureDoesNotMatch``. Wording from moto's
error classes (``moto/core/exceptions.py``, ``moto/s3/exceptions.py``) and
AWS's answers.

Unsigned requests: anonymous S3 requests go on (``s3_access.py`` answers
them as S3 does); every other API refuses them (``MissingAuthenticationToken``).
SigV2 is refused ("Please use AWS4-HMAC-SHA256"). The chunk signatures of
``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` uploads are not checked (the seed
signature is).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import HmacV1Auth, SigV4Auth
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

from walkthrough.emulator.credentials import Keys
from walkthrough.emulator.wsgi import read_body, s3_error

#: AWS's limit on the difference between a request's time and the server's clock.
MAX_SKEW_S = 15 * 60
#: The longest a presigned URL may be valid (SigV4: 7 days).
MAX_EXPIRES_S = 7 * 24 * 3600
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_AUTH_PART = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")

INVALID_TOKEN = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
S3_SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
S3_INVALID_KEY = "The AWS Access Key Id you provided does not exist in our records."
MISSING_TOKEN = "Request is missing Authentication Token"
_REST_JSON_SERVICES = {"lambda", "apigateway", "execute-api"}


@dataclass(frozen=True)
class Secret:
    """What verifying a signature needs to know about an access key."""

    secret_access_key: str
    session_token: str | None = None  # temporary credentials must present it


@dataclass(frozen=True)
class Refusal:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def respond(self, start_response: Callable[..., Any], head: bool = False) -> list[bytes]:
        reason = {400: "Bad Request", 403: "Forbidden"}.get(self.status, "Error")
        start_response(f"{self.status} {reason}", [*self.headers, ("Content-Length", str(len(self.body)))])
        return [b""] if head else [self.body]


@dataclass(frozen=True)
class Signed:
    """The SigV4 parts of a request."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool
    expires: str | None
    token: str | None


# ----------------------------------------------------------------------------- answers


def _request_id() -> str:
    return str(uuid.uuid4())


def refusal(service: str, environ: Mapping[str, Any], code: str, message: str, status: int | None = None, **s3_fields: str) -> Refusal:
    """The answer ``service`` gives to an authentication failure, in its protocol's shape."""
    if service == "s3":
        return Refusal(status or 403, [("Content-Type", "application/xml")], s3_error(code, message, **s3_fields))
    request_id = _request_id()
    if environ.get("HTTP_X_AMZ_TARGET"):  # JSON protocol (DynamoDB, CloudWatch Logs, SQS ...)
        version = "1.0" if service == "dynamodb" else "1.1"
        body = json.dumps({"__type": code, "message": message}).encode()
        return Refusal(status or 400, [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", request_id)], body)
    if service in _REST_JSON_SERVICES:  # REST-JSON (Lambda, API Gateway)
        body = json.dumps({"__type": code, "message": message, "Message": message}).encode()
        return Refusal(status or 403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)], body)
    body = (  # query and REST-XML protocols (IAM, STS, SNS, CloudFront ...)
        '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return Refusal(status or 403, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body)


def _invalid_key(service: str, environ: Mapping[str, Any], key: str) -> Refusal:
    if service == "s3":
        return refusal("s3", environ, "InvalidAccessKeyId", S3_INVALID_KEY, AWSAccessKeyId=key)
    code = "UnrecognizedClientException" if environ.get("HTTP_X_AMZ_TARGET") or service in _REST_JSON_SERVICES else "InvalidClientTokenId"
    return refusal(service, environ, code, INVALID_TOKEN)


def _invalid_token(service: str, environ: Mapping[str, Any]) -> Refusal:
    if service == "s3":
        return refusal("s3", environ, "InvalidToken", "The provided token is malformed or otherwise invalid.", status=400)
    return _invalid_key(service, environ, "")


def _mismatch(service: str, environ: Mapping[str, Any], message: str | None = None, **s3_fields: str) -> Refusal:
    if service == "s3":
        return refusal("s3", environ, "SignatureDoesNotMatch", message or S3_SIGNATURE_MISMATCH, **s3_fields)
    code = "InvalidSignatureException" if environ.get("HTTP_X_AMZ_TARGET") or service in _REST_JSON_SERVICES else "SignatureDoesNotMatch"
    return refusal(service, environ, code, message or SIGNATURE_MISMATCH)


def missing_authentication(service: str, environ: Mapping[str, Any]) -> Refusal:
    """An unsigned request to an API that needs a signature."""
    if service == "s3":
        return refusal("s3", environ, "AccessDenied", "Access Denied")
    code = "MissingAuthenticationTokenException" if environ.get("HTTP_X_AMZ_TARGET") else "MissingAuthenticationToken"
    return refusal(service, environ, code, MISSING_TOKEN)


# ----------------------------------------------------------------------------- reading a request


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


@dataclass(frozen=True)
class SignedV2:
    """S3's Signature Version 2 (what boto3 still presigns S3 URLs with, unless told ``s3v4``)."""

    access_key_id: str
    signature: str
    date: str  # the Date header, or the presigned URL's Expires
    expires: str | None
    token: str | None
    service: str = "s3"


def parse(environ: Mapping[str, Any]) -> Signed | SignedV2 | str | None:
    """The request's SigV4 parts; None when unsigned; a reason (str) when signed some other way."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = dict(_query_pairs(environ.get("QUERY_STRING", "")))
    if auth.startswith("AWS4-HMAC-SHA256"):
        parts = dict(_AUTH_PART.findall(auth))
        credential, signed, signature = parts.get("Credential", ""), parts.get("SignedHeaders", ""), parts.get("Signature", "")
        timestamp = environ.get("HTTP_X_AMZ_DATE", "")
        if not timestamp and environ.get("HTTP_DATE"):
            try:
                timestamp = parsedate_to_datetime(environ["HTTP_DATE"]).strftime(_TIMESTAMP)
            except (TypeError, ValueError):
                timestamp = ""
        presigned, expires, token = False, None, environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    elif query.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256" or "X-Amz-Signature" in query:
        credential, signed, signature = query.get("X-Amz-Credential", ""), query.get("X-Amz-SignedHeaders", ""), query.get("X-Amz-Signature", "")
        timestamp, presigned, expires = query.get("X-Amz-Date", ""), True, query.get("X-Amz-Expires")
        token = query.get("X-Amz-Security-Token") or environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    elif auth.startswith("AWS ") and ":" in auth:  # S3's Signature Version 2, header form
        key, _, signature = auth[4:].strip().rpartition(":")
        return SignedV2(key, signature, environ.get("HTTP_DATE", ""), None, environ.get("HTTP_X_AMZ_SECURITY_TOKEN"))
    elif "AWSAccessKeyId" in query and "Signature" in query and "Expires" in query:  # S3 SigV2 presigned URL
        return SignedV2(query["AWSAccessKeyId"], query["Signature"], query["Expires"], query["Expires"],
                        query.get("x-amz-security-token") or environ.get("HTTP_X_AMZ_SECURITY_TOKEN"))
    elif auth or "AWSAccessKeyId" in query or "Signature" in query:
        return "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
    else:
        return None
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0] or not signed or not signature:
        return "Authorization header or query parameters are malformed: expected Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders and Signature."
    return Signed(scope[0], scope[1], scope[2], scope[3], tuple(signed.lower().split(";")), signature, timestamp, presigned, expires, token)


def _header(environ: Mapping[str, Any], name: str) -> str:
    if name == "content-type":
        return environ.get("CONTENT_TYPE", "")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH", "")
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def _raw_path(environ: Mapping[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0]
    else:  # not werkzeug: rebuild from the decoded path
        path = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"), safe="/~!$&'()*+,;=:@")
    return path or "/"


def _timestamp(value: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value, _TIMESTAMP)))
    except (ValueError, OverflowError):
        return None


# ----------------------------------------------------------------------------- the verifier


class Verifier:
    """Checks a request's SigV4 signature against the keys the emulator knows."""

    def __init__(self, own: Keys, *lookups: Callable[[str], Secret | None], clock: Callable[[], float] = time.time) -> None:
        self._own = own
        self._lookups = lookups
        self._clock = clock

    def secret_of(self, access_key_id: str) -> Secret | None:
        if hmac.compare_digest(access_key_id, self._own.access_key_id):
            return Secret(self._own.secret_access_key)
        for lookup in self._lookups:
            found = lookup(access_key_id)
            if found is not None:
                return found
        return None

    def check(self, environ: dict[str, Any], signed: Signed | SignedV2) -> Refusal | None:
        """None when the signature is good; otherwise the service's refusal."""
        service = signed.service
        secret = self.secret_of(signed.access_key_id)
        if secret is None:
            return _invalid_key(service, environ, signed.access_key_id)
        if secret.session_token is not None and not hmac.compare_digest(signed.token or "", secret.session_token):
            return _invalid_token(service, environ)
        if isinstance(signed, SignedV2):
            return self._check_v2(environ, signed, secret)
        late = self._check_time(environ, signed)
        if late is not None:
            return late
        body_hash, problem = self._payload_hash(environ, signed)
        if problem is not None:
            return problem
        auth = SigV4Auth(Credentials(signed.access_key_id, secret.secret_access_key), service, signed.region)
        for canonical in self._canonical_requests(environ, signed, auth, body_hash):
            string_to_sign = _string_to_sign(signed, canonical)
            expected = _signature(auth, secret.secret_access_key, signed, string_to_sign)
            if hmac.compare_digest(expected, signed.signature):
                return None
        if service == "s3":
            return _mismatch("s3", environ, AWSAccessKeyId=signed.access_key_id, StringToSign=string_to_sign,
                             SignatureProvided=signed.signature, CanonicalRequest=canonical)
        return _mismatch(service, environ)

    def _check_v2(self, environ: dict[str, Any], signed: SignedV2, secret: Secret) -> Refusal | None:
        now = self._clock()
        if signed.expires is not None:
            try:
                expires = int(signed.expires)
            except ValueError:
                expires = 0
            if now > expires:
                return refusal("s3", environ, "AccessDenied", "Request has expired", Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
                               ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        else:
            try:
                when = parsedate_to_datetime(signed.date).timestamp()
            except (TypeError, ValueError):
                return refusal("s3", environ, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
            if abs(now - when) > MAX_SKEW_S:
                return refusal("s3", environ, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.",
                               RequestTime=signed.date, ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                               MaxAllowedSkewMilliseconds=str(MAX_SKEW_S * 1000))
        headers = HTTPHeaders()
        for name, value in environ.items():
            if name.startswith("HTTP_X_AMZ_") or name == "HTTP_CONTENT_MD5":
                headers[name[5:].replace("_", "-").lower()] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("HTTP_CONTENT_MD5"):
            headers["content-md5"] = environ["HTTP_CONTENT_MD5"]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or _raw_path(environ)
        auth = _HmacV1(Credentials(signed.access_key_id, secret.secret_access_key), signed.date)
        string_to_sign = auth.canonical_string(environ.get("REQUEST_METHOD", "GET"), urlsplit(raw), headers)
        if hmac.compare_digest(auth.sign_string(string_to_sign), signed.signature):
            return None
        return _mismatch("s3", environ, AWSAccessKeyId=signed.access_key_id, StringToSign=string_to_sign, SignatureProvided=signed.signature)

    def _check_time(self, environ: Mapping[str, Any], signed: Signed) -> Refusal | None:
        service = signed.service
        when = _timestamp(signed.timestamp)
        if when is None:
            if service == "s3":
                return refusal("s3", environ, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
            return refusal(service, environ, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", status=400 if environ.get("HTTP_X_AMZ_TARGET") else 403)
        now = self._clock()
        stamp = lambda t: time.strftime(_TIMESTAMP, time.gmtime(t))  # noqa: E731
        if signed.presigned:
            try:
                expires = int(signed.expires or "")
            except ValueError:
                expires = -1
            if not 1 <= expires <= MAX_EXPIRES_S:
                return refusal(service, environ, "AuthorizationQueryParametersError",
                               "X-Amz-Expires must be a number of seconds from 1 to 604800 (7 days)", status=400)
            if now > when + expires:
                if service == "s3":
                    return refusal("s3", environ, "AccessDenied", "Request has expired", **{
                        "X-Amz-Expires": str(expires), "Expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when + expires)),
                        "ServerTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
                return _mismatch(service, environ, f"Signature expired: {signed.timestamp} is now earlier than {stamp(now - expires)} ({stamp(now)} - {expires} sec.)")
            if when > now + MAX_SKEW_S:
                if service == "s3":
                    return refusal("s3", environ, "AccessDenied", "Request is not valid yet")
                return _mismatch(service, environ, f"Signature not yet current: {signed.timestamp} is still later than {stamp(now + MAX_SKEW_S)} ({stamp(now)} + 15 min.)")
            return None
        if abs(now - when) <= MAX_SKEW_S:
            return None
        if service == "s3":
            return refusal("s3", environ, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.",
                           RequestTime=signed.timestamp, ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                           MaxAllowedSkewMilliseconds=str(MAX_SKEW_S * 1000))
        if when < now:
            return _mismatch(service, environ, f"Signature expired: {signed.timestamp} is now earlier than {stamp(now - MAX_SKEW_S)} ({stamp(now)} - 15 min.)")
        return _mismatch(service, environ, f"Signature not yet current: {signed.timestamp} is still later than {stamp(now + MAX_SKEW_S)} ({stamp(now)} + 15 min.)")

    def _payload_hash(self, environ: dict[str, Any], signed: Signed) -> tuple[str, Refusal | None]:
        declared = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
        if signed.service == "s3":
            if declared is None:
                if signed.presigned:
                    return "UNSIGNED-PAYLOAD", None
                return "", refusal("s3", environ, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256", status=400)
            if _HEX_SHA256.match(declared):
                actual = hashlib.sha256(read_body(environ)).hexdigest()
                if not hmac.compare_digest(actual, declared):
                    return "", refusal("s3", environ, "XAmzContentSHA256Mismatch",
                                       "The provided 'x-amz-content-sha256' header does not match what was computed.", status=400,
                                       ClientComputedContentSHA256=declared, S3ComputedContentSHA256=actual)
            return declared, None
        if declared is not None:
            return declared, None
        body = read_body(environ)
        return (hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256), None

    def _canonical_requests(self, environ: Mapping[str, Any], signed: Signed, auth: SigV4Auth, body_hash: str) -> list[str]:
        """The canonical request(s) the client may have signed: as sent, then re-encoded the way other SDKs do."""
        method = environ.get("REQUEST_METHOD", "GET").upper()
        pairs = _query_pairs(environ.get("QUERY_STRING", ""))
        if signed.presigned:
            pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
        query = "&".join(f"{k}={v}" for k, v in sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs))
        headers = "".join(f"{name}:{' '.join(_header(environ, name).split())}\n" for name in signed.signed_headers)
        signed_names = ";".join(signed.signed_headers)
        raw = _raw_path(environ)
        if signed.service == "s3":  # S3: the path as sent (keys are encoded once); else as AWS re-encodes it
            paths = [raw, quote(unquote(raw), safe="/~")]
        else:  # other services encode the (already encoded) path once more
            paths = [quote(normalize_url_path(raw), safe="/~")]
        out = []
        for path in dict.fromkeys(paths):
            out.append("\n".join([method, path, query, headers, signed_names, body_hash]))
        return out


def _string_to_sign(signed: Signed, canonical: str) -> str:
    scope = f"{signed.date}/{signed.region}/{signed.service}/aws4_request"
    return "\n".join(["AWS4-HMAC-SHA256", signed.timestamp, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])


def _signature(auth: SigV4Auth, secret: str, signed: Signed, string_to_sign: str) -> str:
    """botocore's SigV4 key derivation and HMAC (``SigV4Auth.signature``), over the client's scope date."""

    class _Request:  # what SigV4Auth.signature reads: the timestamp whose date starts the key derivation
        context = {"timestamp": signed.date + signed.timestamp[8:]}

    return auth.signature(string_to_sign, _Request())


class _HmacV1(HmacV1Auth):
    """botocore's SigV2 for S3, with the request's own Date (or Expires) instead of the clock's."""

    def __init__(self, credentials: Credentials, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date
