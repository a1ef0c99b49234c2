"""S3 refuses anonymous reads a bucket does not grant, and public policies under Block Public Access."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.emulator

BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def bucket_with(emulator, files=("photo.jpg",), public_allowed=True, **create) -> str:
    """A bucket with these objects; ``public_allowed`` lifts the Block Public Access a new bucket has, as a learner must."""
    s3 = emulator.client("s3")
    bucket = emulator.unique("private")
    s3.create_bucket(Bucket=bucket, **create)
    if public_allowed:
        s3.delete_public_access_block(Bucket=bucket)
    for key in files:
        s3.put_object(Bucket=bucket, Key=key, Body=b"pixels")
    return bucket


def statement(bucket: str, principal, actions=("s3:GetObject",), resource_suffix="/*", condition=None) -> dict:
    out = {"Effect": "Allow", "Principal": principal, "Action": list(actions), "Resource": f"arn:aws:s3:::{bucket}{resource_suffix}"}
    if condition:
        out["Condition"] = condition
    return out


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_anonymous_get_is_refused_while_a_signed_get_works(emulator):
    bucket = bucket_with(emulator)
    status, body = fetch(f"{emulator.endpoint}/{bucket}/photo.jpg")
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"<Message>Access Denied</Message>" in body
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg", method="HEAD")[0] == 403
    assert fetch(f"{emulator.endpoint}/{bucket}")[0] == 403  # listing, too
    assert emulator.client("s3").get_object(Bucket=bucket, Key="photo.jpg")["Body"].read() == b"pixels"


def test_a_grant_to_cloudfront_does_not_open_the_bucket_to_everyone(emulator):
    bucket = bucket_with(emulator)
    grant = statement(bucket, {"Service": "cloudfront.amazonaws.com"},
                      condition={"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E2QWRUHEXAMPLE"}})
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=policy(grant))
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg")[0] == 403


def test_presigned_url_still_works(emulator):
    bucket = bucket_with(emulator)
    url = emulator.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "photo.jpg"}, ExpiresIn=300)
    assert fetch(url) == (200, b"pixels")


def test_public_policy_opens_reads_unless_public_buckets_are_restricted(emulator):
    s3 = emulator.client("s3")
    bucket = bucket_with(emulator)
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(statement(bucket, "*")))
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg") == (200, b"pixels")
    status, _ = fetch(f"{emulator.endpoint}/{bucket}/missing.jpg")
    assert status == 403  # no s3:ListBucket for everyone: S3 does not say whether the key exists
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**BLOCK_ALL, "BlockPublicPolicy": False})
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg")[0] == 403


def test_public_listing_turns_missing_keys_into_404(emulator):
    bucket = bucket_with(emulator)
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=policy(
        statement(bucket, {"AWS": "*"}),
        statement(bucket, "*", actions=("s3:ListBucket",), resource_suffix=""),
    ))
    status, body = fetch(f"{emulator.endpoint}/{bucket}/missing.jpg")
    assert status == 404 and b"NoSuchKey" in body


def test_conditions_and_denies_are_evaluated(emulator):
    s3 = emulator.client("s3")
    bucket = bucket_with(emulator, files=("photo.jpg", "private/x.jpg"))
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        statement(bucket, "*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
    ))
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg")[0] == 403  # the test runs from 127.0.0.1
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        statement(bucket, "*", condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}),
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/private/*"},
    ))
    assert fetch(f"{emulator.endpoint}/{bucket}/photo.jpg")[0] == 200
    assert fetch(f"{emulator.endpoint}/{bucket}/private/x.jpg")[0] == 403


def test_anonymous_writes_are_refused(emulator):
    bucket = bucket_with(emulator)
    request = urllib.request.Request(f"{emulator.endpoint}/{bucket}/dropped.jpg", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    assert "Contents" not in emulator.client("s3").list_objects_v2(Bucket=bucket, Prefix="dropped")


def test_public_policy_is_refused_under_block_public_policy_but_the_cloudfront_grant_passes(emulator):
    s3 = emulator.client("s3")
    bucket = bucket_with(emulator)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL)
    for principal in ("*", {"AWS": "*"}):
        with pytest.raises(ClientError) as refused:
            s3.put_bucket_policy(Bucket=bucket, Policy=policy(statement(bucket, principal)))
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        message = refused.value.response["Error"]["Message"]
        assert "s3:PutBucketPolicy" in message and "because public policies are blocked by the BlockPublicPolicy block public access setting" in message
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)

    distribution_arn = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHEXAMPLE"
    oac = statement(bucket, {"Service": "cloudfront.amazonaws.com"}, condition={"StringEquals": {"AWS:SourceArn": distribution_arn}})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(oac))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    pinned = statement(bucket, "*", condition={"StringEquals": {"aws:SourceAccount": "123456789012"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(pinned))  # a wildcard pinned to one account is not public either


def test_public_acl_is_refused_under_block_public_acls(emulator):
    s3 = emulator.client("s3")
    bucket = bucket_with(emulator, public_allowed=False, ObjectOwnership="ObjectWriter")  # ACLs on, BPA as created
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="open.jpg", Body=b"x", ACL="public-read")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


# ------------------------------------------------------------------ the policy evaluator itself (no emulator needed)

from walkthrough.emulator import policies  # noqa: E402

DIST = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHEXAMPLE"
CLOUDFRONT = policies.Caller(service="cloudfront.amazonaws.com")
OAC_STATEMENT = {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::b/*", "Condition": {"ArnLike": {"aws:sourcearn": "arn:aws:cloudfront::123456789012:distribution/*"}}}


@pytest.mark.parametrize(("statements", "caller", "action", "context", "expected"), [
    ([OAC_STATEMENT], CLOUDFRONT, "S3:getobject", {"AWS:SourceArn": DIST}, "Allow"),  # actions and keys ignore case
    ([OAC_STATEMENT], CLOUDFRONT, "s3:GetObject", {}, "ImplicitDeny"),  # the condition's key is missing
    ([OAC_STATEMENT], policies.Caller(), "s3:GetObject", {"AWS:SourceArn": DIST}, "ImplicitDeny"),  # anonymous is not CloudFront
    ([OAC_STATEMENT, {"Effect": "Deny", "Principal": "*", "NotAction": "s3:List*", "Resource": "*"}],
     CLOUDFRONT, "s3:GetObject", {"AWS:SourceArn": DIST}, "Deny"),
    ([{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, OAC_STATEMENT],
     CLOUDFRONT, "s3:GetObject", {"AWS:SourceArn": DIST, "aws:SecureTransport": "true"}, "Allow"),
    ([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
       "Condition": {"StringNotEqualsIfExists": {"aws:SourceAccount": "999999999999"}}}], policies.Caller(), "s3:GetObject", {}, "Allow"),
    ([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k?.jpg"}],
     policies.Caller(), "s3:GetObject", {}, "Allow"),
])
def test_policy_evaluation(statements, caller, action, context, expected):
    policy = {"Version": "2012-10-17", "Statement": statements}
    assert policies.evaluate(policy, policies.Request(caller, action, "arn:aws:s3:::b/k1.jpg", context)) == expected


@pytest.mark.parametrize(("statement", "public"), [
    ({"Principal": "*"}, True),
    ({"Principal": {"AWS": "*"}}, True),
    ({"Principal": {"AWS": "arn:aws:iam::*:root"}}, True),
    ({"Principal": "*", "Condition": {"StringLike": {"aws:SourceArn": "arn:aws:cloudfront::*"}}}, True),
    ({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
    ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceArn": DIST}}}, False),
    ({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1234"}}}, False),
    ({"Principal": {"Service": "cloudfront.amazonaws.com"}, "Condition": {"StringEquals": {"AWS:SourceArn": DIST}}}, False),
    ({"Principal": {"AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHEXAMPLE"}}, False),
    ({"Principal": "*", "Effect": "Deny"}, False),
])
def test_what_block_public_access_counts_as_public(statement, public):
    full = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*", **statement}
    assert policies.is_public({"Statement": [full]}) is public
