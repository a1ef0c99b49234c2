"""The classic failures of 09_when_it_goes_wrong: each shows AWS's words, each fix works, each section puts back what it broke.

Every failure runs on one pipeline (a module's own resource names on the session
emulator), in the notebook's order, and the last test checks the pipeline is as
the first found it. Where each message's wording comes from is named in its test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from botocore.exceptions import ClientError

from tests.emulator_helpers import unique_settings
from walkthrough import diagnose, learner_code, lambda_fn, mistakes, pipeline, sequence
from walkthrough.emulator import interpreters, sandbox
from walkthrough.errors import WalkthroughError

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "09_when_it_goes_wrong.ipynb"
needs_312 = pytest.mark.skipif(not interpreters.for_runtime("python3.12").exact, reason="no Python 3.12: functions run on the emulator's Python")
needs_sandbox = pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed: no read-only /var/task")


# ------------------------------------------------------------------------------------------- without an emulator


def test_each_slip_is_one_line_of_the_tutorials_handler():
    for slip, (right, wrong) in learner_code.SLIPS.items():
        changed = [line for line in learner_code.diff(slip).splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        assert changed == ["-" + right.rstrip("\n"), "+" + wrong.rstrip("\n")], slip
        compile(learner_code.source(slip), slip, "exec")
    assert "unquote_plus" in learner_code.source() and "/tmp/resized-" in learner_code.source()  # AWS's tutorial as written


def test_every_section_is_a_heading_of_the_notebook_in_order():
    headings = [line for cell in nbformat.read(NOTEBOOK, as_version=4).cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ") and "·" in line]
    assert headings == [f"## {n} · {title}" for n, title in enumerate(diagnose.SECTIONS.values(), start=1)]
    assert diagnose.section("permission") == '09_when_it_goes_wrong, section 6 "The notification before the permission"'


@pytest.mark.parametrize("line, key", [
    ('{"errorMessage": "Unable to import module \'lambda_function\': No module named \'PIL\'", "errorType": "Runtime.ImportModuleError"}', "no-layer"),
    ("[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_function': cannot import name '_imaging' from 'PIL'", "layer-python"),
    ("RequestId: 1 Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory", "defaults"),
    ("2026-01-01T00:00:00.000Z 1 Task timed out after 3.00 seconds", "defaults"),
    ("[ERROR] OSError: [Errno 30] Read-only file system: 'resized-a.jpg'", "read-only"),
    ("User: arn:aws:sts::1:assumed-role/R/F is not authorized to perform: dynamodb:PutItem on resource: t", "access-denied"),
    ("[ERROR] ClientError: An error occurred (404) when calling the HeadObject operation: Not Found", "keys"),
])
def test_a_function_log_line_names_its_section(line, key):
    told = diagnose.explain_function_log(["START RequestId: 1 Version: $LATEST", line, "END RequestId: 1"])
    assert told and diagnose.section(key) in told and "\n" not in told


def test_aws_errors_from_the_sections_are_explained_in_one_line_naming_the_section():
    refused = ClientError({"Error": {"Code": "InvalidArgument", "Message": "Unable to validate the following destination configurations"}},
                          "PutBucketNotificationConfiguration")
    explained = str(diagnose.explain(refused))
    assert "Unable to validate the following destination configurations" in explained and diagnose.section("permission") in explained
    acl = ClientError({"Error": {"Code": "AccessControlListNotSupported", "Message": "The bucket does not allow ACLs"}}, "PutObject")
    assert diagnose.section("public") in str(diagnose.explain(acl))
    assert diagnose.explain(ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject")) is None


# ------------------------------------------------------------------------------------------- on the emulator

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def settings(emulator):
    settings = unique_settings(emulator.endpoint, "eu-north-1")
    sequence.ensure_before(settings, 8)
    return settings


@pytest.fixture(scope="module")
def at_the_start(settings):
    return mistakes.snapshot(settings)


def _works_again(settings, failure):
    report = mistakes.check(settings, failure)
    assert report.rows and not any(bad in str(row["result"]) for row in report.rows
                                   for bad in ("failed", "error", "Unhandled", "errorType", "Hit from")), report
    return report


@pytest.mark.slow
def test_no_layer_is_lambdas_import_error(settings, at_the_start):
    """awslambdaric bootstrap.py: ``Unable to import module '{module}': {error}``, errorType ``Runtime.ImportModuleError``."""
    failure = mistakes.cause_no_layer(settings)
    shown = json.loads(failure.shown)
    assert shown["errorType"] == "Runtime.ImportModuleError"
    assert shown["errorMessage"] == "Unable to import module 'lambda_function': No module named 'PIL'"
    mistakes.fix(settings, failure)
    _works_again(settings, failure)


@needs_312
@pytest.mark.slow
def test_a_layer_for_another_python_cannot_load_pillows_core(settings, at_the_start):
    """awslambdaric's import error around Python's own: ``cannot import name '_imaging' from 'PIL'`` (Pillow's C core)."""
    failure = mistakes.cause_layer_for_another_python(settings)
    shown = json.loads(failure.shown)
    assert shown["errorType"] == "Runtime.ImportModuleError"
    assert shown["errorMessage"].startswith("Unable to import module 'lambda_function': cannot import name '_imaging' from 'PIL'")
    mistakes.fix(settings, failure)
    assert mistakes.leftovers(settings) == []  # the wrong layer is deleted
    _works_again(settings, failure)


@pytest.mark.slow
def test_lambdas_default_memory_runs_out_on_a_48_megapixel_photo(settings, at_the_start):
    """Defaults: 128 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html) and 3 s
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html); the log lines
    ``RequestId: … Error: Runtime exited with error: signal: killed`` and REPORT's ``Status: error Error Type:
    Runtime.OutOfMemory`` (https://repost.aws/knowledge-center/lambda-runtime-error,
    https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html)."""
    failure = mistakes.cause_lambda_defaults(settings)
    assert re.search(r"RequestId: \S+ Error: Runtime exited with error: signal: killed", failure.shown)
    assert "Memory Size: 128 MB\tMax Memory Used: 128 MB" in failure.shown
    assert failure.shown.rstrip().endswith("Status: error\tError Type: Runtime.OutOfMemory")
    mistakes.fix(settings, failure)
    assert lambda_fn.describe_function(settings)["memory_mb"] == lambda_fn.MEMORY_MB
    _works_again(settings, failure)


@needs_sandbox
@pytest.mark.slow
def test_writing_next_to_the_code_is_refused_by_the_read_only_task_folder(settings, at_the_start):
    """/var/task is read-only (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html);
    awslambdaric logs an unhandled error as ``[ERROR] {errorType}: {errorMessage}``."""
    failure = mistakes.cause_writing_next_to_the_code(settings)
    assert failure.shown == "[ERROR] OSError: [Errno 30] Read-only file system: 'resized-oops-next-to-the-code.jpg'"
    mistakes.fix(settings, failure)
    _works_again(settings, failure)


@pytest.mark.slow
def test_a_role_without_put_item_gets_iams_access_denied(settings, at_the_start):
    """IAM's AccessDenied wording: ``User: {arn} is not authorized to perform: {action} on resource: {arn} because no
    identity-based policy allows the {action} action``
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html)."""
    failure = mistakes.cause_role_without_put_item(settings)
    assert failure.shown.startswith("[ERROR] ClientError: An error occurred (AccessDeniedException) when calling the PutItem operation: ")
    assert (f"User: arn:aws:sts::123456789012:assumed-role/{settings.role_name}/{settings.function_name} is not authorized to perform: "
            f"dynamodb:PutItem on resource: arn:aws:dynamodb:{settings.region}:123456789012:table/{settings.table_name} "
            "because no identity-based policy allows the dynamodb:PutItem action") in failure.shown
    mistakes.fix(settings, failure)
    _works_again(settings, failure)


@pytest.mark.slow
def test_the_notification_before_the_permission_is_refused_by_s3(settings, at_the_start):
    """S3: ``Unable to validate the following destination configurations``
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/grant-destinations-permissions-to-s3.html,
    https://repost.aws/knowledge-center/unable-validate-destination-s3)."""
    failure = mistakes.cause_notification_before_permission(settings)
    assert failure.shown == ("An error occurred (InvalidArgument) when calling the PutBucketNotificationConfiguration operation: "
                             "Unable to validate the following destination configurations")
    mistakes.fix(settings, failure)
    _works_again(settings, failure)


@pytest.mark.slow
def test_a_key_that_is_not_decoded_is_not_found(settings, at_the_start):
    """S3 event keys are URL-encoded (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html:
    "The s3 key provides information about the bucket and object involved in the event. The object key name value is
    URL encoded"); ``download_file``'s HeadObject then answers 404 ``Not Found``."""
    failure = mistakes.cause_keys_not_decoded(settings)
    assert failure.shown == "[ERROR] ClientError: An error occurred (404) when calling the HeadObject operation: Not Found"
    assert failure.facts[0]["the event's key (S3 encodes it)"] == "oops-my+photo%2B1.jpg"
    mistakes.fix(settings, failure)
    report = _works_again(settings, failure)
    assert "processed-oops-my photo+1.jpg" in report.rows[0]["result"]


@pytest.mark.slow
def test_a_function_writing_into_its_trigger_is_stopped_after_16_invocations(settings, at_the_start):
    """https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html and .../monitoring-metrics-types.html:
    "if your function is invoked as part of a chain of requests approximately 16 times, Lambda drops the next
    invocation", counted by ``RecursiveInvocationsDropped``."""
    failure = mistakes.cause_writing_into_the_trigger(settings)
    facts = failure.facts[0]
    assert (facts["invocations"], facts["objects written into the trigger bucket"], facts["invocations Lambda dropped"]) == (16, 16, 1)
    assert "RecursiveInvocationsDropped" in failure.shown
    mistakes.fix(settings, failure)
    report = _works_again(settings, failure)
    assert report.rows[-1]["result"] == "none"


@pytest.mark.slow
def test_acls_and_public_policies_are_refused_by_s3s_defaults(settings, at_the_start):
    """S3: ``AccessControlListNotSupported: The bucket does not allow ACLs``
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html) and the
    BlockPublicPolicy refusal (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html)."""
    failure = mistakes.cause_public_access(settings)
    acl, policy = failure.shown.splitlines()
    assert acl == "An error occurred (AccessControlListNotSupported) when calling the PutObject operation: The bucket does not allow ACLs"
    assert policy.startswith("An error occurred (AccessDenied) when calling the PutBucketPolicy operation: User: ")
    assert policy.endswith(f'is not authorized to perform: s3:PutBucketPolicy on resource: "arn:aws:s3:::{settings.processed_bucket}" '
                           "because public policies are blocked by the BlockPublicPolicy block public access setting.")
    mistakes.fix(settings, failure)
    _works_again(settings, failure)


@pytest.mark.slow
def test_a_replaced_image_is_served_from_cloudfronts_cache_until_invalidated(settings, at_the_start):
    """X-Cache and Age as CloudFront sends them
    (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cache-hit-ratio-explained.html)."""
    failure = mistakes.cause_replaced_image_served_from_cache(settings)
    assert [row["X-Cache"].split(" (")[0] for row in failure.facts] == ["Miss from cloudfront", "Hit from cloudfront", "Hit from cloudfront"]
    assert [row["same as in S3"] for row in failure.facts] == [True, True, False]
    assert failure.images[0][1] != failure.images[1][1]
    mistakes.fix(settings, failure)
    report = _works_again(settings, failure)
    assert report.rows[0]["result"] == "200, Miss from cloudfront, the ETag in S3: yes"


@pytest.mark.slow
def test_a_new_watermark_reaches_old_images_only_by_reprocessing(settings, at_the_start):
    before = pipeline.processed_object(settings, pipeline.metadata_item(settings, "photo.jpg"))["bytes"]
    failure = mistakes.cause_new_watermark(settings)
    assert failure.images[0][1] == before  # still the old one
    fixed = mistakes.fix(settings, failure)
    assert fixed.rows[0] == {"fix": "reprocess photo.jpg", "result": "processed, changed"}
    assert mistakes.check(settings, failure).images.items[0][1] != before
    mistakes.put_back_the_watermark(settings, failure)
    assert pipeline.processed_object(settings, pipeline.metadata_item(settings, "photo.jpg"))["bytes"] == before


@pytest.mark.slow
def test_the_pipeline_is_as_the_sections_found_it(settings, at_the_start):
    report = mistakes.unchanged_since(settings, at_the_start)
    assert all(row["as at the start"] for row in report.rows), report


@pytest.mark.slow
def test_a_function_that_never_records_an_upload_names_the_section_that_explains_why(settings):
    failure = mistakes.cause_no_layer(settings)
    try:
        with pytest.raises(WalkthroughError) as timeout:
            pipeline.wait_for_result(settings, pipeline.upload(settings, pipeline.SAMPLE_PHOTO, "oops-no-layer.jpg"), timeout_s=2, progress=False)
        message = str(timeout.value)
        assert message.startswith("No result for oops-no-layer.jpg after 2 s. Its log says ") and "\n" not in message
        assert diagnose.section("no-layer") in message
    finally:
        mistakes.fix(settings, failure)
        mistakes._delete_test_objects(settings, ["oops-no-layer.jpg"])
