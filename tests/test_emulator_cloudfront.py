"""CloudFront locally: origin access identities, and distributions served on loopback as the bucket policy allows."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from walkthrough.emulator import urls

pytestmark = pytest.mark.emulator

CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
#: AWS's managed policy that caches nothing: for tests of what the origin decides on every request.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def new_identity(cloudfront, comment: str = "walkthrough test") -> dict:
    return cloudfront.create_cloud_front_origin_access_identity(
        CloudFrontOriginAccessIdentityConfig={"CallerReference": f"ref-{time.time_ns()}", "Comment": comment}
    )


def site(emulator, files: dict[str, tuple[bytes, str]] | None = None) -> str:
    """A private bucket holding ``files`` (key -> (body, content type))."""
    s3 = emulator.client("s3")
    bucket = emulator.unique("site")
    s3.create_bucket(Bucket=bucket)
    for key, (body, content_type) in (files or {}).items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl="public, max-age=300")
    return bucket


def distribution(emulator, bucket: str, *, oac: str | None = None, oai: str | None = None, origin_path: str = "",
                 root: str = "index.html", enabled: bool = True, cache_policy: str = CACHING_OPTIMIZED) -> dict:
    origin = {
        "Id": "s3-origin", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com", "OriginPath": origin_path,
        "S3OriginConfig": {"OriginAccessIdentity": f"origin-access-identity/cloudfront/{oai}" if oai else ""},
    }
    if oac:
        origin["OriginAccessControlId"] = oac
    config = {
        "CallerReference": f"dist-{time.time_ns()}", "Comment": "walkthrough test", "Enabled": enabled, "DefaultRootObject": root,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3-origin", "ViewerProtocolPolicy": "redirect-to-https", "CachePolicyId": cache_policy},
    }
    return emulator.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]


def new_oac(emulator) -> str:
    return emulator.client("cloudfront").create_origin_access_control(OriginAccessControlConfig={
        "Name": emulator.unique("oac"), "SigningProtocol": "sigv4", "SigningBehavior": "always", "OriginAccessControlOriginType": "s3",
    })["OriginAccessControl"]["Id"]


def oac_policy(bucket: str, distribution_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowCloudFrontServicePrincipalReadOnly", "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
    }]})


def oai_policy(bucket: str, principal: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
    }]})


INDEX = (b"<h1>Processed images</h1>", "text/html; charset=utf-8")
PHOTO = (b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")


# ------------------------------------------------------------------ origin access identities


def test_origin_access_identity_lifecycle_with_etags(emulator):
    cloudfront = emulator.client("cloudfront")
    created = new_identity(cloudfront, "first comment")
    oai = created["CloudFrontOriginAccessIdentity"]
    assert re.fullmatch(r"E[A-Z0-9]{13}", oai["Id"])
    assert re.fullmatch(r"[0-9a-f]{64}", oai["S3CanonicalUserId"])
    assert created["Location"].endswith(f"/2020-05-31/origin-access-identity/cloudfront/{oai['Id']}")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201 and created["ETag"]

    fetched = cloudfront.get_cloud_front_origin_access_identity(Id=oai["Id"])
    assert fetched["CloudFrontOriginAccessIdentity"] == oai and fetched["ETag"] == created["ETag"]
    config = cloudfront.get_cloud_front_origin_access_identity_config(Id=oai["Id"])
    assert config["CloudFrontOriginAccessIdentityConfig"]["Comment"] == "first comment"

    listed = cloudfront.list_cloud_front_origin_access_identities()["CloudFrontOriginAccessIdentityList"]
    assert {"Id": oai["Id"], "S3CanonicalUserId": oai["S3CanonicalUserId"], "Comment": "first comment"} in listed["Items"]

    new_config = {"CallerReference": oai["CloudFrontOriginAccessIdentityConfig"]["CallerReference"], "Comment": "second"}
    with pytest.raises(ClientError) as missing:
        cloudfront.update_cloud_front_origin_access_identity(Id=oai["Id"], CloudFrontOriginAccessIdentityConfig=new_config)
    assert error_code(missing) == "InvalidIfMatchVersion"
    with pytest.raises(ClientError) as stale:
        cloudfront.update_cloud_front_origin_access_identity(Id=oai["Id"], IfMatch="E0000000000000", CloudFrontOriginAccessIdentityConfig=new_config)
    assert error_code(stale) == "PreconditionFailed" and stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    updated = cloudfront.update_cloud_front_origin_access_identity(Id=oai["Id"], IfMatch=created["ETag"], CloudFrontOriginAccessIdentityConfig=new_config)
    assert updated["CloudFrontOriginAccessIdentity"]["CloudFrontOriginAccessIdentityConfig"]["Comment"] == "second"
    assert updated["ETag"] != created["ETag"]

    with pytest.raises(ClientError) as old_etag:
        cloudfront.delete_cloud_front_origin_access_identity(Id=oai["Id"], IfMatch=created["ETag"])
    assert error_code(old_etag) == "PreconditionFailed"
    with pytest.raises(ClientError) as no_etag:
        cloudfront.delete_cloud_front_origin_access_identity(Id=oai["Id"])
    assert error_code(no_etag) == "InvalidIfMatchVersion"
    cloudfront.delete_cloud_front_origin_access_identity(Id=oai["Id"], IfMatch=updated["ETag"])
    with pytest.raises(ClientError) as gone:
        cloudfront.get_cloud_front_origin_access_identity(Id=oai["Id"])
    assert error_code(gone) == "NoSuchCloudFrontOriginAccessIdentity"


def test_caller_reference_makes_creation_idempotent(emulator):
    cloudfront = emulator.client("cloudfront")
    config = {"CallerReference": emulator.unique("ref"), "Comment": "same"}
    first = cloudfront.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig=config)
    again = cloudfront.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig=config)
    assert again["CloudFrontOriginAccessIdentity"]["Id"] == first["CloudFrontOriginAccessIdentity"]["Id"]
    with pytest.raises(ClientError) as clash:
        cloudfront.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig={**config, "Comment": "other"})
    assert error_code(clash) == "CloudFrontOriginAccessIdentityAlreadyExists"


def test_identities_list_in_pages(emulator):
    cloudfront = emulator.client("cloudfront")
    for _ in range(3):
        new_identity(cloudfront)
    total = cloudfront.list_cloud_front_origin_access_identities()["CloudFrontOriginAccessIdentityList"]["Quantity"]
    pages = list(cloudfront.get_paginator("list_cloud_front_origin_access_identities").paginate(PaginationConfig={"PageSize": 2}))
    ids = [item["Id"] for page in pages for item in page["CloudFrontOriginAccessIdentityList"].get("Items", [])]
    assert len(ids) == len(set(ids)) == total >= 3
    assert pages[0]["CloudFrontOriginAccessIdentityList"]["IsTruncated"] is True


def test_identity_used_by_a_distribution_cannot_be_deleted(emulator):
    cloudfront = emulator.client("cloudfront")
    created = new_identity(cloudfront)
    oai_id = created["CloudFrontOriginAccessIdentity"]["Id"]
    dist = distribution(emulator, site(emulator), oai=oai_id)
    config = cloudfront.get_distribution_config(Id=dist["Id"])["DistributionConfig"]
    assert config["Origins"]["Items"][0]["S3OriginConfig"]["OriginAccessIdentity"] == f"origin-access-identity/cloudfront/{oai_id}"
    with pytest.raises(ClientError) as in_use:
        cloudfront.delete_cloud_front_origin_access_identity(Id=oai_id, IfMatch=created["ETag"])
    assert error_code(in_use) == "CloudFrontOriginAccessIdentityInUse"
    assert in_use.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_distribution_naming_an_unknown_identity_is_refused(emulator):
    with pytest.raises(ClientError) as refused:
        distribution(emulator, site(emulator), oai="E0NOSUCHIDENT0")
    assert error_code(refused) == "InvalidOriginAccessIdentity"


def test_distribution_keeps_its_origin_access_control(emulator):
    oac = new_oac(emulator)
    dist = distribution(emulator, site(emulator), oac=oac)
    config = emulator.client("cloudfront").get_distribution_config(Id=dist["Id"])["DistributionConfig"]
    assert config["Origins"]["Items"][0]["OriginAccessControlId"] == oac


# ------------------------------------------------------------------------ serving


def test_origin_access_control_policy_decides_what_is_served(emulator):
    bucket = site(emulator, {"index.html": INDEX, "processed-photo.jpg": PHOTO})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    other = distribution(emulator, bucket, oac=new_oac(emulator))
    s3 = emulator.client("s3")
    photo = urls.cloudfront_url(emulator.endpoint, dist["Id"], "processed-photo.jpg")

    status, headers, body = fetch(photo)  # no bucket policy at all
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"<Message>Access Denied</Message>" in body
    assert headers["X-Cache"] == "Error from cloudfront"

    s3.put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, other["ARN"]))  # grants another distribution
    assert fetch(photo)[0] == 403

    s3.put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    status, headers, body = fetch(photo)
    assert status == 200 and body == PHOTO[0]
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["ETag"] == s3.head_object(Bucket=bucket, Key="processed-photo.jpg")["ETag"]
    assert headers["Last-Modified"].endswith("GMT") and headers["Cache-Control"] == "public, max-age=300"
    assert headers["X-Cache"] == "Miss from cloudfront"
    assert headers["X-Walkthrough-Distribution"] == dist["Id"]
    assert headers["X-Walkthrough-Viewer-Protocol-Policy"] == "redirect-to-https"

    status, headers, body = fetch(urls.cloudfront_url(emulator.endpoint, dist["Id"]))
    assert status == 200 and body == INDEX[0] and headers["Content-Type"].startswith("text/html")


def test_origin_access_identity_policy_by_arn_or_canonical_user(emulator):
    cloudfront, s3 = emulator.client("cloudfront"), emulator.client("s3")
    oai = new_identity(cloudfront)["CloudFrontOriginAccessIdentity"]
    bucket = site(emulator, {"index.html": INDEX})
    dist = distribution(emulator, bucket, oai=oai["Id"], cache_policy=CACHING_DISABLED)  # every request reaches S3
    root = urls.cloudfront_url(emulator.endpoint, dist["Id"])

    s3.put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))  # right bucket, wrong kind of grant
    assert fetch(root)[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=oai_policy(bucket, {"AWS": f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai['Id']}"}))
    status, headers, body = fetch(root)
    assert (status, body) == (200, INDEX[0]) and headers["X-Walkthrough-Distribution"] == dist["Id"]
    s3.put_bucket_policy(Bucket=bucket, Policy=oai_policy(bucket, {"CanonicalUser": oai["S3CanonicalUserId"]}))
    assert fetch(root)[0] == 200
    other = new_identity(cloudfront)["CloudFrontOriginAccessIdentity"]
    s3.put_bucket_policy(Bucket=bucket, Policy=oai_policy(bucket, {"CanonicalUser": other["S3CanonicalUserId"]}))
    assert fetch(root)[0] == 403


def test_explicit_deny_wins_over_the_grant(emulator):
    bucket = site(emulator, {"index.html": INDEX, "secret/plan.txt": (b"no", "text/plain")})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    policy = json.loads(oac_policy(bucket, dist["ARN"]))
    policy["Statement"].append({"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/secret/*"})
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert fetch(urls.cloudfront_url(emulator.endpoint, dist["Id"], "index.html"))[0] == 200
    assert fetch(urls.cloudfront_url(emulator.endpoint, dist["Id"], "secret/plan.txt"))[0] == 403


def test_missing_object_is_403_unless_cloudfront_may_list_the_bucket(emulator):
    s3 = emulator.client("s3")
    bucket = site(emulator, {"index.html": INDEX})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    missing = urls.cloudfront_url(emulator.endpoint, dist["Id"], "nope.jpg")
    s3.put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    status, _, body = fetch(missing)
    assert status == 403 and b"AccessDenied" in body
    policy = json.loads(oac_policy(bucket, dist["ARN"]))
    policy["Statement"][0]["Action"] = ["s3:GetObject", "s3:ListBucket"]
    policy["Statement"][0]["Resource"] = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    status, _, body = fetch(missing)
    assert status == 404 and b"NoSuchKey" in body


def test_origin_path_is_put_in_front_of_the_key(emulator):
    bucket = site(emulator, {"site/index.html": INDEX, "site/img/a.jpg": PHOTO, "img/a.jpg": (b"wrong one", "image/jpeg")})
    dist = distribution(emulator, bucket, oac=new_oac(emulator), origin_path="/site")
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    assert fetch(urls.cloudfront_url(emulator.endpoint, dist["Id"], "img/a.jpg"))[2] == PHOTO[0]
    assert fetch(urls.cloudfront_url(emulator.endpoint, dist["Id"], "/"))[2] == INDEX[0]


def test_disabled_distribution_serves_nothing(emulator):
    cloudfront = emulator.client("cloudfront")
    bucket = site(emulator, {"index.html": INDEX})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    url = urls.cloudfront_url(emulator.endpoint, dist["Id"])
    assert fetch(url)[0] == 200
    current = cloudfront.get_distribution_config(Id=dist["Id"])
    config = current["DistributionConfig"]
    config["Enabled"] = False
    cloudfront.update_distribution(Id=dist["Id"], IfMatch=current["ETag"], DistributionConfig=config)
    status, headers, body = fetch(url)
    assert status == 403 and b"The request could not be satisfied" in body
    assert headers["X-Cache"] == "Error from cloudfront"


def test_only_allowed_methods_and_unknown_distributions(emulator):
    bucket = site(emulator, {"index.html": INDEX})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    url = urls.cloudfront_url(emulator.endpoint, dist["Id"], "index.html")
    status, headers, body = fetch(url, method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(INDEX[0]))
    assert fetch(url, method="DELETE")[0] == 403
    assert fetch(urls.cloudfront_url(emulator.endpoint, "E0NOSUCHDIST00", "index.html"))[0] == 404


def test_host_form_serves_the_same_content(emulator):
    bucket = site(emulator, {"index.html": INDEX})
    dist = distribution(emulator, bucket, oac=new_oac(emulator))
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    url = urls.cloudfront_url(emulator.endpoint, dist["Id"], "index.html", host_style=True)
    assert url == f"http://{dist['Id'].lower()}.cloudfront.localhost:{emulator.port}/index.html"
    for host in (urlsplit(url).netloc, dist["DomainName"]):  # browsers resolve *.localhost; urllib does not, so say it
        connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=30)
        connection.request("GET", "/index.html", headers={"Host": host})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, INDEX[0])
        connection.close()


def test_url_helpers_are_plain_strings():
    assert urls.cloudfront_url("http://127.0.0.1:4747/", "E2QWRUHEXAMPLE", "2026/a b.jpg") == \
        "http://127.0.0.1:4747/_walkthrough/cloudfront/E2QWRUHEXAMPLE/2026/a%20b.jpg"
    assert urls.cloudfront_url("http://127.0.0.1:4747", "E2QWRUHEXAMPLE") == "http://127.0.0.1:4747/_walkthrough/cloudfront/E2QWRUHEXAMPLE/"
    assert urls.api_url("http://127.0.0.1:4747", "a1b2c3", "prod", "/process", host_style=True) == \
        "http://a1b2c3.execute-api.localhost:4747/prod/process"
