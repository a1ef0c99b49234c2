"""S3's answer to anonymous requests and to public bucket policies, which moto does not give.

moto's S3 serves an unsigned request for an object whenever the bucket policy
has any Allow for ``s3:GetObject`` (it ignores the principal and the
conditions), so a bucket that grants only CloudFront would be readable by
anyone who knows the URL. Here, as on S3:

- an anonymous request (no ``Authorization`` header, no presigned-URL
  signature) is judged against the bucket policy for the anonymous principal
  (explicit Deny wins), then the bucket's and object's ACLs (unless ACLs are
  disabled or ``IgnorePublicAcls`` is on). With ``RestrictPublicBuckets`` on,
  a bucket whose policy is public serves no anonymous request at all. A
  refusal is S3's 403 ``AccessDenied``; a missing object is 403 too unless
  the caller may list the bucket (then 404, from moto). Allowed requests go
  on to moto.
- ``PutBucketPolicy`` with a public policy (see ``policies.is_public``) while
  ``BlockPublicPolicy`` is on (for the bucket or the account) is refused
  with S3's 403 and message; a grant to a service principal pinned by
  ``aws:SourceArn`` is not public and passes. A canned public ACL
  (``x-amz-acl: public-read`` ...) is refused under ``BlockPublicAcls``.

Signed requests are moto's business, unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from walkthrough.emulator import credentials, moto_internals, policies
from walkthrough.emulator.s3_requests import Target, action_of, s3_target
from walkthrough.emulator.wsgi import read_body, respond, s3_error, signing_service

log = logging.getLogger("walkthrough.emulator.s3")

#: What moto's STS answers to GetCallerIdentity with the emulator's fake credentials.
DEFAULT_CALLER_ARN = f"arn:aws:sts::{credentials.ACCOUNT_ID}:user/moto"
PUBLIC_CANNED_ACLS = {"public-read", "public-read-write", "authenticated-read"}
_NOT_S3_PREFIXES = ("/moto-api", "/_walkthrough/", "/latest/meta-data/", "/latest/api/", "/favicon.ico")
_SIGNATURE_PARAMS = {"x-amz-signature", "signature", "x-amz-credential", "awsaccesskeyid"}

def is_anonymous(environ: dict[str, Any], query: dict[str, list[str]]) -> bool:
    if environ.get("HTTP_AUTHORIZATION") or environ.get("HTTP_X_AMZ_TARGET"):
        return False
    return not any(name.lower() in _SIGNATURE_PARAMS for name in query)


def _context(environ: dict[str, Any], query: dict[str, list[str]], action: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "aws:SourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
        "aws:SecureTransport": "true",  # the emulator stands in for S3's HTTPS endpoint
        "aws:PrincipalType": "Anonymous",
    }
    if environ.get("HTTP_USER_AGENT"):
        context["aws:UserAgent"] = environ["HTTP_USER_AGENT"]
    if environ.get("HTTP_REFERER"):
        context["aws:Referer"] = environ["HTTP_REFERER"]
    if action == "s3:ListBucket":
        context["s3:prefix"] = (query.get("prefix") or [""])[0]
        context["s3:delimiter"] = (query.get("delimiter") or [""])[0]
    return context


def anonymous_allowed(bucket: moto_internals.BucketView, action: str, key: str, context: dict[str, Any]) -> bool:
    """S3's decision for an anonymous caller: policy (Deny wins, RestrictPublicBuckets), then ACLs."""
    resource = f"arn:aws:s3:::{bucket.name}/{key}" if key else f"arn:aws:s3:::{bucket.name}"
    decision = policies.evaluate(bucket.policy, policies.Request(policies.Caller.nobody(), action, resource, context))
    if decision == "Deny":
        return False
    if bucket.block_public_access.get("RestrictPublicBuckets") and policies.is_public(bucket.policy):
        return False
    if decision == "Allow":
        return True
    if not bucket.acls_enabled or bucket.block_public_access.get("IgnorePublicAcls"):
        return False
    if action in ("s3:GetObject", "s3:GetObjectVersion"):
        return bool(moto_internals.object_public_read(bucket.name, key))
    if action == "s3:ListBucket":
        return bucket.acl_public_read
    return False


class S3Access:
    """The WSGI layer: anonymous S3 requests and Block Public Access, before moto sees them."""

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if method not in ("GET", "HEAD", "PUT", "DELETE") or path.startswith(_NOT_S3_PREFIXES):
            return None
        if path.rstrip("/").endswith(("/.well-known/jwks.json", "/.well-known/openid-configuration")):
            return None
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        target = s3_target(environ)
        if target is None:
            return None
        if is_anonymous(environ, query):
            return self._anonymous(environ, start_response, method, target, query)
        if method == "PUT" and (signing_service(environ) == "s3" or environ.get("HTTP_AUTHORIZATION", "").startswith("AWS ")):
            return self._signed_put(environ, start_response, target, query)
        return None

    def _anonymous(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str, target: Target,
                   query: dict[str, list[str]]) -> Iterable[bytes] | None:
        if "_" in target.bucket:
            return None  # not a bucket name: moto's own service_region/ paths
        action = action_of(method, target, query)
        if action is None:
            return None
        bucket = moto_internals.find_bucket(target.bucket)
        if bucket is None:
            if action == "s3:CreateBucket":
                return _denied(start_response, method)
            return None  # moto answers NoSuchBucket, as S3 does to anyone
        context = _context(environ, query, action)
        if not anonymous_allowed(bucket, action, target.key, context):
            return _denied(start_response, method)
        if action in ("s3:GetObject", "s3:GetObjectVersion") and moto_internals.object_public_read(bucket.name, target.key) is None:
            if not anonymous_allowed(bucket, "s3:ListBucket", "", {**context, "s3:prefix": target.key}):
                return _denied(start_response, method)  # S3 hides whether the key exists
        return None

    def _signed_put(self, environ: dict[str, Any], start_response: Callable[..., Any], target: Target,
                    query: dict[str, list[str]]) -> Iterable[bytes] | None:
        if "policy" in query and not target.key:
            bucket = moto_internals.find_bucket(target.bucket)
            if bucket is None or not bucket.block_public_access.get("BlockPublicPolicy"):
                return None
            try:
                policy = json.loads(read_body(environ) or b"{}")
            except ValueError:
                return None  # moto answers MalformedPolicy
            if isinstance(policy, dict) and policies.is_public(policy):
                message = (
                    f"User: {DEFAULT_CALLER_ARN} is not authorized to perform: s3:PutBucketPolicy on resource: "
                    f"\"arn:aws:s3:::{bucket.name}\" because public policies are blocked by the BlockPublicPolicy "
                    "block public access setting."
                )
                return respond(start_response, 403, s3_error("AccessDenied", message), content_type="application/xml")
            return None
        canned = environ.get("HTTP_X_AMZ_ACL", "").strip().lower()
        grants_everyone = any("acs.amazonaws.com/groups/global/" in environ.get(h, "") for h in (
            "HTTP_X_AMZ_GRANT_READ", "HTTP_X_AMZ_GRANT_WRITE", "HTTP_X_AMZ_GRANT_FULL_CONTROL", "HTTP_X_AMZ_GRANT_READ_ACP"))
        if canned in PUBLIC_CANNED_ACLS or grants_everyone:
            bucket = moto_internals.find_bucket(target.bucket)
            if bucket is not None and bucket.block_public_access.get("BlockPublicAcls"):
                return respond(start_response, 403, s3_error("AccessDenied", "Access Denied"), content_type="application/xml")
        return None



def _denied(start_response: Callable[..., Any], method: str) -> list[bytes]:
    return respond(start_response, 403, s3_error("AccessDenied", "Access Denied"), content_type="application/xml", head=method == "HEAD")
