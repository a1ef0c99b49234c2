"""New buckets as S3 creates them today: Block Public Access on, ACLs disabled.

Since April 2023 S3 gives every new bucket all four Block Public Access
settings and Object Ownership ``BucketOwnerEnforced``, which disables ACLs
(https://aws.amazon.com/about-aws/whats-new/2022/12/amazon-s3-automatically-enable-block-public-access-disable-access-control-lists-buckets-april-2023/).
moto creates buckets with neither, so old tutorials' ``--acl public-read``
works there and fails on AWS. Here, as on S3
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html):

- ``CreateBucket`` without ``x-amz-object-ownership`` gets
  ``BucketOwnerEnforced``, and every new bucket gets Block Public Access on;
  with an ACL that grants anyone but the owner (``--acl public-read`` …) and
  that ownership it is refused: 400 ``InvalidBucketAclWithObjectOwnership``;
- on a bucket whose ACLs are disabled, a request that sets an ACL
  (``PutObject``/``CopyObject``/``CreateMultipartUpload`` with ``x-amz-acl`` or
  ``x-amz-grant-*``, ``PutObjectAcl``, ``PutBucketAcl``) is refused: 400
  ``AccessControlListNotSupported``, "The bucket does not allow ACLs", except
  the canned ``bucket-owner-full-control``, which S3 accepts;
- a bucket created with ``ObjectWriter`` (or ``BucketOwnerPreferred``)
  ownership accepts ACLs, once its Block Public Access is lifted for public ones.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from walkthrough.emulator import moto_internals
from walkthrough.emulator.clients import InternalClients
from walkthrough.emulator.s3_requests import s3_target
from walkthrough.emulator.wsgi import read_body, respond, s3_error, signing_service

log = logging.getLogger("walkthrough.emulator.s3")

DEFAULT_OWNERSHIP = "BucketOwnerEnforced"
BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
#: The canned ACL S3 still accepts with ACLs disabled (and "private" on CreateBucket: only the owner has access).
ALLOWED_CANNED = {"bucket-owner-full-control"}
_GRANT_HEADERS = ("HTTP_X_AMZ_GRANT_READ", "HTTP_X_AMZ_GRANT_WRITE", "HTTP_X_AMZ_GRANT_READ_ACP",
                  "HTTP_X_AMZ_GRANT_WRITE_ACP", "HTTP_X_AMZ_GRANT_FULL_CONTROL")
_SUBRESOURCES_OF_CREATE = ("acl", "policy", "cors", "website", "tagging", "versioning", "notification", "publicAccessBlock",
                           "logging", "lifecycle", "encryption", "ownershipControls", "object-lock", "replication",
                           "accelerate", "requestPayment", "intelligent-tiering", "inventory", "metrics", "analytics")


def _sets_acl(environ: dict[str, Any]) -> bool:
    canned = environ.get("HTTP_X_AMZ_ACL", "").strip().lower()
    return bool(canned and canned not in ALLOWED_CANNED) or any(environ.get(h) for h in _GRANT_HEADERS)


def _acl_not_supported(start_response: Callable[..., Any]) -> list[bytes]:
    return respond(start_response, 400, s3_error("AccessControlListNotSupported", "The bucket does not allow ACLs"),
                   content_type="application/xml")


class BucketDefaults:
    """The WSGI layer: AWS's defaults on CreateBucket, and ACLs refused where a bucket disables them."""

    def __init__(self, clients: InternalClients) -> None:
        self._clients = clients

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        if environ.get("REQUEST_METHOD") not in ("PUT", "POST"):
            return None
        if signing_service(environ) != "s3" and not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS "):
            return None  # anonymous requests are s3_access's
        target = s3_target(environ)
        if target is None or "_" in target.bucket:
            return None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if not target.key and environ["REQUEST_METHOD"] == "PUT" and not any(q in query for q in _SUBRESOURCES_OF_CREATE):
            return self._create_bucket(environ, start_response, app, target.bucket)
        if environ["REQUEST_METHOD"] == "POST" and not (target.key and "uploads" in query):
            return None  # only CreateMultipartUpload carries an ACL among POSTs
        if not (_sets_acl(environ) or ("acl" in query and self._acl_body_grants_others(environ))):
            return None
        bucket = moto_internals.find_bucket(target.bucket)
        if bucket is None or bucket.acls_enabled:
            return None
        return _acl_not_supported(start_response)

    @staticmethod
    def _acl_body_grants_others(environ: dict[str, Any]) -> bool:
        """A PutObjectAcl/PutBucketAcl body that grants a group, an e-mail address or another account."""
        body = read_body(environ).decode("utf-8", "replace")
        return "<URI>" in body or "<EmailAddress>" in body or body.count("<Grant>") > 1

    def _create_bucket(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]],
                       name: str) -> Iterable[bytes] | None:
        if moto_internals.find_bucket(name) is not None:
            return None  # it exists: moto answers (BucketAlreadyOwnedByYou, or 200 in us-east-1); nothing is reset
        ownership = environ.get("HTTP_X_AMZ_OBJECT_OWNERSHIP", "").strip() or DEFAULT_OWNERSHIP
        canned = environ.get("HTTP_X_AMZ_ACL", "").strip().lower()
        if ownership == DEFAULT_OWNERSHIP and ((canned and canned != "private") or any(environ.get(h) for h in _GRANT_HEADERS)):
            message = "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
            return respond(start_response, 400, s3_error("InvalidBucketAclWithObjectOwnership", message), content_type="application/xml")
        status: dict[str, str] = {}

        def capture(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status["line"] = line
            return start_response(line, headers, exc_info) if exc_info else start_response(line, headers)

        chunks = list(app(environ, capture))
        if status.get("line", "").startswith("200"):
            self._apply_defaults(name, ownership, explicit=bool(environ.get("HTTP_X_AMZ_OBJECT_OWNERSHIP")))
        return chunks

    def _apply_defaults(self, name: str, ownership: str, explicit: bool) -> None:
        s3 = self._clients("s3")
        try:
            if not explicit:
                s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]})
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
        except Exception as exc:  # noqa: BLE001 - the bucket exists; say loudly that its defaults are missing
            log.error("bucket %s was created without S3's defaults (Block Public Access, %s): %s", name, ownership, exc)
