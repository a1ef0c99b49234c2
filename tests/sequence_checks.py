"""What the whole notebook sequence must leave behind, checked through boto3.

Shared by the two runs of the sequence: nbval's run of the committed notebooks
(tests/test_committed_notebooks.py: local, us-east-1, OAC, 00 to 10) and the
papermill run with the other CloudFront access variant in another region
(tests/test_notebook_sequence.py: OAI, eu-west-1, 06 to 08).
"""

from __future__ import annotations

import io
import json
import urllib.request

from PIL import Image

from walkthrough import Settings, aws, cdn, mistakes, runner


def assert_pipeline_built(settings: Settings, access: str) -> None:
    """The pipeline 01–08 built and working, 09's mistakes (when it ran) all put back, 10's stack gone."""
    s3, dynamodb = aws.client(settings, "s3"), aws.client(settings, "dynamodb")
    expected_constraint = None if settings.region == "us-east-1" else settings.region  # S3's answer for us-east-1
    assert s3.get_bucket_location(Bucket=settings.raw_bucket)["LocationConstraint"] == expected_constraint
    processed = s3.get_object(Bucket=settings.processed_bucket, Key="processed-photo.jpg")
    image = Image.open(io.BytesIO(processed["Body"].read()))
    assert image.format == "JPEG" and max(image.size) == 400
    item = dynamodb.get_item(TableName=settings.table_name, Key={"filename": {"S": "photo.jpg"}})["Item"]
    assert item["status"]["S"] == "processed" and item["processed_key"]["S"] == "processed-photo.jpg"
    assert int(item["size"]["N"]) == (runner.NOTEBOOKS / "data" / "photo.jpg").stat().st_size
    failed = dynamodb.get_item(TableName=settings.table_name, Key={"filename": {"S": "not-really-an-image.jpg"}})["Item"]
    assert failed["status"]["S"] == "failed" and failed["error"]["S"]

    distribution = cdn.find_distribution_summary(settings)
    config = aws.client(settings, "cloudfront").get_distribution_config(Id=distribution["id"])["DistributionConfig"]
    assert config["Enabled"] and config["DefaultRootObject"] == "index.html"
    assert config["Origins"]["Items"][0]["DomainName"].startswith(settings.processed_bucket + ".s3.")
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    origin = config["Origins"]["Items"][0]
    policy = json.loads(s3.get_bucket_policy(Bucket=settings.processed_bucket)["Policy"])["Statement"][0]
    if access == "oac":
        assert origin["OriginAccessControlId"] and policy["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    else:
        oai = origin["S3OriginConfig"]["OriginAccessIdentity"].rsplit("/", 1)[-1]
        assert policy["Principal"] == {"AWS": f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai}"}
    served = urllib.request.urlopen(cdn.url_for(settings, distribution, "processed-photo.jpg"), timeout=10)
    assert served.status == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert cdn.fetch_directly(settings, "processed-photo.jpg")["status"] == 403
    assert [a["name"] for a in aws.client(settings, "apigateway").get_rest_apis()["items"]] == ["ImageProcessingApi"]
    assert mistakes.leftovers(settings) == []  # 09 put back everything it broke
