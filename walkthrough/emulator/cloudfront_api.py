"""CloudFront's control plane where moto lacks it: origin access identities, and the checks on a distribution's origins.

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
``IllegalOriginAccessConfiguration``, as CloudFront does; one naming a cache
policy other than AWS's managed ones (the emulator has no cache policy API)
with 404 ``NoSuchCachePolicy``.

Moto's reset and deleting a distribution also empty its edge cache
(``cloudfront_cache``). The content a distribution serves is
``cloudfront_content.py``'s.
"""

from __future__ import annotations

import secrets
import string
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from walkthrough.emulator import moto_internals
from walkthrough.emulator.cloudfront_cache import MANAGED_CACHE_POLICIES, EdgeCache
from walkthrough.emulator.wsgi import read_body, respond, signing_service

API_VERSION = "2020-05-31"
NAMESPACE = f"http://cloudfront.amazonaws.com/doc/{API_VERSION}/"
OAI_PATH = f"/{API_VERSION}/origin-access-identity/cloudfront"
DISTRIBUTION_PATH = f"/{API_VERSION}/distribution"
OAI_PRINCIPAL_PREFIX = "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
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


class CloudFrontApi:
    """The WSGI layer for CloudFront's control plane: the OAI API and the checks on distributions' origin access."""

    def __init__(self, cache: EdgeCache | None = None) -> None:
        self.identities = OriginAccessIdentities()
        self.cache = cache

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        """The OAI API and the checks on distributions' origin access; None to let moto answer."""
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/moto-api/reset" and method == "POST":
            self.identities.reset()
            if self.cache is not None:
                self.cache.clear()
            return None
        if not path.startswith(f"/{API_VERSION}/"):
            return None
        if signing_service(environ) != "cloudfront" and not environ.get("HTTP_HOST", "").startswith("cloudfront."):
            return None
        try:
            if path == OAI_PATH or path.startswith(OAI_PATH + "/"):
                return self._oai_api(environ, start_response, method, path[len(OAI_PATH):].strip("/"))
            if method == "DELETE" and path.startswith(DISTRIBUTION_PATH + "/") and self.cache is not None:
                self.cache.clear(path[len(DISTRIBUTION_PATH) + 1:].split("/")[0])  # its edge cache goes with it
            if (method == "POST" and path.rstrip("/") == DISTRIBUTION_PATH) or (
                method == "PUT" and path.startswith(DISTRIBUTION_PATH + "/") and path.endswith("/config")
            ):
                self._check_origin_access(read_body(environ))
        except CloudFrontError as error:
            return respond(start_response, error.status, _error_xml(error), content_type="text/xml")
        return None


    def _oai_api(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str, rest: str) -> Iterable[bytes]:
        account = moto_internals.DEFAULT_ACCOUNT_ID
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
        return any(origin.oai_id == oai.id for d in moto_internals.list_distributions(account) for origin in d.origins)

    def _check_origin_access(self, body: bytes) -> None:
        try:
            origins = _origin_access(body)
            policies = [(e.text or "").strip() for e in ET.fromstring(body).iter() if _strip(e.tag) == "CachePolicyId"]
        except ET.ParseError:
            return  # moto answers malformed documents
        if any(p and p not in MANAGED_CACHE_POLICIES for p in policies):  # the emulator has only AWS's managed policies
            raise CloudFrontError(404, "NoSuchCachePolicy", "The cache policy does not exist.")
        account = moto_internals.DEFAULT_ACCOUNT_ID
        for oai_path, oac_id in origins:
            if oai_path and oac_id:
                raise CloudFrontError(400, "IllegalOriginAccessConfiguration",
                                      "An origin cannot use both an origin access control (OAC) and an origin access identity (OAI).")
            if oai_path:
                prefix, _, oai_id = oai_path.rpartition("/")
                if prefix != "origin-access-identity/cloudfront" or self.identities.find(account, oai_id) is None:
                    raise CloudFrontError(400, "InvalidOriginAccessIdentity", "The specified origin access identity does not exist or is not valid.")
            if oac_id and oac_id not in moto_internals.origin_access_control_ids(account):
                raise CloudFrontError(400, "InvalidOriginAccessControl", "The specified origin access control does not exist or is not valid.")
