"""The whole walkthrough, run by papermill as a batch user runs it, then checked through boto3.

A fresh emulator, in a region other than us-east-1 (bucket creation needs a
LocationConstraint there), the numbered notebooks (00–09) with each CloudFront
access variant, then the cleanup.

Each notebook configuration runs once. The CloudFront access variant is a
parameter of 06 onwards only, so the OAI run starts at 06 on an empty emulator
(06 makes what 01–05 made, as any notebook opened first does): 00–05 with
``access="oai"`` would repeat the OAC run's 00–05 exactly.
``test_only_notebooks_from_06_read_the_access_variant`` keeps that true. And
the OAC run starts 00 and then 01 on an empty emulator, which is what running
each of them on its own would check again.
"""

from __future__ import annotations

import ast
import io
import json
import urllib.request

import nbformat

import pytest
from PIL import Image

from tests.emulator_helpers import reset
from walkthrough import Settings, aws, cdn, mistakes, runner, teardown
from walkthrough.errors import WalkthroughError

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
REGION = "eu-west-1"


@pytest.fixture
def kernels_use(fresh_emulator, monkeypatch):
    monkeypatch.setenv("WALKTHROUGH_EMULATOR_PORT", str(fresh_emulator.port))
    return Settings.from_env(region=REGION, emulator_port=fresh_emulator.port)


#: The first notebook that reads the ``access`` parameter (the CloudFront step).
FIRST_WITH_ACCESS = "06"


def _names_in_code(notebook) -> set[str]:
    names = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            names |= {node.id for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Name)}
    return names


def test_only_notebooks_from_06_read_the_access_variant():
    """What lets the OAI run start at 06: before it, no notebook's code names ``access``."""
    readers = [n.stem for n in runner.numbered_notebooks() if "access" in _names_in_code(n)]
    assert readers and min(readers)[:2] == FIRST_WITH_ACCESS, readers


@pytest.mark.parametrize("access", ["oac", "oai"])
def test_sequence_builds_the_pipeline_then_cleanup_removes_it(access, kernels_use, fresh_emulator, tmp_path):
    settings = kernels_use
    reset(fresh_emulator.endpoint)
    parameters = {"target": "local", "region": REGION, "access": access}
    if access == "oac":
        notebooks = runner.select(runner.numbered_notebooks())
        rows = runner.run_notebooks(notebooks[:1], parameters, tmp_path, progress=False)
        assert teardown.remaining(settings) == []  # 00 creates nothing: 01 too starts on an empty emulator
        rows += runner.run_notebooks(notebooks[1:], parameters, tmp_path, progress=False)
    else:  # 00-05 do not depend on the access variant: the OAC run ran them
        notebooks = runner.select(runner.numbered_notebooks(), FIRST_WITH_ACCESS)
        rows = runner.run_notebooks(notebooks, parameters, tmp_path, progress=False)
    assert {"08_api_gateway", "09_when_it_goes_wrong", "10_pipeline_as_code"} <= {n.stem for n in notebooks}
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
    assert mistakes.leftovers(settings) == []  # 09 put back everything it broke

    runner.run_notebooks(runner.select(runner.numbered_notebooks(), "99", "99", cleanup=True), {"region": REGION}, tmp_path, progress=False)
    assert teardown.remaining(settings) == []


def test_a_failing_step_names_the_notebook_the_cell_and_the_reason(kernels_use, tmp_path):
    notebooks = runner.select(runner.numbered_notebooks(), "01", "01")
    with pytest.raises(WalkthroughError) as failure:
        runner.run_notebooks(notebooks, {"target": "gcp"}, tmp_path, progress=False)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("01_s3_buckets, cell ") and "Unknown target 'gcp'" in message


# 00 and 01 run on an empty emulator at the start of the OAC sequence above.
@pytest.mark.parametrize("notebook", [n.stem for n in runner.numbered_notebooks() if n.name[:2] not in ("00", "01")])
def test_each_notebook_runs_on_its_own_from_an_empty_emulator(notebook, kernels_use, fresh_emulator, tmp_path):
    """A workshop attendee who joins late opens this notebook first: it still runs top to bottom."""
    reset(fresh_emulator.endpoint)
    chosen = [n for n in runner.numbered_notebooks() if n.stem == notebook]
    rows = runner.run_notebooks(chosen, {"region": REGION}, tmp_path, progress=False)
    assert rows[0]["notebook"] == notebook
