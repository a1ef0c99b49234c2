"""New buckets get S3's defaults of today: Block Public Access on and ACLs disabled (BucketOwnerEnforced).

Wording and behaviour from https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html
("An error occurred (AccessControlListNotSupported) when calling the PutObject operation: The bucket does not
allow ACLs"; InvalidBucketAclWithObjectOwnership) and the April 2023 change of defaults
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/create-bucket-faq.html).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.emulator


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def test_a_new_bucket_blocks_public_access_and_disables_acls(emulator):
    s3 = emulator.client("s3")
    name = emulator.unique("defaults")
    s3.create_bucket(Bucket=name)
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_creating_it_again_keeps_what_the_owner_changed(emulator):
    s3 = emulator.client("s3")
    name = emulator.unique("again")
    s3.create_bucket(Bucket=name)
    s3.delete_public_access_block(Bucket=name)
    s3.create_bucket(Bucket=name)  # us-east-1 answers 200 for your own bucket
    with pytest.raises(ClientError) as missing:
        s3.get_public_access_block(Bucket=name)
    assert code_of(missing.value) == "NoSuchPublicAccessBlockConfiguration"


def test_an_acl_on_put_copy_or_upload_is_refused(emulator):
    s3 = emulator.client("s3")
    name = emulator.unique("noacl")
    s3.create_bucket(Bucket=name)
    for attempt in (
        lambda: s3.put_object(Bucket=name, Key="a.jpg", Body=b"x", ACL="public-read"),
        lambda: s3.put_object(Bucket=name, Key="a.jpg", Body=b"x", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        lambda: s3.create_multipart_upload(Bucket=name, Key="big.jpg", ACL="public-read"),
    ):
        with pytest.raises(ClientError, match="The bucket does not allow ACLs") as refused:
            attempt()
        assert code_of(refused.value) == "AccessControlListNotSupported"
    s3.put_object(Bucket=name, Key="a.jpg", Body=b"x")
    with pytest.raises(ClientError, match="AccessControlListNotSupported"):
        s3.copy_object(Bucket=name, Key="b.jpg", CopySource={"Bucket": name, "Key": "a.jpg"}, ACL="public-read")
    with pytest.raises(ClientError, match="AccessControlListNotSupported"):
        s3.put_object_acl(Bucket=name, Key="a.jpg", ACL="public-read")
    with pytest.raises(ClientError, match="AccessControlListNotSupported"):
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    s3.put_object(Bucket=name, Key="c.jpg", Body=b"x", ACL="bucket-owner-full-control")  # the one S3 accepts
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{emulator.endpoint}/{name}/a.jpg", timeout=5)
    assert anonymous.value.code == 403


def test_creating_a_bucket_with_a_public_acl_is_refused_unless_ownership_allows_acls(emulator):
    s3 = emulator.client("s3")
    name = emulator.unique("publicacl")
    with pytest.raises(ClientError, match="Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting") as refused:
        s3.create_bucket(Bucket=name, ACL="public-read")
    assert code_of(refused.value) == "InvalidBucketAclWithObjectOwnership"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)  # nothing was created
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    s3.delete_public_access_block(Bucket=name)
    s3.put_object(Bucket=name, Key="public.jpg", Body=b"seen by all", ACL="public-read")
    with urllib.request.urlopen(f"{emulator.endpoint}/{name}/public.jpg", timeout=5) as response:
        assert response.read() == b"seen by all"
