"""Reprocessing: the function runs again over the raw bucket's images and CloudFront stops serving the old ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from tests.emulator_helpers import unique_settings
from tests.handler_helpers import load_handler
from walkthrough import Settings, cdn, iam, lambda_fn, pipeline, reprocess, sequence
from walkthrough.__main__ import main
from walkthrough.errors import WalkthroughError

PHOTO = "notebooks/data/photo.jpg"
BATCH = "notebooks/data/batch"


@given(st.text(min_size=1, max_size=40).filter(lambda k: not k.endswith("/")))
@hypothesis_settings(max_examples=200)
def test_the_event_names_the_key_as_s3_does_and_the_function_reads_it_back(key):
    """The record is S3's shape (key URL-encoded, a space as '+'), so the handler's own parser decodes the same key."""
    event = reprocess.s3_event(Settings(), key, 12, "abc")
    record = load_handler().S3ObjectRecord.parse(event["Records"][0])
    assert (record.key, record.etag, record.size, record.sequencer) == (key, "abc", 12, None)
    assert record.is_object_created


@pytest.fixture
def pipeline_up(emulator):
    settings = unique_settings(emulator.endpoint, "eu-west-2")
    sequence.ensure_before(settings, 7)
    return settings


def _redeploy(settings, **environment):
    lambda_fn.deploy_function(settings, iam.describe_role(settings)["arn"], sequence.pillow_layer_arn(settings),
                              MAX_DIMENSION="400", **environment)


@pytest.mark.emulator
@pytest.mark.slow
def test_a_new_watermark_reaches_every_image_and_cloudfront_serves_the_new_ones(pipeline_up):
    settings = pipeline_up
    pipeline.process(settings, PHOTO)
    pipeline.process(settings, f"{BATCH}/rocket.jpg", key="2026/rocket.jpg")
    pipeline.process(settings, f"{BATCH}/not-really-an-image.jpg", key="2026/not-really-an-image.jpg")
    old = cdn.fetch(settings, "processed-photo.jpg")
    assert cdn.fetch(settings, "processed-photo.jpg")["headers"]["X-Cache"] == "Hit from cloudfront"

    _redeploy(settings, WATERMARK_TEXT="© 2026 the walkthrough")
    assert cdn.fetch(settings, "processed-photo.jpg")["body"] == old["body"]  # the function changed; the images did not

    result = reprocess.reprocess(settings, progress=False)
    rows = {r["key"]: r for r in result.rows}
    assert set(rows) == {"photo.jpg", "2026/rocket.jpg", "2026/not-really-an-image.jpg"}
    assert rows["photo.jpg"]["outcome"] == rows["2026/rocket.jpg"]["outcome"] == "processed"
    assert rows["2026/not-really-an-image.jpg"]["outcome"] == "failed" and rows["2026/not-really-an-image.jpg"]["detail"]
    assert rows["photo.jpg"]["changed"] and rows["2026/rocket.jpg"]["changed"]
    assert sorted(result.changed) == ["2026/processed-rocket.jpg", "processed-photo.jpg"]
    assert result.invalidation["paths"] == ["/2026/processed-rocket.jpg", "/processed-photo.jpg"]
    assert result.invalidation["status"] == "Completed"
    summary = result.summary()
    assert (summary["objects"], summary["processed"], summary["failed"], summary["images changed"]) == (3, 2, 1, 2)

    new = cdn.fetch(settings, "processed-photo.jpg")
    assert new["headers"]["X-Cache"] == "Miss from cloudfront" and new["body"] != old["body"]
    assert new["headers"]["ETag"] != old["headers"]["ETag"]
    item = pipeline.metadata_item(settings, "photo.jpg")
    assert item["status"] == "processed" and item["etag"] == pipeline.upload(settings, PHOTO).etag  # the source's ETag, as recorded

    again = reprocess.reprocess(settings, prefix="2026/", progress=False)  # nothing changed since: nothing to invalidate
    assert [r["key"] for r in again.rows] == ["2026/not-really-an-image.jpg", "2026/rocket.jpg"]
    assert not again.changed and again.invalidation is None


@pytest.fixture
def cli_uses(monkeypatch):
    """The CLI on a test's own settings (names no other test uses) instead of the environment's."""
    import walkthrough.__main__ as cli

    def use(settings):
        monkeypatch.setattr(cli, "_notebook_parameters", lambda args: (settings, {}))
    return use


@pytest.mark.emulator
@pytest.mark.slow
def test_an_empty_prefix_is_a_one_line_error(pipeline_up, cli_uses, capsys):
    settings = pipeline_up
    with pytest.raises(WalkthroughError, match="No objects under 'nothing-here/'"):
        reprocess.reprocess(settings, prefix="nothing-here/", progress=False)
    cli_uses(settings)
    assert main(["reprocess", "--prefix", "nothing-here/"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("walkthrough: error: No objects under 'nothing-here/'") and err.count("\n") == 1


@pytest.mark.emulator
@pytest.mark.slow
def test_the_cli_reprocesses_by_prefix_and_prints_a_table_and_a_summary(pipeline_up, cli_uses, capsys):
    settings = pipeline_up
    pipeline.process(settings, PHOTO)
    pipeline.process(settings, PHOTO, key="other/photo.jpg")
    cli_uses(settings)
    assert main(["reprocess", "--prefix", "other/"]) == 0
    out = capsys.readouterr().out
    assert "other/photo.jpg" in out and "processed" in out and "objects: 1" in out
    assert "images changed: 0" in out and "invalidated: nothing" in out  # the same function: the same bytes


@pytest.mark.emulator
@pytest.mark.slow
def test_a_function_that_fails_is_reported_per_object_naming_the_section_and_the_cli_fails(pipeline_up, cli_uses, capsys):
    from walkthrough import aws

    settings = pipeline_up
    pipeline.process(settings, PHOTO)
    lam = aws.client(settings, "lambda")
    lam.update_function_configuration(FunctionName=settings.function_name, Layers=[])  # no Pillow
    lam.get_waiter("function_updated_v2").wait(FunctionName=settings.function_name)
    result = reprocess.reprocess(settings, progress=False)
    row = result.rows[0]
    assert (row["key"], row["outcome"], row["changed"]) == ("photo.jpg", "error", False)
    assert row["detail"].startswith("Runtime.ImportModuleError: Unable to import module 'lambda_function': No module named 'PIL'")
    assert row["detail"].endswith('(see 09_when_it_goes_wrong, section 1 "No Pillow layer")')
    assert result.invalidation is None
    cli_uses(settings)
    assert main(["reprocess"]) == 1
    assert "Runtime.ImportModuleError" in capsys.readouterr().out
