"""The function's shape, as someone changing it meets it: typed outcomes, events, stages and errors.

The deployed file stays one pasteable file; inside it, the pieces a reader
looks for have names (Powertools for AWS Lambda's style): an ``Outcome`` enum
that is the one list of outcomes, a typed view of an S3 record, a
configuration named for what it is, and ``process_object`` as stages that each
return a value or raise a typed error.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib.parse import quote_plus

try:
    from . import handler_helpers as h
except ImportError:
    import handler_helpers as h

handler = h.handler  # fixtures
aws = h.aws


# --------------------------------------------------------------------------
# Outcomes: one list, the one the summary and the contract use
# --------------------------------------------------------------------------


def test_the_summary_counts_exactly_the_outcomes(aws, handler):
    summary = aws.invoke(h.s3_event())
    assert list(summary) == ["records", *[outcome.value for outcome in handler.Outcome]]
    assert [o.value for o in handler.Outcome] == ["processed", "failed", "skipped", "stale", "duplicate", "missing", "ignored"]


def test_the_contract_docstring_names_every_outcome_and_section(handler):
    doc = handler.__doc__
    for outcome in handler.Outcome:
        assert f"``{outcome.value}``" in doc
    headings = re.findall(r"^# (\d)\. (.+)$", h.HANDLER_PATH.read_text(), flags=re.M)
    assert [number for number, _ in headings] == [str(n) for n in range(1, 10)]
    sections = doc.split("Sections\n--------\n", 1)[1]
    for number, title in headings:
        assert f"{number}. {title.split(':')[0]}" in " ".join(sections.split()), title


# --------------------------------------------------------------------------
# A typed view of an S3 record
# --------------------------------------------------------------------------


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(min_size=1, max_size=40))
def test_an_s3_record_decodes_its_key_exactly_once(handler, key):
    record = handler.S3ObjectRecord.parse(h.s3_record(h.RAW, key, size=1, etag='"abc"', sequencer="ff"))
    assert record.key == key  # S3 encodes once (quote_plus); decoding twice would turn "%25" into "%"
    assert (record.bucket, record.etag, record.sequencer) == (h.RAW, "abc", "FF".rjust(32, "0"))
    assert record.is_object_created


@pytest.mark.parametrize(
    "raw",
    [
        {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": h.RAW}, "object": {"key": "a.jpg"}}},
        {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "a.jpg"}}},
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": h.RAW}, "object": {}}},
        {"eventName": "ObjectCreated:Put", "s3": "not a mapping"},
        "not a record at all",
        None,
    ],
)
def test_records_that_name_no_created_object_are_not_processed(handler, raw):
    assert not handler.S3ObjectRecord.parse(raw).is_object_created


def test_a_key_with_a_literal_percent_sign_is_read_as_written(handler):
    raw = h.s3_record(h.RAW, "50%25 off.jpg", size=1)
    assert raw["s3"]["object"]["key"] == quote_plus("50%25 off.jpg", safe="/") == "50%2525+off.jpg"
    assert handler.S3ObjectRecord.parse(raw).key == "50%25 off.jpg"


# --------------------------------------------------------------------------
# The configuration, named for what it is
# --------------------------------------------------------------------------


def test_the_configuration_is_the_functions_environment(handler):
    config = handler.FunctionConfig.from_env({"PROCESSED_BUCKET": "out", "METADATA_TABLE": "T", "MAX_DIMENSION": "300"})
    assert (config.processed_bucket, config.metadata_table, config.max_dimension) == ("out", "T", 300)
    assert not hasattr(handler, "Settings")  # the walkthrough package's Settings is another thing


# --------------------------------------------------------------------------
# process_object's stages: a value or a typed error each
# --------------------------------------------------------------------------


def test_the_stages_return_values(aws, handler):
    record = handler.S3ObjectRecord.parse(aws.upload("photo.jpg", h.jpeg(1600, 1200), sequencer="0A"))
    config = handler.FunctionConfig.from_env()
    recorded = handler.order("photo.jpg", record, config)
    assert recorded == handler.Recorded(None, None)
    source = handler.fetch(h.RAW, "photo.jpg", record, recorded)
    assert (source.etag, source.sequencer) == (record.etag, record.sequencer)  # the event matches: its order counts
    image = handler.transform(source, config)
    assert (image.width, image.height) == (1024, 768)
    assert handler.publish("photo.jpg", image, config) == "processed-photo.jpg"
    handler.record(config, handler.processed_item(h.RAW, "photo.jpg", source, handler.ObjectResult(
        handler.Outcome.PROCESSED, h.RAW, "photo.jpg", image=image, processed_key="processed-photo.jpg")))
    assert aws.item("photo.jpg")["sequencer"] == record.sequencer


def test_the_stages_raise_typed_errors(aws, handler, monkeypatch):
    config = handler.FunctionConfig.from_env()
    with pytest.raises(handler.RecursionGuardError, match="output prefix"):
        handler.guard(h.RAW, "processed-photo.jpg", config)

    record = handler.S3ObjectRecord.parse(aws.upload("photo.jpg", h.jpeg(), sequencer="0A"))
    aws.invoke(h.s3_event(h.s3_record(h.RAW, "photo.jpg", size=1, etag=record.etag, sequencer="0A")))
    with pytest.raises(handler.DuplicateEventError):
        handler.order("photo.jpg", record, config)

    older = handler.S3ObjectRecord.parse(h.s3_record(h.RAW, "photo.jpg", size=1, etag=record.etag, sequencer="09"))
    with pytest.raises(handler.StaleEventError):
        handler.fetch(h.RAW, "photo.jpg", older, handler._recorded(h.TABLE, "photo.jpg"))
    with pytest.raises(handler.ObjectNotFoundError):
        handler.fetch(h.RAW, "nothing-here.jpg", None, handler.Recorded())

    monkeypatch.setenv("MAX_UPLOAD_BYTES", "10")
    source = handler.fetch(h.RAW, "photo.jpg", None, handler.Recorded())
    with pytest.raises(handler.ImageTooLargeError, match="MAX_UPLOAD_BYTES"):
        handler.transform(source, handler.FunctionConfig.from_env())
    source.close()

    def denied(**kwargs):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    monkeypatch.setattr(aws.handler._client("s3"), "get_object", denied)
    with pytest.raises(handler.SourceAccessDeniedError, match="role may not read"):
        handler.fetch(h.RAW, "photo.jpg", None, handler.Recorded())


def test_process_object_turns_every_typed_error_into_an_outcome(aws, handler):
    config = handler.FunctionConfig.from_env()
    results = {
        "skipped": handler.process_object(h.RAW, "processed-photo.jpg", config),
        "missing": handler.process_object(h.RAW, "nothing-here.jpg", config),
    }
    aws.s3.put_object(Bucket=h.RAW, Key="notes.jpg", Body=b"just text")
    results["failed"] = handler.process_object(h.RAW, "notes.jpg", config)
    assert {name: result.outcome for name, result in results.items()} == {
        name: handler.Outcome(name) for name in results
    }
    assert all(result.reason for result in results.values())
