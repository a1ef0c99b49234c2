"""Step 6: CloudFront in front of the processed bucket, the only way to read it.

The bucket stays private (step 1). The distribution reaches it through an
origin access control (OAC, AWS's recommendation today, the default) or an
origin access identity (OAI, the document's way, ``access="oai"``), and the
bucket policy grants read access to that distribution or identity alone.
Viewers are redirected from HTTP to HTTPS; ``/`` serves ``index.html``.

On AWS a new or changed distribution takes minutes to deploy (typically 5-15);
``wait_deployed`` polls it with a progress bar. Its addresses are
``https://<id>.cloudfront.net/…``, except when the clients talk to the
walkthrough's emulator (locally, or as an AWS-compatible endpoint): then they
are the emulator's loopback addresses, which serve the same content.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable
from urllib.parse import quote

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.emulator.urls import cloudfront_url
from walkthrough.errors import WalkthroughError
from walkthrough.progress import Progress

ACCESS_CHOICES = ("oac", "oai")
#: AWS's managed "CachingOptimized" cache policy.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Processed images</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}img{max-width:100%;border-radius:6px}</style>
</head><body>
<h1>Processed images</h1>
<p>Served by CloudFront from the private bucket <code>{bucket}</code>.</p>
<p><img src="processed-photo.jpg" alt="The tutorial's photo, resized and watermarked"></p>
</body></html>
"""


def comment(settings: Settings) -> str:
    """How the tutorial's distribution is recognised among an account's: its comment names the bucket it serves."""
    return f"walkthrough: {settings.processed_bucket}"


def origin_domain(settings: Settings) -> str:
    """The bucket's regional REST endpoint, which OAC and OAI origins use."""
    return f"{settings.processed_bucket}.s3.{settings.region}.amazonaws.com"


def origin_access_control_config(settings: Settings) -> dict[str, str]:
    """The origin access control: CloudFront signs every request to the bucket (SigV4), so the bucket can trust it."""
    return {
        "Name": f"{settings.processed_bucket}-oac", "Description": "walkthrough: CloudFront signs its requests to the processed bucket",
        "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3",
    }


def ensure_origin_access_control(settings: Settings) -> dict[str, Any]:
    cloudfront = aws.client(settings, "cloudfront")
    config = origin_access_control_config(settings)
    name = config["Name"]
    for item in cloudfront.list_origin_access_controls().get("OriginAccessControlList", {}).get("Items", []) or []:
        if item["Name"] == name:
            return {"status": "exists", "kind": "OAC", "id": item["Id"], "name": name}
    created = cloudfront.create_origin_access_control(OriginAccessControlConfig=config)["OriginAccessControl"]
    return {"status": "created", "kind": "OAC", "id": created["Id"], "name": name}


def ensure_origin_access_identity(settings: Settings) -> dict[str, Any]:
    cloudfront = aws.client(settings, "cloudfront")
    note = comment(settings)
    listing = cloudfront.list_cloud_front_origin_access_identities().get("CloudFrontOriginAccessIdentityList", {})
    for item in listing.get("Items", []) or []:
        if item["Comment"] == note:
            return {"status": "exists", "kind": "OAI", "id": item["Id"], "canonical_user": item["S3CanonicalUserId"]}
    created = cloudfront.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig={
        "CallerReference": f"walkthrough-{time.time_ns()}", "Comment": note,
    })["CloudFrontOriginAccessIdentity"]
    return {"status": "created", "kind": "OAI", "id": created["Id"], "canonical_user": created["S3CanonicalUserId"]}


def ensure_access(settings: Settings, access: str) -> dict[str, Any]:
    """The origin access control (``"oac"``) or identity (``"oai"``) CloudFront presents to S3."""
    if access not in ACCESS_CHOICES:
        raise WalkthroughError(f"Unknown access {access!r}: use 'oac' (origin access control, the default) or 'oai' (the document's).")
    return ensure_origin_access_control(settings) if access == "oac" else ensure_origin_access_identity(settings)


def find_distribution_summary(settings: Settings) -> dict[str, Any]:
    """Id, domain, ARN and state of the tutorial's distribution; a clear error when step 6 has not run."""
    found = find_distribution(settings)
    if found is None:
        raise WalkthroughError("There is no CloudFront distribution yet: run notebook 06_cloudfront first.")
    return _summary(found["Id"], found["DomainName"], found["ARN"], found["Status"])


def find_distribution(settings: Settings) -> dict[str, Any] | None:
    """The tutorial's distribution (recognised by its comment), if it exists."""
    cloudfront = aws.client(settings, "cloudfront")
    for page in cloudfront.get_paginator("list_distributions").paginate():
        for item in page.get("DistributionList", {}).get("Items", []) or []:
            if item.get("Comment") == comment(settings):
                return item
    return None


def distribution_config(settings: Settings, access: dict[str, Any]) -> dict[str, Any]:
    """The distribution as CreateDistribution takes it: one S3 origin behind the access control, HTTPS, cached."""
    origin_id = f"{settings.processed_bucket}-origin"
    origin: dict[str, Any] = {
        "Id": origin_id,
        "DomainName": origin_domain(settings),
        "OriginPath": "",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    if access["kind"] == "OAC":
        origin["OriginAccessControlId"] = access["id"]
    else:
        origin["S3OriginConfig"]["OriginAccessIdentity"] = f"origin-access-identity/cloudfront/{access['id']}"
    return {
        "CallerReference": f"walkthrough-{time.time_ns()}",
        "Comment": comment(settings),
        "Enabled": True,
        "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": origin_id,
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": CACHING_OPTIMIZED,
            "Compress": True,
            "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"], "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
        },
        "PriceClass": "PriceClass_100",
        "HttpVersion": "http2and3",
    }


def ensure_distribution(settings: Settings, access: dict[str, Any]) -> dict[str, Any]:
    """Create the distribution unless one of ours exists; with an existing one, switch its origin access if asked."""
    cloudfront = aws.client(settings, "cloudfront")
    existing = find_distribution(settings)
    if existing is None:
        created = cloudfront.create_distribution_with_tags(DistributionConfigWithTags={
            "DistributionConfig": distribution_config(settings, access),
            "Tags": {"Items": settings.tag_list()},
        })["Distribution"]
        return {"status": "created", **_summary(created["Id"], created["DomainName"], created["ARN"], created["Status"])}
    response = cloudfront.get_distribution_config(Id=existing["Id"])
    config, etag = response["DistributionConfig"], response["ETag"]
    wanted = distribution_config(settings, access)["Origins"]["Items"][0]
    current = config["Origins"]["Items"][0]
    known = "OriginAccessControlId" in current or "S3OriginConfig" in current  # moto 5.2 returns neither
    have = (current.get("OriginAccessControlId") or "", current.get("S3OriginConfig", {}).get("OriginAccessIdentity", ""))
    want = (wanted.get("OriginAccessControlId") or "", wanted["S3OriginConfig"]["OriginAccessIdentity"])
    if known and have != want:
        current["OriginAccessControlId"] = wanted.get("OriginAccessControlId", "")
        current["S3OriginConfig"] = wanted["S3OriginConfig"]
        cloudfront.update_distribution(Id=existing["Id"], IfMatch=etag, DistributionConfig=config)
        status = "updated"
    else:
        status = "exists"
    return {"status": status, **_summary(existing["Id"], existing["DomainName"], existing["ARN"], existing["Status"])}


def _summary(distribution_id: str, domain: str, arn: str, state: str) -> dict[str, Any]:
    return {"id": distribution_id, "domain": domain, "arn": arn, "deployment": state}


def bucket_policy(settings: Settings, distribution_arn: str, access: dict[str, Any]) -> dict[str, Any]:
    """Read access for this distribution (OAC) or this identity (OAI), nobody else."""
    if access["kind"] == "OAC":
        statement = {
            "Sid": "AllowCloudFrontServicePrincipalReadOnly",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{settings.processed_bucket}/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
        }
    else:
        statement = {
            "Sid": "AllowCloudFrontOriginAccessIdentityReadOnly",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {access['id']}"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{settings.processed_bucket}/*",
        }
    return {"Version": "2012-10-17", "Statement": [statement]}


def apply_bucket_policy(settings: Settings, policy: dict[str, Any]) -> dict[str, Any]:
    s3 = aws.client(settings, "s3")
    s3.put_bucket_policy(Bucket=settings.processed_bucket, Policy=json.dumps(policy))
    return json.loads(s3.get_bucket_policy(Bucket=settings.processed_bucket)["Policy"])


def upload_index(settings: Settings) -> dict[str, Any]:
    """The page ``/`` serves: a heading and the processed photo."""
    body = INDEX_HTML.replace("{bucket}", settings.processed_bucket).encode()
    aws.client(settings, "s3").put_object(
        Bucket=settings.processed_bucket, Key="index.html", Body=body, ContentType="text/html; charset=utf-8",
        CacheControl="public, max-age=300",
    )
    return {"key": "index.html", "bytes": len(body)}


def setup_cdn(settings: Settings, access: str = "oac") -> dict[str, Any]:
    """Step 6 in one call: access control, distribution, bucket policy, index page."""
    control = ensure_access(settings, access)
    distribution = ensure_distribution(settings, control)
    policy = apply_bucket_policy(settings, bucket_policy(settings, distribution["arn"], control))
    index = upload_index(settings)
    return {"access": control, "distribution": distribution, "bucket_policy": policy, "index": index,
            "url": url_for(settings, distribution, "")}


def url_for(settings: Settings, distribution: dict[str, Any], key: str) -> str:
    """Where a viewer opens ``key``: the distribution's HTTPS domain, or its loopback address on the emulator."""
    emulator = aws.emulator_endpoint(settings)
    if emulator:
        return cloudfront_url(emulator, distribution["id"], key)
    return f"https://{distribution['domain']}/{key}"


#: Seconds between polls of a deploying distribution (AWS's own waiter polls every 60 s).
POLL_S = {"local": 0.2, "aws": 15.0}
DEPLOY_TIMEOUT_S = 45 * 60
_sleep = time.sleep  # tests replace it


def wait_deployed(settings: Settings, distribution_id: str, timeout_s: float = DEPLOY_TIMEOUT_S,
                  progress: bool = True) -> str:
    """Wait until CloudFront has deployed the distribution; returns its status (``Deployed``).

    Minutes on AWS, shown as a progress bar with the time waited; at once on
    the emulator (no bar when nothing needs waiting for).
    """
    cloudfront = aws.client(settings, "cloudfront")
    status = cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"]
    if status == "Deployed":
        return status
    return _wait_for_status(
        settings, "Deployed", status, lambda: cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"],
        f"CloudFront deploying {distribution_id} (usually 5-15 min)", timeout_s, progress,
        lambda status: f"CloudFront distribution {distribution_id} still {status} after {timeout_s / 60:.0f} min: "
                       "check it in the CloudFront console, then run this step again.",
    )


def _wait_for_status(settings: Settings, wanted: str, status: str, read: Callable[[], str], description: str,
                     timeout_s: float, progress: bool, too_long: Callable[[str], str]) -> str:
    """Poll ``read`` until it says ``wanted``, with a bar of the time waited; ``too_long(status)`` is the timeout's error."""
    poll = POLL_S["local" if aws.on_emulator(settings) else "aws"]
    waited = 0.0
    with Progress(round(timeout_s), description, "s", bar_format="{desc}: {n_fmt} s waited{postfix}", postfix=status,
                  disable=not progress) as bar:
        while status != wanted:
            if waited >= timeout_s:
                raise WalkthroughError(too_long(status))
            _sleep(poll)
            waited += poll
            status = read()
            bar.set(round(waited))
            bar.status(status)
        bar.succeed(f"{status} after {waited:.0f} s")
    return status


#: Invalidations usually complete within a minute or two on AWS; give up after this long.
INVALIDATION_TIMEOUT_S = 20 * 60


def invalidation_path(key: str) -> str:
    """The invalidation path of an object key: ``/`` in front, unsafe characters URL-encoded as CloudFront asks.

    A trailing ``*`` stays a wildcard (``"2026/*"`` -> ``/2026/*``).
    """
    return "/" + quote(key.lstrip("/"), safe="/~!$&'()*+,;=:@")


def invalidate(settings: Settings, keys: list[str], wait: bool = True, timeout_s: float = INVALIDATION_TIMEOUT_S,
               progress: bool = True) -> dict[str, Any]:
    """Remove objects from CloudFront's edge caches (keys, or prefixes ending in ``*``); waits until ``Completed``.

    Until then (or until its TTL ends: a day for the processed images) an
    edge keeps serving the version it has, even after the object in S3 was
    replaced. Each path counts towards CloudFront's free 1,000 invalidation
    paths a month; ``"*"`` alone (``/*``) is one path for everything.
    """
    if not keys:
        raise WalkthroughError("Nothing to invalidate: give object keys, or a prefix ending in '*' (\"*\" for everything).")
    distribution = find_distribution_summary(settings)
    cloudfront = aws.client(settings, "cloudfront")
    paths = list(dict.fromkeys(invalidation_path(k) for k in keys))
    created = cloudfront.create_invalidation(DistributionId=distribution["id"], InvalidationBatch={
        "Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": f"walkthrough-{time.time_ns()}",
    })["Invalidation"]
    status = created["Status"]
    if wait and status != "Completed":  # asked once at once: the emulator has finished already (no bar)
        status = cloudfront.get_invalidation(DistributionId=distribution["id"], Id=created["Id"])["Invalidation"]["Status"]
    if wait and status != "Completed":
        status = _wait_for_status(
            settings, "Completed", status,
            lambda: cloudfront.get_invalidation(DistributionId=distribution["id"], Id=created["Id"])["Invalidation"]["Status"],
            f"invalidating {len(paths)} path(s) on {distribution['id']} (usually under a minute)", timeout_s, progress,
            lambda status: f"Invalidation {created['Id']} still {status} after {timeout_s / 60:.0f} min: "
                           "check it in the CloudFront console (Invalidations tab).",
        )
    return {"invalidation": created["Id"], "distribution": distribution["id"], "paths": paths, "status": status}


def _get(url: str, timeout_s: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """An anonymous GET, as a browser makes it: status, headers, body (errors included)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def fetch(settings: Settings, key: str) -> dict[str, Any]:
    """GET ``key`` through the distribution, as a viewer does; the status, the headers that matter, the bytes."""
    url = url_for(settings, find_distribution_summary(settings), key)
    status, headers, body = _get(url)
    wanted = ("Content-Type", "Content-Length", "Cache-Control", "ETag", "X-Cache", "Age", "X-Walkthrough-Distribution",
              "X-Walkthrough-Viewer-Protocol-Policy")
    lowered = {k.lower(): v for k, v in headers.items()}
    return {"url": url, "status": status, "headers": {h: lowered[h.lower()] for h in wanted if h.lower() in lowered}, "body": body}


def direct_s3_url(settings: Settings, key: str) -> str:
    """The object's plain S3 address, which a private bucket must refuse."""
    emulator = aws.emulator_endpoint(settings)
    if emulator:
        return f"{emulator.rstrip('/')}/{settings.processed_bucket}/{key}"
    return f"https://{settings.processed_bucket}.s3.{settings.region}.amazonaws.com/{key}"


def fetch_directly(settings: Settings, key: str) -> dict[str, Any]:
    """GET the object straight from S3 without credentials: a private bucket answers 403 AccessDenied."""
    import re

    url = direct_s3_url(settings, key)
    status, _, body = _get(url)
    code = re.search(rb"<Code>([^<]+)</Code>", body)
    return {"url": url, "status": status, "error": code.group(1).decode() if code else ""}
