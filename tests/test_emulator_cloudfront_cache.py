"""CloudFront's edge cache on the emulator: hits, misses, TTLs, errors, invalidations.

The rules and wording are CloudFront's own, from the Amazon CloudFront Developer Guide:
"Manage how long content stays in the cache (expiration)"
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html),
"Use managed cache policies" (.../using-managed-cache-policies.html),
"How CloudFront processes and caches HTTP 4xx and 5xx status codes from your origin"
(.../HTTPStatusCodes.html), and "What you need to know when invalidating files"
(.../invalidation-specifying-objects.html: paths start with ``/`` in the API, ``*`` only
as the last character; refused with ``InvalidArgument: Your request contains one or more
invalid invalidation paths.``).
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from tests.test_emulator_cloudfront import CACHING_DISABLED, distribution, fetch, new_oac, oac_policy, site
from walkthrough.emulator import urls
from walkthrough.emulator.cloudfront_cache import (
    MANAGED_CACHE_POLICIES, CachePolicy, EdgeCache, Entry, InvalidInvalidation, cache_key_query, check_invalidation_paths,
    error_ttl, invalidates, object_ttl,
)

OPTIMIZED = MANAGED_CACHE_POLICIES["658327ea-f89d-4fab-a63d-7e88639e58f6"]
NOW = 1_800_000_000.0


# ----------------------------------------------------------------------------------- the rules, without an emulator


@pytest.mark.parametrize("headers, policy, seconds", [
    ({}, OPTIMIZED, 86400),  # no Cache-Control: the default TTL
    ({"Cache-Control": "public, max-age=300"}, OPTIMIZED, 300),  # between min and max: max-age
    ({"Cache-Control": "max-age=0"}, OPTIMIZED, 1),  # below the minimum TTL: the minimum
    ({"Cache-Control": "max-age=999999999"}, OPTIMIZED, 31536000),  # above the maximum: the maximum
    ({"Cache-Control": "max-age=60, s-maxage=600"}, OPTIMIZED, 600),  # s-maxage is CloudFront's
    ({"Cache-Control": "no-store"}, OPTIMIZED, 1),  # minimum TTL above 0: cached for the minimum anyway
    ({"Cache-Control": "no-cache"}, CachePolicy("legacy", 0, 86400, 31536000), 0),  # minimum 0: honoured
    ({"Cache-Control": "private, max-age=600"}, CachePolicy("legacy", 0, 86400, 31536000), 0),
    ({"Expires": formatdate(NOW + 120, usegmt=True)}, OPTIMIZED, 120),
    ({"Expires": formatdate(NOW + 120, usegmt=True), "Cache-Control": "max-age=30"}, OPTIMIZED, 30),  # max-age wins
    ({"Expires": "not a date"}, CachePolicy("legacy", 0, 86400, 31536000), 0),
    ({}, CachePolicy("legacy", 3600, 60, 86400), 3600),  # the greater of the minimum and the default
    ({"Cache-Control": "max-age=300"}, MANAGED_CACHE_POLICIES["4135ea2d-6df8-44a3-9df3-4b5a84be39ad"], 0),  # CachingDisabled
])
def test_how_long_an_object_stays_follows_the_expiration_table(headers, policy, seconds):
    assert object_ttl(headers, policy, NOW) == seconds


def test_which_origin_errors_are_cached_and_for_how_long():
    assert error_ttl(404, {}) == 10  # always, for the error caching minimum TTL
    assert error_ttl(503, {}) == 10
    assert error_ttl(404, {}, error_min_ttl=0) == 0  # a custom error response can turn it off
    assert error_ttl(403, {}) == 0  # only with max-age or s-maxage from the origin
    assert error_ttl(403, {"Cache-Control": "max-age=60"}) == 60
    assert error_ttl(404, {"Cache-Control": "max-age=3"}) == 10  # the larger of the two
    assert error_ttl(401, {"Cache-Control": "max-age=60"}) == 0


def test_invalidation_paths_are_checked_as_the_api_checks_them():
    assert check_invalidation_paths(["/photo.jpg", "/images/*", "/*", "/images/image*"]) == ["/photo.jpg", "/images/*", "/*", "/images/image*"]
    for bad in (["photo.jpg"], ["/images/*.jpg"], [], ["/" + "a" * 4000]):
        with pytest.raises(InvalidInvalidation) as refused:
            check_invalidation_paths(bad)
        assert (refused.value.code, refused.value.message) == ("InvalidArgument", "Your request contains one or more invalid invalidation paths.")


def test_what_an_invalidation_path_matches():
    assert invalidates("/photo.jpg", "/photo.jpg") and not invalidates("/photo.jpg", "/Photo.jpg")  # case-sensitive
    assert invalidates("/images/*", "/images/a/b.jpg") and not invalidates("/images/*", "/images")
    assert invalidates("/images*", "/images") and invalidates("/*", "/")
    assert invalidates("/2026/a%20b.jpg", "/2026/a b.jpg")  # URL-encoded as the docs ask
    assert not invalidates("/image.jpg", "/image.jpg?v=2") and invalidates("/image.jpg*", "/image.jpg?v=2")


@given(st.lists(st.text(alphabet="abc/.", max_size=8).map(lambda s: "/" + s), min_size=1, max_size=20), st.text(alphabet="abc/.", max_size=4))
def test_a_wildcard_clears_exactly_the_paths_it_prefixes(paths, prefix):
    cache = EdgeCache(clock=lambda: NOW)
    for path in paths:
        cache.put(("E1", path), Entry(200, [], b"x", "text/plain", NOW, 60, (path,)))
    cache.put(("E2", "/" + prefix), Entry(200, [], b"x", "text/plain", NOW, 60, ("/" + prefix,)))
    cache.invalidate("E1", ["/" + prefix + "*"])
    assert {p for p in paths if cache.get(("E1", p))} == {p for p in paths if not p.startswith("/" + prefix)}
    assert cache.get(("E2", "/" + prefix)) is not None  # another distribution's cache is its own


def test_entries_age_expire_and_are_evicted_least_recently_used_first():
    clock = [NOW]
    cache = EdgeCache(clock=lambda: clock[0], max_bytes=300)
    entry = Entry(200, [("ETag", '"abc"')], b"x" * 100, "image/jpeg", NOW, 60, ("/a",))
    cache.put(("E1", "/a"), entry)
    clock[0] += 59.5
    assert entry.fresh(clock[0]) and entry.age(clock[0]) == 59
    clock[0] += 1
    assert not entry.fresh(clock[0])
    cache.put(("E1", "/b"), Entry(200, [], b"y" * 100, "image/jpeg", NOW, 60, ("/b",)))
    cache.get(("E1", "/a"))  # /a used again: /b is now the least recently used
    cache.put(("E1", "/c"), Entry(200, [], b"z" * 150, "image/jpeg", NOW, 60, ("/c",)))
    assert cache.get(("E1", "/b")) is None and cache.get(("E1", "/a")) is not None


def test_only_the_query_strings_in_the_cache_key_count():
    assert cache_key_query("v=2&utm=x", OPTIMIZED) == ""
    assert cache_key_query("v=2&a=1", CachePolicy("legacy", 0, 1, 1, "all")) == "a=1&v=2"
    assert cache_key_query("v=2&utm=x", CachePolicy("legacy", 0, 1, 1, ("v",))) == "v=2"


# ------------------------------------------------------------------------------------- on the emulator

def _served(emulator, files, **options):
    """A private bucket, a distribution with an OAC, and the policy that lets it read: (bucket, distribution, url of a key)."""
    bucket = site(emulator, files)
    dist = distribution(emulator, bucket, oac=new_oac(emulator), **options)
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    return bucket, dist, lambda key: urls.cloudfront_url(emulator.endpoint, dist["Id"], key)


def _legacy_distribution(emulator, bucket: str, min_ttl: int, **behaviour) -> dict:
    """A distribution with legacy cache settings (ForwardedValues and TTLs in the behaviour), as older templates have."""
    origin = {"Id": "s3-origin", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com", "OriginPath": "",
              "S3OriginConfig": {"OriginAccessIdentity": ""}, "OriginAccessControlId": new_oac(emulator)}
    config = {
        "CallerReference": f"legacy-{time.time_ns()}", "Comment": "walkthrough test", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3-origin", "ViewerProtocolPolicy": "allow-all", "MinTTL": min_ttl,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}, **behaviour},
    }
    dist = emulator.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]
    emulator.client("s3").put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, dist["ARN"]))
    return dist


def _invalidate(emulator, distribution_id: str, *paths: str) -> dict:
    return emulator.client("cloudfront").create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": len(paths), "Items": list(paths)}, "CallerReference": f"inv-{time.time_ns()}"})["Invalidation"]


@pytest.mark.emulator
def test_a_replaced_object_is_served_from_the_cache_until_invalidated(emulator):
    s3, cloudfront = emulator.client("s3"), emulator.client("cloudfront")
    bucket, dist, url = _served(emulator, {"img/a.jpg": (b"old a", "image/jpeg"), "img/b.jpg": (b"old b", "image/jpeg"),
                                          "index.html": (b"<h1>home</h1>", "text/html")})
    status, headers, body = fetch(url("img/a.jpg"))
    assert (status, body, headers["X-Cache"]) == (200, b"old a", "Miss from cloudfront") and "Age" not in headers
    status, headers, body = fetch(url("img/a.jpg"))
    assert (status, body, headers["X-Cache"]) == (200, b"old a", "Hit from cloudfront") and int(headers["Age"]) >= 0
    fetch(url("img/b.jpg"))
    fetch(url("index.html"))

    s3.put_object(Bucket=bucket, Key="img/a.jpg", Body=b"new a", ContentType="image/jpeg", CacheControl="public, max-age=300")
    s3.put_object(Bucket=bucket, Key="img/b.jpg", Body=b"new b", ContentType="image/jpeg", CacheControl="public, max-age=300")
    status, headers, body = fetch(url("img/a.jpg"))
    assert (body, headers["X-Cache"]) == (b"old a", "Hit from cloudfront")  # S3 has the new one; the edge keeps the old
    assert headers["ETag"] != s3.head_object(Bucket=bucket, Key="img/a.jpg")["ETag"]

    invalidation = _invalidate(emulator, dist["Id"], "/img/*")
    assert invalidation["Status"] == "InProgress" and invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/img/*"]
    cloudfront.get_waiter("invalidation_completed").wait(DistributionId=dist["Id"], Id=invalidation["Id"])
    assert cloudfront.get_invalidation(DistributionId=dist["Id"], Id=invalidation["Id"])["Invalidation"]["Status"] == "Completed"
    listed = cloudfront.list_invalidations(DistributionId=dist["Id"])["InvalidationList"]["Items"]
    assert [(i["Id"], i["Status"]) for i in listed] == [(invalidation["Id"], "Completed")]

    for key, new in (("img/a.jpg", b"new a"), ("img/b.jpg", b"new b")):
        status, headers, body = fetch(url(key))
        assert (body, headers["X-Cache"]) == (new, "Miss from cloudfront")
        assert headers["ETag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"]
    assert fetch(url("index.html"))[1]["X-Cache"] == "Hit from cloudfront"  # outside the wildcard: still cached


@pytest.mark.emulator
def test_invalidation_paths_caller_references_and_unknown_distributions_as_cloudfront_answers(emulator):
    cloudfront = emulator.client("cloudfront")
    _, dist, _ = _served(emulator, {"index.html": (b"home", "text/html")})
    for paths in (["index.html"], ["/img/*.jpg"]):
        with pytest.raises(ClientError) as refused:
            _invalidate(emulator, dist["Id"], *paths)
        assert refused.value.response["Error"]["Code"] == "InvalidArgument"
        assert refused.value.response["Error"]["Message"] == "Your request contains one or more invalid invalidation paths."
    batch = {"Paths": {"Quantity": 1, "Items": ["/index.html"]}, "CallerReference": "deploy-42"}
    first = cloudfront.create_invalidation(DistributionId=dist["Id"], InvalidationBatch=batch)["Invalidation"]
    again = cloudfront.create_invalidation(DistributionId=dist["Id"], InvalidationBatch=batch)["Invalidation"]
    assert again["Id"] == first["Id"]
    with pytest.raises(ClientError) as refused:
        cloudfront.create_invalidation(DistributionId=dist["Id"], InvalidationBatch={**batch, "Paths": {"Quantity": 1, "Items": ["/*"]}})
    assert refused.value.response["Error"]["Code"] == "InvalidationBatchAlreadyExists"
    with pytest.raises(ClientError) as refused:
        _invalidate(emulator, "E0NOSUCHDIST00", "/*")
    assert refused.value.response["Error"]["Code"] == "NoSuchDistribution"


@pytest.mark.emulator
def test_past_its_ttl_an_entry_is_revalidated_or_fetched_again(emulator):
    s3 = emulator.client("s3")
    bucket = site(emulator)
    s3.put_object(Bucket=bucket, Key="short.txt", Body=b"v1", ContentType="text/plain", CacheControl="max-age=1")
    dist = _legacy_distribution(emulator, bucket, min_ttl=0)
    url = urls.cloudfront_url(emulator.endpoint, dist["Id"], "short.txt")
    assert fetch(url)[1]["X-Cache"] == "Miss from cloudfront"
    assert fetch(url)[1]["X-Cache"] == "Hit from cloudfront"
    time.sleep(1.1)  # the object's own max-age=1 (minimum TTL 0)
    status, headers, body = fetch(url)
    assert (status, body, headers["X-Cache"], headers["Age"]) == (200, b"v1", "RefreshHit from cloudfront", "0")  # S3 said 304
    s3.put_object(Bucket=bucket, Key="short.txt", Body=b"v2", ContentType="text/plain", CacheControl="max-age=1")
    assert fetch(url)[2] == b"v1"  # fresh again for a second
    time.sleep(1.1)
    status, headers, body = fetch(url)
    assert (body, headers["X-Cache"]) == (b"v2", "Miss from cloudfront")


@pytest.mark.emulator
def test_no_store_is_honoured_only_with_a_minimum_ttl_of_zero(emulator):
    s3 = emulator.client("s3")
    bucket = site(emulator)
    s3.put_object(Bucket=bucket, Key="live.json", Body=b"{}", ContentType="application/json", CacheControl="no-store")
    legacy = _legacy_distribution(emulator, bucket, min_ttl=0)
    url = urls.cloudfront_url(emulator.endpoint, legacy["Id"], "live.json")
    assert [fetch(url)[1]["X-Cache"] for _ in range(2)] == ["Miss from cloudfront"] * 2
    optimized = distribution(emulator, bucket, oac=new_oac(emulator))  # CachingOptimized: minimum TTL 1 s
    s3.put_bucket_policy(Bucket=bucket, Policy=oac_policy(bucket, optimized["ARN"]))
    url = urls.cloudfront_url(emulator.endpoint, optimized["Id"], "live.json")
    assert [fetch(url)[1]["X-Cache"] for _ in range(2)] == ["Miss from cloudfront", "Hit from cloudfront"]


@pytest.mark.emulator
def test_legacy_settings_without_ttls_get_the_apis_defaults(emulator):
    bucket = site(emulator, {"a.txt": (b"a", "text/plain")})
    s3 = emulator.client("s3")
    s3.put_object(Bucket=bucket, Key="plain.txt", Body=b"p", ContentType="text/plain")  # no Cache-Control at all
    dist = _legacy_distribution(emulator, bucket, min_ttl=0)
    config = emulator.client("cloudfront").get_distribution_config(Id=dist["Id"])["DistributionConfig"]["DefaultCacheBehavior"]
    assert (config["MinTTL"], config["DefaultTTL"], config["MaxTTL"]) == (0, 86400, 31536000)
    url = urls.cloudfront_url(emulator.endpoint, dist["Id"], "plain.txt")
    assert [fetch(url)[1]["X-Cache"] for _ in range(2)] == ["Miss from cloudfront", "Hit from cloudfront"]


@pytest.mark.emulator
def test_a_cached_object_is_served_even_after_the_bucket_policy_stops_allowing_it(emulator):
    bucket, _, url = _served(emulator, {"photo.jpg": (b"jpeg", "image/jpeg")})
    assert fetch(url("photo.jpg"))[0] == 200
    emulator.client("s3").delete_bucket_policy(Bucket=bucket)
    status, headers, _ = fetch(url("photo.jpg"))
    assert (status, headers["X-Cache"]) == (200, "Hit from cloudfront")  # the edge does not ask S3 again before the TTL


@pytest.mark.emulator
def test_a_404_is_cached_for_ten_seconds_and_a_403_is_not(emulator):
    s3 = emulator.client("s3")
    bucket, dist, url = _served(emulator, {"index.html": (b"home", "text/html")})
    assert fetch(url("soon.jpg"))[0] == 403  # CloudFront may not list the bucket: S3 says 403, which is not cached
    s3.put_object(Bucket=bucket, Key="soon.jpg", Body=b"here", ContentType="image/jpeg")
    assert fetch(url("soon.jpg"))[0] == 200

    policy = json.loads(oac_policy(bucket, dist["ARN"]))
    policy["Statement"][0]["Action"] = ["s3:GetObject", "s3:ListBucket"]
    policy["Statement"][0]["Resource"] = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert fetch(url("later.jpg"))[0] == 404
    s3.put_object(Bucket=bucket, Key="later.jpg", Body=b"here", ContentType="image/jpeg")
    status, headers, body = fetch(url("later.jpg"))
    assert (status, headers["X-Cache"]) == (404, "Error from cloudfront") and b"NoSuchKey" in body  # the cached 404
    _invalidate(emulator, dist["Id"], "/later.jpg")
    assert fetch(url("later.jpg"))[0] == 200


@pytest.mark.emulator
def test_the_viewers_conditional_get_is_answered_from_the_cache(emulator):
    _, _, url = _served(emulator, {"photo.jpg": (b"jpeg bytes", "image/jpeg")})
    etag = fetch(url("photo.jpg"))[1]["ETag"]
    status, headers, body = fetch(url("photo.jpg"), headers={"If-None-Match": etag})
    assert (status, body, headers["X-Cache"]) == (304, b"", "Hit from cloudfront")
    assert fetch(url("photo.jpg"), headers={"If-None-Match": '"other"'})[0] == 200
    status, headers, body = fetch(url("photo.jpg"), headers={"Range": "bytes=0-3"})
    assert (status, body) == (206, b"jpeg")  # ranges go to the origin


@pytest.mark.emulator
def test_caching_disabled_and_unknown_cache_policies(emulator):
    s3 = emulator.client("s3")
    bucket, _, url = _served(emulator, {"a.txt": (b"a", "text/plain")}, cache_policy=CACHING_DISABLED)
    assert [fetch(url("a.txt"))[1]["X-Cache"] for _ in range(2)] == ["Miss from cloudfront"] * 2
    with pytest.raises(ClientError) as refused:
        distribution(emulator, bucket, oac=new_oac(emulator), cache_policy="11111111-2222-3333-4444-555555555555")
    assert refused.value.response["Error"]["Code"] == "NoSuchCachePolicy"
    assert s3.head_bucket(Bucket=bucket)
