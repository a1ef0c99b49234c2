"""Each step module, run twice: the first run creates, the second changes nothing and says so."""

from __future__ import annotations


import pytest

from walkthrough import buckets, cdn, iam, lambda_fn, layer, pipeline, sequence, table, teardown, trigger
from walkthrough.errors import WalkthroughError

from tests.emulator_helpers import unique_settings

pytestmark = pytest.mark.emulator


@pytest.fixture
def settings(emulator):
    return unique_settings(emulator.endpoint, "eu-central-1")


def test_buckets_are_private_and_idempotent(settings):
    assert {r["status"] for r in buckets.create_buckets(settings)} == {"created"}
    assert {r["status"] for r in buckets.create_buckets(settings)} == {"exists"}
    for row in buckets.describe_buckets(settings):
        assert row["region"] == "eu-central-1"
        assert all(row[setting] for setting in buckets.BLOCK_ALL)


def test_table_is_created_once_with_the_documents_key(settings):
    assert table.create_table(settings)["status"] == "created"
    described = table.create_table(settings)
    assert described["status"] == "exists"
    assert described["partition_key"] == "filename (String)" and described["table_status"] == "ACTIVE"


def test_role_switches_between_least_privilege_and_the_documents_policies(settings):
    first = iam.create_role(settings)
    assert first["status"] == "created"
    assert iam.create_role(settings) == {**first, "status": "exists", "changes": []}
    managed = iam.create_role(settings, "managed")
    assert managed["status"] == "updated"
    names = set(iam.describe_role(settings)["policies"])
    assert names == {"AmazonS3FullAccess (AWS managed)", "AmazonDynamoDBFullAccess (AWS managed)", "CloudWatchLogsFullAccess (AWS managed)"}
    iam.create_role(settings)
    assert set(iam.describe_role(settings)["policies"]) == {f"{iam.INLINE_POLICY_NAME} (inline)"}
    trust = iam.describe_role(settings)["trust_policy"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    with pytest.raises(WalkthroughError, match="least-privilege"):
        iam.create_role(settings, "admin")


def test_least_privilege_policy_names_only_the_tutorials_resources(settings):
    policy = iam.least_privilege_policy(settings, "123456789012")
    resources = [r for s in policy["Statement"] for r in s["Resource"]]
    assert all(settings.raw_bucket in r or settings.processed_bucket in r or settings.table_name in r or settings.function_name in r for r in resources)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not any(a.endswith("*") for a in actions)


def test_function_deploys_once_then_is_unchanged_until_its_configuration_changes(settings):
    sequence.ensure_before(settings, 4)
    role_arn = iam.describe_role(settings)["arn"]
    layer_arn = layer.publish_local_pillow_layer(settings)["arn"]
    assert layer.publish_local_pillow_layer(settings)["status"] == "exists"
    created = lambda_fn.deploy_function(settings, role_arn, layer_arn)
    assert created["status"] == "created" and created["state"] == "Active" and created["runtime"] == "python3.12"
    assert created["environment"]["PROCESSED_BUCKET"] == settings.processed_bucket
    assert lambda_fn.deploy_function(settings, role_arn, layer_arn)["status"] == "unchanged"
    assert lambda_fn.deploy_function(settings, role_arn, layer_arn, MAX_DIMENSION="300")["status"] == "updated (configuration)"


def test_console_test_event_processes_the_photo(settings, emulator):
    sequence.ensure_before(settings, 5, max_dimension=200)
    photo = pipeline.upload(settings, "notebooks/data/photo.jpg")
    result = lambda_fn.invoke(settings, lambda_fn.console_test_event(settings.raw_bucket, photo.key, settings.region))
    assert result["function_error"] is None and result["result"]["processed"] == 1
    assert any(lambda_fn.parse_log_line(line).get("type") == "platform.report" for line in result["log"])
    item = pipeline.metadata_item(settings, "photo.jpg")
    assert (item["status"], item["width"], item["processed_key"]) == ("processed", 200, "processed-photo.jpg")


def test_trigger_needs_no_second_run_and_uploads_reach_the_function(settings):
    sequence.ensure_before(settings, 5)
    assert trigger.allow_s3_to_invoke(settings)["status"] == "created"
    assert trigger.allow_s3_to_invoke(settings)["status"] == "exists"
    assert trigger.configure_notification(settings)["status"] == "created"
    assert trigger.configure_notification(settings)["status"] == "exists"
    result = pipeline.process(settings, "notebooks/data/batch/chelsea.png")
    assert result["status"] == "processed" and result["processed_key"] == "processed-chelsea.png"
    again = pipeline.process(settings, "notebooks/data/batch/chelsea.png")  # the same bytes again: a new result
    assert again["timestamp"] != result["timestamp"]


def test_cdn_setup_is_idempotent_and_grants_only_this_distribution(settings):
    sequence.ensure_before(settings, 6)
    first = cdn.setup_cdn(settings)
    assert (first["access"]["status"], first["distribution"]["status"]) == ("created", "created")
    second = cdn.setup_cdn(settings)
    assert (second["access"]["status"], second["distribution"]["status"]) == ("exists", "exists")
    statement = second["bucket_policy"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["AWS:SourceArn"] == first["distribution"]["arn"]
    with pytest.raises(WalkthroughError, match="'oac'"):
        cdn.setup_cdn(settings, "public")


def test_teardown_removes_everything_and_is_safe_to_repeat(settings):
    sequence.ensure_before(settings, 7)
    pipeline.upload(settings, "notebooks/data/photo.jpg")
    rows = teardown.teardown(settings)
    assert not [r for r in rows if r["result"].startswith("failed")], rows
    assert teardown.remaining(settings) == []
    again = teardown.teardown(settings)
    assert not [r for r in again if r["result"].startswith("failed")], again
    assert {r["result"] for r in again if "bucket" in r["resource"] or "table" in r["resource"]} == {"already gone"}


def test_teardown_after_a_partial_run(settings):
    sequence.ensure_before(settings, 3)  # buckets and table only
    rows = {r["resource"]: r["result"] for r in teardown.teardown(settings)}
    assert rows[f"S3 bucket {settings.raw_bucket}"] == "deleted"
    assert rows[f"Lambda {settings.function_name}"] == "already gone"
    assert teardown.remaining(settings) == []
