"""The whole walkthrough, run by papermill as a batch user runs it, then checked through boto3.

A fresh emulator, in a region other than us-east-1 (bucket creation needs a
LocationConstraint there), the notebooks 00–08 with each CloudFront access
variant, then the cleanup.
"""

from __future__ import annotations

import io
import json
import urllib.request

import pytest
from PIL import Image

from tests.emulator_helpers import reset
from walkthrough import Settings, aws, cdn, runner, teardown
from walkthrough.errors import WalkthroughError

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
REGION = "eu-west-1"


@pytest.fixture
def kernels_use(fresh_emulator, monkeypatch):
    monkeypatch.setenv("WALKTHROUGH_EMULATOR_PORT", str(fresh_emulator.port))
    return Settings.from_env(region=REGION, emulator_port=fresh_emulator.port)


@pytest.mark.parametrize("access", ["oac", "oai"])
def test_sequence_builds_the_pipeline_then_cleanup_removes_it(access, kernels_use, fresh_emulator, tmp_path):
    settings = kernels_use
    reset(fresh_emulator.endpoint)
    notebooks = runner.select(runner.numbered_notebooks())
    assert notebooks[-1].stem == "08_api_gateway"
    rows = runner.run_notebooks(notebooks, {"target": "local", "region": REGION, "access": access}, tmp_path, progress=False)
    assert [r["notebook"] for r in rows] == [n.stem for n in notebooks]

    s3, dynamodb = aws.client(settings, "s3"), aws.client(settings, "dynamodb")
    assert s3.get_bucket_location(Bucket=settings.raw_bucket)["LocationConstraint"] == REGION
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

    runner.run_notebooks(runner.select(runner.numbered_notebooks(), "99", "99", cleanup=True), {"region": REGION}, tmp_path, progress=False)
    assert teardown.remaining(settings) == []


def test_a_failing_step_names_the_notebook_the_cell_and_the_reason(kernels_use, tmp_path):
    notebooks = runner.select(runner.numbered_notebooks(), "01", "01")
    with pytest.raises(WalkthroughError) as failure:
        runner.run_notebooks(notebooks, {"target": "gcp"}, tmp_path, progress=False)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("01_s3_buckets, cell ") and "Unknown target 'gcp'" in message


@pytest.mark.parametrize("notebook", [n.stem for n in runner.numbered_notebooks()])
def test_each_notebook_runs_on_its_own_from_an_empty_emulator(notebook, kernels_use, fresh_emulator, tmp_path):
    """A workshop attendee who joins late opens this notebook first: it still runs top to bottom."""
    reset(fresh_emulator.endpoint)
    chosen = [n for n in runner.numbered_notebooks() if n.stem == notebook]
    rows = runner.run_notebooks(chosen, {"region": REGION}, tmp_path, progress=False)
    assert rows[0]["notebook"] == notebook
