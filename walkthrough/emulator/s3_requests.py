"""What an S3 request names: its bucket, its key and the IAM action it needs.

Several layers judge S3 requests before moto sees them (anonymous access and
Block Public Access, a function's role, fault injection); they all read the
request the same way, here. Path-style (``/bucket/key``) and virtual-hosted
(``bucket.s3...``) addresses; the action per method and sub-resource as
the S3 authorization reference lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from walkthrough.emulator.wsgi import request_path

# sub-resource query parameter -> action, per (level, method)
_OBJECT_ACTIONS: dict[str, list[tuple[str, str]]] = {
    "GET": [("acl", "s3:GetObjectAcl"), ("tagging", "s3:GetObjectTagging"), ("attributes", "s3:GetObjectAttributes"),
            ("retention", "s3:GetObjectRetention"), ("legal-hold", "s3:GetObjectLegalHold"), ("uploadId", "s3:ListMultipartUploadParts"),
            ("versionId", "s3:GetObjectVersion")],
    "PUT": [("acl", "s3:PutObjectAcl"), ("tagging", "s3:PutObjectTagging"), ("retention", "s3:PutObjectRetention"),
            ("legal-hold", "s3:PutObjectLegalHold")],
    "DELETE": [("tagging", "s3:DeleteObjectTagging"), ("uploadId", "s3:AbortMultipartUpload"), ("versionId", "s3:DeleteObjectVersion")],
}
_OBJECT_DEFAULT = {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject", "DELETE": "s3:DeleteObject"}
_BUCKET_GET = {
    "versions": "s3:ListBucketVersions", "uploads": "s3:ListBucketMultipartUploads", "location": "s3:GetBucketLocation",
    "policy": "s3:GetBucketPolicy", "acl": "s3:GetBucketAcl", "cors": "s3:GetBucketCORS", "website": "s3:GetBucketWebsite",
    "tagging": "s3:GetBucketTagging", "versioning": "s3:GetBucketVersioning", "notification": "s3:GetBucketNotification",
    "policyStatus": "s3:GetBucketPolicyStatus", "publicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "logging": "s3:GetBucketLogging", "lifecycle": "s3:GetLifecycleConfiguration", "encryption": "s3:GetEncryptionConfiguration",
    "ownershipControls": "s3:GetBucketOwnershipControls", "requestPayment": "s3:GetBucketRequestPayment",
    "object-lock": "s3:GetBucketObjectLockConfiguration", "replication": "s3:GetReplicationConfiguration",
    "accelerate": "s3:GetAccelerateConfiguration",
}
_BUCKET_PUT = {
    "policy": "s3:PutBucketPolicy", "acl": "s3:PutBucketAcl", "cors": "s3:PutBucketCORS", "website": "s3:PutBucketWebsite",
    "tagging": "s3:PutBucketTagging", "versioning": "s3:PutBucketVersioning", "notification": "s3:PutBucketNotification",
    "publicAccessBlock": "s3:PutBucketPublicAccessBlock", "logging": "s3:PutBucketLogging",
    "lifecycle": "s3:PutLifecycleConfiguration", "encryption": "s3:PutEncryptionConfiguration",
    "ownershipControls": "s3:PutBucketOwnershipControls",
}
_BUCKET_DELETE = {
    "policy": "s3:DeleteBucketPolicy", "cors": "s3:PutBucketCORS", "website": "s3:DeleteBucketWebsite",
    "tagging": "s3:PutBucketTagging", "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "lifecycle": "s3:PutLifecycleConfiguration", "encryption": "s3:PutEncryptionConfiguration",
    "ownershipControls": "s3:PutBucketOwnershipControls",
}


@dataclass(frozen=True)
class Target:
    """The bucket and key an S3 request names (key "" for the bucket itself)."""

    bucket: str
    key: str



def s3_target(environ: dict[str, Any]) -> Target | None:
    """Bucket and key of a path-style (``/bucket/key``) or virtual-hosted (``bucket.s3...``) request."""
    path = request_path(environ.get("PATH_INFO", "") or "/")
    host = environ.get("HTTP_HOST", "").split(":")[0].lower()
    virtual = None
    if host.endswith(".s3.localhost") or (host.endswith(".localhost") and host.count(".") == 1):
        virtual = host.split(".")[0]
    elif host.endswith(".amazonaws.com") and (".s3." in host or ".s3-" in host) and not host.startswith("s3."):
        virtual = host.split(".s3", 1)[0]
    if virtual:
        return Target(virtual, path.lstrip("/"))
    trimmed = path.lstrip("/")
    if not trimmed:
        return None
    bucket, _, key = trimmed.partition("/")
    return Target(bucket, key)


def action_of(method: str, target: Target, query: dict[str, list[str]]) -> str | None:
    """The IAM action of an S3 request, or None when this module does not judge it."""
    if target.key:
        for parameter, action in _OBJECT_ACTIONS.get("GET" if method == "HEAD" else method, []):
            if parameter in query:
                return action
        return _OBJECT_DEFAULT.get(method)
    if method in ("GET", "HEAD"):
        return next((a for p, a in _BUCKET_GET.items() if p in query), "s3:ListBucket")
    if method == "PUT":
        return next((a for p, a in _BUCKET_PUT.items() if p in query), "s3:CreateBucket")
    if method == "DELETE":
        return next((a for p, a in _BUCKET_DELETE.items() if p in query), "s3:DeleteBucket")
    return None
