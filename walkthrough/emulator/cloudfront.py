"""CloudFront locally: origin access identities (moto has none) and distributions served on loopback.

**Origin access identities.** The ``2020-05-31`` REST-XML API
(``/2020-05-31/origin-access-identity/cloudfront[/{Id}[/config]]``): create
(201, ``Location`` and ``ETag``; the same ``CallerReference`` with the same
comment returns the existing identity, with another comment is refused),
get, get-config, list (``Marker``/``MaxItems`` paging), update and delete
(both need ``If-Match`` with the current ETag: missing is 400
``InvalidIfMatchVersion``, stale is 412 ``PreconditionFailed``; deleting an
identity a distribution still names is 409
``CloudFrontOriginAccessIdentityInUse``). State lives in this process, per
account, and is cleared by moto's reset. A distribution naming an identity
that does not exist is refused with 400 ``InvalidOriginAccessIdentity``, and
one origin naming both an OAI and an OAC with 400
``IllegalOriginAccessConfiguration``, as CloudFront does.

**Serving.** Each distribution is reachable at
``http://127.0.0.1:<port>/_walkthrough/cloudfront/<Id>/<path>`` and
``http://<id>.cloudfront.localhost:<port>/<path>`` (and, with a ``Host``
header, at its ``dxxxx.cloudfront.net`` domain). A request follows the
distribution's configuration as moto stores it:

- unknown distribution: 404 (on AWS the domain would not resolve);
  disabled: CloudFront's 403 "The request could not be satisfied" page;
- the first cache behaviour whose path pattern matches (else the default)
  picks the origin and the allowed methods (others: 403);
- ``/`` is the default root object when one is set; the origin path is put
  in front of the key;
- the S3 origin is read as CloudFront reads it: with an origin access control
  as the service principal ``cloudfront.amazonaws.com`` with
  ``aws:SourceArn`` = the distribution's ARN; with an origin access identity
  as ``arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity <Id>``
  (or its canonical user); with neither, anonymously. The bucket policy
  decides (``policies.evaluate``; explicit Deny wins), and refusals are the
  S3 error S3 would send through CloudFront: 403 ``AccessDenied``, and for a
  missing key 404 ``NoSuchKey`` only when the same caller may list the
  bucket (else 403);
- the object's headers come along (``Content-Type``, ``ETag``,
  ``Last-Modified``, ``Cache-Control`` ...) with CloudFront's (``X-Cache``,
  ``Via``, ``X-Amz-Cf-Id``, ``X-Amz-Cf-Pop``) and two of the emulator's:
  ``X-Walkthrough-Distribution`` and ``X-Walkthrough-Viewer-Protocol-Policy``
  (loopback speaks plain HTTP, so ``redirect-to-https`` and ``https-only``
  are reported, not enforced). Nothing is cached: every answer is a miss.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from walkthrough.emulator import moto_hooks, policies, s3_access
from walkthrough.emulator.checks import read_body, request_path, respond, s3_error, signing_service
from walkthrough.emulator.urls import CLOUDFRONT_HOST_SUFFIX, CLOUDFRONT_PREFIX, cloudfront_url

#: ``local_url(endpoint, distribution_id, path="")``: the loopback address of ``path`` through a distribution.
local_url = cloudfront_url

API_VERSION = "2020-05-31"
NAMESPACE = f"http://cloudfront.amazonaws.com/doc/{API_VERSION}/"
OAI_PATH = f"/{API_VERSION}/origin-access-identity/cloudfront"
DISTRIBUTION_PATH = f"/{API_VERSION}/distribution"
OAI_PRINCIPAL_PREFIX = "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
SERVICE_PRINCIPAL = "cloudfront.amazonaws.com"
POP = "LOOPBACK1-P1"  # what X-Amz-Cf-Pop says: the edge location that answered
_S3_DOMAIN = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.\-]*?)\.s3(?:[.-][a-z0-9.\-]*)?\.amazonaws\.com$")
_ID_ALPHABET = string.ascii_uppercase + string.digits


def _new_id() -> str:
    return "E" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(13))


@dataclass
class OriginAccessIdentity:
    id: str
    s3_canonical_user_id: str
    caller_reference: str
    comment: str
    etag: str

    @property
    def principal_arn(self) -> str:
        return OAI_PRINCIPAL_PREFIX + self.id

    @property
    def path(self) -> str:
        return f"origin-access-identity/cloudfront/{self.id}"


class CloudFrontError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class OriginAccessIdentities:
    """The per-account store of origin access identities (thread-safe; insertion order is list order)."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[str, OriginAccessIdentity]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._by_account.clear()

    def _account(self, account_id: str) -> dict[str, OriginAccessIdentity]:
        return self._by_account.setdefault(account_id, {})

    def get(self, account_id: str, oai_id: str) -> OriginAccessIdentity:
        with self._lock:
            found = self._account(account_id).get(oai_id)
        if found is None:
            raise CloudFrontError(404, "NoSuchCloudFrontOriginAccessIdentity", "The specified origin access identity does not exist.")
        return found

    def find(self, account_id: str, oai_id: str) -> OriginAccessIdentity | None:
        with self._lock:
            return self._account(account_id).get(oai_id)

    def create(self, account_id: str, caller_reference: str, comment: str) -> tuple[OriginAccessIdentity, bool]:
        """The new identity (True), or the existing one with this caller reference and comment (False)."""
        with self._lock:
            identities = self._account(account_id)
            for existing in identities.values():
                if existing.caller_reference == caller_reference:
                    if existing.comment == comment:
                        return existing, False
                    raise CloudFrontError(409, "CloudFrontOriginAccessIdentityAlreadyExists",
                                          "If the CallerReference is a value you already sent in a previous request to create an "
                                          "identity but the content of the CloudFrontOriginAccessIdentityConfig is different from "
                                          "the original request, CloudFront returns a CloudFrontOriginAccessIdentityAlreadyExists error.")
            oai = OriginAccessIdentity(_new_id(), secrets.token_hex(32), caller_reference, comment, _new_id())
            while oai.id in identities:
                oai.id = _new_id()
            identities[oai.id] = oai
            return oai, True

    def list(self, account_id: str) -> list[OriginAccessIdentity]:
        with self._lock:
            return list(self._account(account_id).values())

    def update(self, account_id: str, oai_id: str, if_match: str | None, caller_reference: str, comment: str) -> OriginAccessIdentity:
        with self._lock:
            oai = self._account(account_id).get(oai_id)
            if oai is None:
                raise CloudFrontError(404, "NoSuchCloudFrontOriginAccessIdentity", "The specified origin access identity does not exist.")
            _check_if_match(oai, if_match)
            if caller_reference != oai.caller_reference:
                raise CloudFrontError(400, "IllegalUpdate", "The CallerReference of an origin access identity cannot be changed.")
            oai.comment = comment
            oai.etag = _new_id()
            return oai

    def delete(self, account_id: str, oai_id: str, if_match: str | None, in_use: Callable[[OriginAccessIdentity], bool]) -> None:
        with self._lock:
            oai = self._account(account_id).get(oai_id)
            if oai is None:
                raise CloudFrontError(404, "NoSuchCloudFrontOriginAccessIdentity", "The specified origin access identity does not exist.")
            _check_if_match(oai, if_match)
            if in_use(oai):
                raise CloudFrontError(409, "CloudFrontOriginAccessIdentityInUse", "The CloudFront origin access identity is still being used.")
            del self._account(account_id)[oai_id]


def _check_if_match(oai: OriginAccessIdentity, if_match: str | None) -> None:
    if not if_match:
        raise CloudFrontError(400, "InvalidIfMatchVersion", "The If-Match version is missing or not valid for the resource.")
    if if_match.strip().strip('"') != oai.etag:
        raise CloudFrontError(412, "PreconditionFailed", "The precondition given in one or more of the request-header fields evaluated to false.")


# ------------------------------------------------------------------------- XML


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_oai_config(body: bytes) -> tuple[str, str]:
    if not body.strip():
        raise CloudFrontError(400, "MissingBody", "This operation requires a body. Ensure that the body is present and the Content-Type header is set.")
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise CloudFrontError(400, "MalformedInput", "The XML document is not well-formed.") from None
    if _strip(root.tag) != "CloudFrontOriginAccessIdentityConfig":
        raise CloudFrontError(400, "MalformedInput", "Expected a CloudFrontOriginAccessIdentityConfig document.")
    values = {_strip(child.tag): (child.text or "") for child in root}
    if not values.get("CallerReference"):
        raise CloudFrontError(400, "InvalidArgument", "CallerReference is required.")
    if "Comment" not in values:
        raise CloudFrontError(400, "InvalidArgument", "Comment is required.")
    if len(values["Comment"]) > 128:
        raise CloudFrontError(400, "InvalidArgument", "The comment must be 128 characters or fewer.")
    return values["CallerReference"], values["Comment"]


def _config_xml(oai: OriginAccessIdentity, root: bool = False) -> str:
    xmlns = f' xmlns="{NAMESPACE}"' if root else ""
    return (f"<CloudFrontOriginAccessIdentityConfig{xmlns}><CallerReference>{escape(oai.caller_reference)}</CallerReference>"
            f"<Comment>{escape(oai.comment)}</Comment></CloudFrontOriginAccessIdentityConfig>")


def _oai_xml(oai: OriginAccessIdentity) -> str:
    return (f'<CloudFrontOriginAccessIdentity xmlns="{NAMESPACE}"><Id>{oai.id}</Id>'
            f"<S3CanonicalUserId>{oai.s3_canonical_user_id}</S3CanonicalUserId>{_config_xml(oai)}</CloudFrontOriginAccessIdentity>")


def _xml(document: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + document).encode()


def _error_xml(error: CloudFrontError) -> bytes:
    kind = "Sender" if error.status < 500 else "Receiver"
    return _xml(f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>'
                f"<Message>{escape(error.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


def _origin_access(body: bytes) -> list[tuple[str, str]]:
    """(OAI path, OAC id) of each origin in a DistributionConfig document."""
    root = ET.fromstring(body)
    found = []
    for element in root.iter():
        if _strip(element.tag) != "Origin":
            continue
        oai = oac = ""
        for child in element:
            name = _strip(child.tag)
            if name == "OriginAccessControlId":
                oac = (child.text or "").strip()
            elif name == "S3OriginConfig":
                for grandchild in child:
                    if _strip(grandchild.tag) == "OriginAccessIdentity":
                        oai = (grandchild.text or "").strip()
        found.append((oai, oac))
    return found


# ------------------------------------------------------------------- viewer side


def _error_page(status: int, reason: str, detail: str, request_id: str) -> bytes:
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n'
        '<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">\n'
        "<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
        f"<H1>{status} ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n"
        f"{escape(reason)}\n{escape(detail)}\n<BR clear=\"all\">\n<HR noshade size=\"1px\">\n<PRE>\n"
        f"Generated by cloudfront (CloudFront)\nRequest ID: {request_id}\n</PRE>\n<ADDRESS>\n</ADDRESS>\n</BODY></HTML>"
    ).encode("latin-1", "replace")



def choose_behaviour(distribution: moto_hooks.DistributionView, path: str) -> moto_hooks.BehaviourView:
    """The first cache behaviour whose path pattern matches ``path``, else the default behaviour."""
    for behaviour in distribution.behaviours:
        if behaviour.path_pattern and policies.matches(behaviour.path_pattern.lstrip("/"), path.lstrip("/")):
            return behaviour
    return distribution.default_behaviour


def bucket_of(origin_domain: str) -> str | None:
    """The bucket of an S3 origin domain (``b.s3.amazonaws.com``, ``b.s3.eu-west-1.amazonaws.com`` ...)."""
    match = _S3_DOMAIN.match(origin_domain.lower())
    return match.group("bucket") if match else None


def object_key(distribution: moto_hooks.DistributionView, origin: moto_hooks.OriginView, path: str) -> str:
    """The S3 key a viewer path reads: default root object for ``/``, under the origin path."""
    key = path.lstrip("/")
    if path in ("", "/") and distribution.default_root_object:
        key = distribution.default_root_object.lstrip("/")
    prefix = origin.origin_path.strip("/")
    return f"{prefix}/{key}" if prefix else key


class CloudFront:
    """The WSGI layer for CloudFront: the OAI API, distribution checks, and the viewer side."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.identities = OriginAccessIdentities()
        self._s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    # ---------------------------------------------------------------- dispatch

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        """Viewer requests (path form or host form); None when the request is not one."""
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith(CLOUDFRONT_PREFIX):
            distribution_id, _, rest = path[len(CLOUDFRONT_PREFIX):].partition("/")
            return self._view(environ, start_response, moto_hooks.find_distribution(moto_hooks.DEFAULT_ACCOUNT_ID, distribution_id),
                              distribution_id, "/" + rest)
        host = environ.get("HTTP_HOST", "").split(":")[0].lower()
        if host.endswith(CLOUDFRONT_HOST_SUFFIX):
            distribution_id = host[: -len(CLOUDFRONT_HOST_SUFFIX)].split(".")[-1]
            return self._view(environ, start_response, moto_hooks.find_distribution(moto_hooks.DEFAULT_ACCOUNT_ID, distribution_id),
                              distribution_id, path)
        if host.endswith(".cloudfront.net"):
            return self._view(environ, start_response, moto_hooks.find_distribution_by_domain(moto_hooks.DEFAULT_ACCOUNT_ID, host),
                              host, path)
        return None

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        """The OAI API and the checks on distributions' origin access; None to let moto answer."""
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/moto-api/reset" and method == "POST":
            self.identities.reset()
            return None
        if not path.startswith(f"/{API_VERSION}/"):
            return None
        if signing_service(environ) != "cloudfront" and not environ.get("HTTP_HOST", "").startswith("cloudfront."):
            return None
        try:
            if path == OAI_PATH or path.startswith(OAI_PATH + "/"):
                return self._oai_api(environ, start_response, method, path[len(OAI_PATH):].strip("/"))
            if (method == "POST" and path.rstrip("/") == DISTRIBUTION_PATH) or (
                method == "PUT" and path.startswith(DISTRIBUTION_PATH + "/") and path.endswith("/config")
            ):
                self._check_origin_access(read_body(environ))
        except CloudFrontError as error:
            return respond(start_response, error.status, _error_xml(error), content_type="text/xml")
        return None

    # ------------------------------------------------------------------- OAI API

    def _oai_api(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str, rest: str) -> Iterable[bytes]:
        account = moto_hooks.DEFAULT_ACCOUNT_ID
        if_match = environ.get("HTTP_IF_MATCH")
        parts = [p for p in rest.split("/") if p]
        request_id = str(uuid.uuid4())
        common = [("x-amzn-RequestId", request_id)]
        if not parts and method == "POST":
            caller_reference, comment = _parse_oai_config(read_body(environ))
            oai, _ = self.identities.create(account, caller_reference, comment)
            location = f"https://cloudfront.amazonaws.com{OAI_PATH}/{oai.id}"
            return respond(start_response, 201, _xml(_oai_xml(oai)), [*common, ("Location", location), ("ETag", oai.etag)], "text/xml")
        if not parts and method == "GET":
            return respond(start_response, 200, _xml(self._list_xml(account, environ)), common, "text/xml")
        if len(parts) == 1 and method == "GET":
            oai = self.identities.get(account, parts[0])
            return respond(start_response, 200, _xml(_oai_xml(oai)), [*common, ("ETag", oai.etag)], "text/xml")
        if len(parts) == 1 and method == "DELETE":
            self.identities.delete(account, parts[0], if_match, lambda oai: self._in_use(account, oai))
            return respond(start_response, 204, b"", common)
        if len(parts) == 2 and parts[1] == "config" and method == "GET":
            oai = self.identities.get(account, parts[0])
            return respond(start_response, 200, _xml(_config_xml(oai, root=True)), [*common, ("ETag", oai.etag)], "text/xml")
        if len(parts) == 2 and parts[1] == "config" and method == "PUT":
            caller_reference, comment = _parse_oai_config(read_body(environ))
            oai = self.identities.update(account, parts[0], if_match, caller_reference, comment)
            return respond(start_response, 200, _xml(_oai_xml(oai)), [*common, ("ETag", oai.etag)], "text/xml")
        raise CloudFrontError(404, "NotFound", "The requested resource was not found.")

    def _list_xml(self, account: str, environ: dict[str, Any]) -> str:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        marker = (query.get("Marker") or [""])[0]
        try:
            max_items = int((query.get("MaxItems") or ["100"])[0])
        except ValueError:
            raise CloudFrontError(400, "InvalidArgument", "MaxItems must be a number.") from None
        if max_items < 0:
            raise CloudFrontError(400, "InvalidArgument", "MaxItems must not be negative.")
        everything = self.identities.list(account)
        start = 0
        if marker:
            ids = [o.id for o in everything]
            start = ids.index(marker) + 1 if marker in ids else len(everything)
        page = everything[start:start + max_items]
        truncated = start + max_items < len(everything)
        items = "".join(
            f"<CloudFrontOriginAccessIdentitySummary><Id>{o.id}</Id><S3CanonicalUserId>{o.s3_canonical_user_id}</S3CanonicalUserId>"
            f"<Comment>{escape(o.comment)}</Comment></CloudFrontOriginAccessIdentitySummary>"
            for o in page
        )
        return (
            f'<CloudFrontOriginAccessIdentityList xmlns="{NAMESPACE}"><Marker>{escape(marker)}</Marker>'
            + (f"<NextMarker>{page[-1].id}</NextMarker>" if truncated and page else "")
            + f"<MaxItems>{max_items}</MaxItems><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"<Quantity>{len(page)}</Quantity>" + (f"<Items>{items}</Items>" if page else "")
            + "</CloudFrontOriginAccessIdentityList>"
        )

    def _in_use(self, account: str, oai: OriginAccessIdentity) -> bool:
        return any(origin.oai_id == oai.id for d in moto_hooks.list_distributions(account) for origin in d.origins)

    def _check_origin_access(self, body: bytes) -> None:
        try:
            origins = _origin_access(body)
        except ET.ParseError:
            return  # moto answers malformed documents
        account = moto_hooks.DEFAULT_ACCOUNT_ID
        for oai_path, oac_id in origins:
            if oai_path and oac_id:
                raise CloudFrontError(400, "IllegalOriginAccessConfiguration",
                                      "An origin cannot use both an origin access control (OAC) and an origin access identity (OAI).")
            if oai_path:
                prefix, _, oai_id = oai_path.rpartition("/")
                if prefix != "origin-access-identity/cloudfront" or self.identities.find(account, oai_id) is None:
                    raise CloudFrontError(400, "InvalidOriginAccessIdentity", "The specified origin access identity does not exist or is not valid.")
            if oac_id and oac_id not in moto_hooks.origin_access_control_ids(account):
                raise CloudFrontError(400, "InvalidOriginAccessControl", "The specified origin access control does not exist or is not valid.")

    # -------------------------------------------------------------- viewer side

    def _view(self, environ: dict[str, Any], start_response: Callable[..., Any], distribution: moto_hooks.DistributionView | None,
              asked: str, raw_path: str) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        head = method == "HEAD"
        request_id = secrets.token_urlsafe(42)[:56]
        if distribution is None:
            body = _error_page(404, "Not found.", f"The emulator has no CloudFront distribution {asked!r}.", request_id)
            return respond(start_response, 404, body, [("X-Cache", "Error from cloudfront")], "text/html", head)
        common = [
            ("X-Cache", "Miss from cloudfront"),
            ("Via", f"1.1 {distribution.domain_name} (CloudFront)"),
            ("X-Amz-Cf-Pop", POP),
            ("X-Amz-Cf-Id", request_id),
            ("X-Walkthrough-Distribution", distribution.id),
        ]

        def error(status: int, body: bytes, content_type: str) -> list[bytes]:
            headers = [(k, "Error from cloudfront" if k == "X-Cache" else v) for k, v in common]
            return respond(start_response, status, body, headers, content_type, head)

        if not distribution.enabled:
            return error(403, _error_page(403, "Bad request.", "We can't connect to the server for this app or website at this time. "
                                          "There might be too much traffic or a configuration error. (The distribution is disabled.)",
                                          request_id), "text/html")
        path = request_path(raw_path) or "/"
        behaviour = choose_behaviour(distribution, path)
        common.append(("X-Walkthrough-Viewer-Protocol-Policy", behaviour.viewer_protocol_policy))
        if method not in behaviour.allowed_methods:
            return error(403, _error_page(403, "Bad request.", "This distribution is not configured to allow the HTTP request method "
                                          "that was used for this request. The distribution supports only cachable requests.",
                                          request_id), "text/html")
        origin = distribution.origin(behaviour.target_origin_id)
        bucket_name = bucket_of(origin.domain_name) if origin else None
        if origin is None or bucket_name is None:
            return error(502, _error_page(502, "Bad gateway.", "CloudFront wasn't able to connect to the origin. (The emulator serves "
                                          "S3 origins only.)", request_id), "text/html")
        key = object_key(distribution, origin, path)
        bucket = moto_hooks.find_bucket(bucket_name)
        if bucket is None:
            return error(404, s3_error("NoSuchBucket", "The specified bucket does not exist", BucketName=bucket_name), "application/xml")
        if not key:  # "/" without a default root object: a bucket listing, which the emulator does not serve
            return error(403, s3_error("AccessDenied", "Access Denied"), "application/xml")
        allowed = self._origin_allows(distribution, origin, bucket, key)
        if not allowed("s3:GetObject", f"arn:aws:s3:::{bucket.name}/{key}"):
            return error(403, s3_error("AccessDenied", "Access Denied"), "application/xml")
        return self._fetch(environ, start_response, common, error, head, bucket, key, allowed)

    def _origin_allows(self, distribution: moto_hooks.DistributionView, origin: moto_hooks.OriginView,
                       bucket: moto_hooks.BucketView, key: str) -> Callable[[str, str], bool]:
        """How S3 judges CloudFront's request to this origin: allowed(action, resource)."""
        context: dict[str, Any] = {"aws:SecureTransport": "true", "aws:SourceIp": "127.0.0.1"}
        if origin.oac_id and origin.oac_signing_behavior in ("always", "no-override"):
            caller = policies.Caller(service=SERVICE_PRINCIPAL)
            context.update({"aws:SourceArn": distribution.arn, "aws:SourceAccount": distribution.account_id,
                            "aws:PrincipalServiceName": SERVICE_PRINCIPAL})
        elif origin.oai_id and (oai := self.identities.find(distribution.account_id, origin.oai_id)) is not None:
            caller = policies.Caller(aws=(oai.principal_arn,), canonical_user=oai.s3_canonical_user_id, account="cloudfront")
        else:
            def anonymous(action: str, resource: str) -> bool:
                ctx = {**context, "aws:PrincipalType": "Anonymous", **({"s3:prefix": key} if action == "s3:ListBucket" else {})}
                object_key_ = resource.split("/", 1)[1] if "/" in resource else ""
                return s3_access.anonymous_allowed(bucket, action, object_key_, ctx)
            return anonymous

        def allowed(action: str, resource: str) -> bool:
            ctx = {**context, **({"s3:prefix": key} if action == "s3:ListBucket" else {})}
            decision = policies.evaluate(bucket.policy, policies.Request(caller, action, resource, ctx))
            if decision != "Allow":
                return False
            # RestrictPublicBuckets: with a public policy, only service principals and the owner's account get in.
            restricted = bucket.block_public_access.get("RestrictPublicBuckets") and policies.is_public(bucket.policy)
            return not (restricted and caller.service is None)
        return allowed

    def _fetch(self, environ: dict[str, Any], start_response: Callable[..., Any], common: list[tuple[str, str]],
               error: Callable[[int, bytes, str], list[bytes]], head: bool, bucket: moto_hooks.BucketView, key: str,
               allowed: Callable[[str, str], bool]) -> Iterable[bytes]:
        params: dict[str, Any] = {"Bucket": bucket.name, "Key": key}
        for header, name in (("HTTP_RANGE", "Range"), ("HTTP_IF_NONE_MATCH", "IfNoneMatch"), ("HTTP_IF_MATCH", "IfMatch"),
                             ("HTTP_IF_MODIFIED_SINCE", "IfModifiedSince"), ("HTTP_IF_UNMODIFIED_SINCE", "IfUnmodifiedSince")):
            if environ.get(header) and not (head and name == "Range"):
                params[name] = environ[header]
        try:
            answer = self._s3.head_object(**params) if head else self._s3.get_object(**params)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            code = exc.response.get("Error", {}).get("Code", "")
            if status == 304 or code == "304":
                return respond(start_response, 304, b"", [*common, *_object_headers(exc.response)])
            if status == 404 or code in ("NoSuchKey", "404"):
                if allowed("s3:ListBucket", f"arn:aws:s3:::{bucket.name}"):
                    return error(404, s3_error("NoSuchKey", "The specified key does not exist.", Key=key), "application/xml")
                return error(403, s3_error("AccessDenied", "Access Denied"), "application/xml")
            if status == 412 or code == "PreconditionFailed":
                return error(412, s3_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"), "application/xml")
            if status == 416 or code == "InvalidRange":
                return error(416, s3_error("InvalidRange", "The requested range is not satisfiable"), "application/xml")
            return error(502, s3_error(code or "InternalError", str(exc)), "application/xml")
        body = b"" if head else answer["Body"].read()
        status = 206 if answer.get("ContentRange") else 200
        headers = [*common, *_object_headers(answer)]
        if head:
            headers.append(("Content-Length", str(answer.get("ContentLength", 0))))
            start_response("200 OK", [*headers])
            return [b""]
        return respond(start_response, status, body, headers, answer.get("ContentType") or "binary/octet-stream")


def _object_headers(answer: dict[str, Any]) -> list[tuple[str, str]]:
    """The S3 response headers CloudFront passes on to the viewer."""
    raw = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    headers: list[tuple[str, str]] = []
    names = {
        "content-type": "Content-Type", "etag": "ETag", "last-modified": "Last-Modified", "cache-control": "Cache-Control",
        "content-encoding": "Content-Encoding", "content-disposition": "Content-Disposition", "content-language": "Content-Language",
        "expires": "Expires", "content-range": "Content-Range", "accept-ranges": "Accept-Ranges",
        "x-amz-version-id": "x-amz-version-id", "x-amz-server-side-encryption": "x-amz-server-side-encryption",
    }
    for name, value in raw.items():
        lowered = name.lower()
        if lowered in names:
            headers.append((names[lowered], value))
        elif lowered.startswith("x-amz-meta-"):
            headers.append((lowered, value))
    if "last-modified" not in {k.lower() for k, _ in headers} and answer.get("LastModified") is not None:
        headers.append(("Last-Modified", format_datetime(answer["LastModified"], usegmt=True)))
    if "accept-ranges" not in {k.lower() for k, _ in headers}:
        headers.append(("Accept-Ranges", "bytes"))
    return headers

