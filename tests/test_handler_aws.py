"""The Lambda function end to end under moto: events, outputs, metadata, retries.

State is built explicitly per test (two buckets and the ImageMetadata table)
and the function is called exactly as Lambda calls it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from walkthrough import lambda_fn

try:
    from . import handler_helpers as h
except ImportError:
    import handler_helpers as h

handler = h.handler  # fixtures
aws = h.aws


# --------------------------------------------------------------------------
# S3 events
# --------------------------------------------------------------------------

KEYS = [
    "photo.jpg",
    "2026/a b.jpg",
    "plus+sign.jpg",
    "100% real.jpg",
    "fotos/ñandú 東京 😀.jpg",
    "50%25 off.jpg",  # a literal "%25": decoding the key twice would turn it into "%"
    "deep/er/folder/IMG_0001.JPG",
    "odd &=?#[]@!$'()*,;~.jpg",
]


@pytest.mark.parametrize("key", KEYS)
def test_s3_put_event_writes_output_and_metadata(aws, key):
    record = aws.upload(key, h.jpeg(1600, 1200))
    summary = aws.invoke(h.s3_event(record))

    assert summary["processed"] == 1 and summary["failed"] == 0
    expected = aws.handler.output_key(key, "processed-")
    assert aws.outputs() == [expected]
    body, head = aws.output(expected)
    assert h.decode(body).size == (1024, 768)
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == "public, max-age=86400"
    assert aws.item(key)["processed_key"] == expected


def test_event_key_encoding_matches_what_aws_sends(aws):
    record = aws.upload("a b+c%d.jpg", h.jpeg())
    assert record["s3"]["object"]["key"] == "a+b%2Bc%25d.jpg"  # as AWS encodes it
    aws.invoke(h.s3_event(record))
    assert aws.outputs() == ["processed-a b+c%d.jpg"]


def test_encoded_slashes_in_event_keys_are_decoded(aws):
    record = aws.upload("2026/05/photo one.jpg", h.jpeg(), encode_slash=True)
    assert "%2F" in record["s3"]["object"]["key"]
    aws.invoke(h.s3_event(record))
    assert aws.outputs() == ["2026/05/processed-photo one.jpg"]


def test_metadata_item_has_the_documented_fields(aws):
    data = h.jpeg(1600, 1200)
    record = aws.upload("2026/a b.jpg", data, sequencer="0062E99A88DC407460")
    aws.invoke(h.s3_event(record))

    item = aws.item("2026/a b.jpg")
    processed_size = len(aws.output("2026/processed-a b.jpg")[0])
    assert item == {
        "filename": "2026/a b.jpg",
        "size": len(data),
        "timestamp": item["timestamp"],
        "status": "processed",
        "source_bucket": h.RAW,
        "processed_key": "2026/processed-a b.jpg",
        "processed_size": processed_size,
        "width": 1024,
        "height": 768,
        "original_width": 1600,
        "original_height": 1200,
        "format": "JPEG",
        "sequencer": "0062E99A88DC407460".rjust(32, "0"),
        "etag": record["s3"]["object"]["eTag"],
    }
    stamp = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60
    # DynamoDB types: numbers are N, text is S.
    raw = aws.dynamodb.get_item(TableName=h.TABLE, Key={"filename": {"S": "2026/a b.jpg"}})["Item"]
    assert set(raw["size"]) == {"N"} and set(raw["width"]) == {"N"} and set(raw["timestamp"]) == {"S"}


@pytest.mark.parametrize(
    ("key", "data", "output", "content_type"),
    [
        ("logo.png", lambda: h.encode(h.photo(300, 200, "RGBA"), "PNG"), "processed-logo.png", "image/png"),
        ("pic.webp", lambda: h.encode(h.photo(300, 200), "WEBP"), "processed-pic.webp", "image/webp"),
        ("scans/scan.tiff", lambda: h.encode(h.photo(300, 200), "TIFF"), "scans/processed-scan.jpg", "image/jpeg"),
        ("anim.gif", lambda: h.encode(h.photo(300, 200, "P"), "GIF", transparency=0), "processed-anim.png", "image/png"),
    ],
)
def test_output_format_content_type_and_extension(aws, key, data, output, content_type):
    aws.invoke(h.s3_event(aws.upload(key, data())))
    assert aws.outputs() == [output]
    assert aws.output(output)[1]["ContentType"] == content_type
    assert aws.item(key)["processed_key"] == output


def test_many_records_are_counted_by_outcome(aws):
    records = [
        aws.upload("one.jpg", h.jpeg()),
        aws.upload("two.png", h.encode(h.photo(50, 50), "PNG")),
        aws.upload("broken.jpg", b"this is not a jpeg"),
        aws.upload("processed-old.jpg", h.jpeg()),
        h.s3_record(h.RAW, "gone.jpg", size=10, event_name="ObjectRemoved:Delete"),
    ]
    summary = aws.invoke(h.s3_event(*records))
    assert summary == {
        "records": 5,
        "processed": 2,
        "failed": 1,
        "skipped": 1,
        "stale": 0,
        "duplicate": 0,
        "missing": 0,
        "ignored": 1,
    }
    assert aws.outputs() == ["processed-one.jpg", "processed-two.png"]


def test_object_deleted_before_processing_is_not_an_error(aws):
    record = aws.upload("short-lived.jpg", h.jpeg())
    aws.s3.delete_object(Bucket=h.RAW, Key="short-lived.jpg")
    assert aws.invoke(h.s3_event(record))["missing"] == 1
    assert aws.outputs() == [] and aws.item("short-lived.jpg") is None


def _image_records(caplog, key):
    return [r for r in caplog.records if getattr(r, "key", None) == key]


def test_one_log_record_per_image_with_its_facts_as_fields(aws, caplog, capsys):
    record = aws.upload("photo.jpg", h.jpeg(1600, 1200))
    aws.invoke(h.s3_event(record))
    [line] = _image_records(caplog, "photo.jpg")
    assert line.levelno == logging.INFO
    assert line.outcome == "processed" and line.output_key == "processed-photo.jpg"
    assert line.source_size == record["s3"]["object"]["size"]
    assert (line.source_width, line.source_height, line.width, line.height) == (1600, 1200, 1024, 768)
    assert line.output_size > 0 and line.ms >= 0
    # The message alone (all the Text log format shows) says what happened.
    assert line.getMessage().startswith("processed 'photo.jpg' -> 'processed-photo.jpg': JPEG 1600x1200")
    assert capsys.readouterr().out == ""  # logging, not print


def test_a_failed_image_is_logged_as_a_warning_with_the_reason(aws, caplog):
    aws.invoke(h.s3_event(aws.upload("notes.jpg", b"Dear diary, not a photo.")))
    [line] = _image_records(caplog, "notes.jpg")
    assert line.levelno == logging.WARNING and line.outcome == "failed"
    assert line.reason == "the file is text, not an image" and "text, not an image" in line.getMessage()


def test_records_that_are_not_uploads_are_logged_as_ignored(aws, caplog):
    event = h.s3_event(h.s3_record(h.RAW, "gone.jpg", size=10, event_name="ObjectRemoved:Delete"))
    assert aws.invoke(event)["ignored"] == 1
    [line] = _image_records(caplog, "gone.jpg")
    assert line.outcome == "ignored" and line.event_name == "ObjectRemoved:Delete"


# --------------------------------------------------------------------------
# Permanent failures: a failed item, no output, no exception
# --------------------------------------------------------------------------

FAILURES = [
    ("empty.jpg", lambda: b"", "empty"),
    ("truncated.jpg", lambda: h.jpeg(400, 300)[:3000], "truncated"),
    ("random.png", lambda: bytes(range(256)) * 20, "not an image"),
    ("notes.jpg", lambda: b"Dear diary,\nToday I uploaded a text file.\n", "text"),
    ("bomb.png", lambda: h.png_header(100_000, 100_000), "too many pixels"),
    ("big-pixels.png", lambda: h.png_header(9000, 9000), "9000x9000"),
    ("figure.eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "EPS"),
]


@pytest.mark.parametrize(("key", "make", "words"), FAILURES, ids=[f[0] for f in FAILURES])
def test_unprocessable_upload_gets_a_failed_item_and_no_output(aws, key, make, words):
    data = make()
    summary = aws.invoke(h.s3_event(aws.upload(key, data)))
    assert summary["failed"] == 1
    assert aws.outputs() == []
    item = aws.item(key)
    assert item["status"] == "failed" and item["size"] == len(data)
    assert words.lower() in item["error"].lower()
    assert "processed_key" not in item


def test_file_over_the_size_limit_is_refused_without_reading_it(aws, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    record = aws.upload("huge.jpg", h.jpeg(400, 300))
    reads = []
    s3 = aws.handler._client("s3")
    original = s3.get_object

    def get_object(**kwargs):
        response = original(**kwargs)
        body = response["Body"]
        read = body.read
        body.read = lambda *args: reads.append(kwargs["Key"]) or read(*args)
        return response

    monkeypatch.setattr(s3, "get_object", get_object)
    aws.invoke(h.s3_event(record))
    item = aws.item("huge.jpg")
    assert item["status"] == "failed" and "MAX_UPLOAD_BYTES" in item["error"]
    assert item["size"] == len(h.jpeg(400, 300))  # the object's own size (an event's could be made up)
    assert reads == [] and aws.outputs() == []


def test_size_limit_also_checked_from_the_object_itself(aws, monkeypatch):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    aws.s3.put_object(Bucket=h.RAW, Key="huge.jpg", Body=h.jpeg(400, 300))
    answer = aws.invoke({"bucket": h.RAW, "key": "huge.jpg"})
    assert answer["statusCode"] == 422 and "limit" in answer["error"]
    item = aws.item("huge.jpg")
    assert item["status"] == "failed" and item["size"] == len(h.jpeg(400, 300))


def test_memory_setting_decides_how_many_pixels_fit(aws, monkeypatch):
    data = h.encode(h.photo(2000, 2000), "PNG")  # 4 MP: ~32 MB to decode and convert
    aws.s3.put_object(Bucket=h.RAW, Key="square.png", Body=data)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "96")
    refused = aws.invoke({"bucket": h.RAW, "key": "square.png"})
    assert refused["statusCode"] == 422 and "memory" in refused["error"]
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    assert aws.invoke({"bucket": h.RAW, "key": "square.png"})["statusCode"] == 200
    assert aws.item("square.png")["status"] == "processed"


# --------------------------------------------------------------------------
# Retries, duplicates and out-of-order events
# --------------------------------------------------------------------------


def test_duplicate_delivery_leaves_one_output_and_one_item(aws):
    event = h.s3_event(aws.upload("photo.jpg", h.jpeg()))
    first = aws.invoke(event)
    first_item = aws.item("photo.jpg")
    second = aws.invoke(event)
    assert first["processed"] == 1 and second["duplicate"] == 1
    assert aws.outputs() == ["processed-photo.jpg"]
    assert len(aws.items()) == 1 and aws.item("photo.jpg") == first_item


def test_redelivery_without_sequencer_is_idempotent(aws):
    # Some sources (and moto) send no sequencer: the work is redone, same result.
    event = h.s3_event(aws.upload("photo.jpg", h.jpeg(), sequencer=None))
    aws.invoke(event)
    first_output = aws.output("processed-photo.jpg")[0]
    aws.invoke(event)
    assert aws.outputs() == ["processed-photo.jpg"] and len(aws.items()) == 1
    assert aws.output("processed-photo.jpg")[0] == first_output


def _two_versions(aws):
    """Upload v1 then v2 of the same key; return their event records (v2 newer)."""
    older = aws.upload("photo.jpg", h.jpeg(300, 200), sequencer="FF")
    newer = aws.upload("photo.jpg", h.jpeg(600, 200), sequencer="100")  # 0x100 > 0xFF
    return older, newer


def _same_bytes_twice(aws):
    """The same bytes uploaded twice: two events that both match the object (same ETag), v2 newer."""
    data = h.jpeg(600, 200)
    return aws.upload("photo.jpg", data, sequencer="FF"), aws.upload("photo.jpg", data, sequencer="100")


def _assert_newer_wins(aws):
    assert aws.item("photo.jpg")["original_width"] == 600
    assert aws.item("photo.jpg")["sequencer"].endswith("100")
    assert h.decode(aws.output("processed-photo.jpg")[0]).size == (600, 200)


def test_an_older_event_for_the_same_object_is_stale(aws):
    older, newer = _same_bytes_twice(aws)
    assert aws.invoke(h.s3_event(newer))["processed"] == 1
    assert aws.invoke(h.s3_event(older))["stale"] == 1
    _assert_newer_wins(aws)


def test_older_event_for_a_replaced_object_processes_the_object_as_it_is_now(aws):
    # Its eTag no longer matches: the object there now is read, and the newer event's order is kept.
    older, newer = _two_versions(aws)
    assert aws.invoke(h.s3_event(newer))["processed"] == 1
    assert aws.invoke(h.s3_event(older))["processed"] == 1
    _assert_newer_wins(aws)
    assert aws.item("photo.jpg")["etag"] == newer["s3"]["object"]["eTag"]


def test_event_without_etag_processes_the_object_and_records_no_sequencer(aws):
    # Nothing shows which object the event describes, so its sequencer orders nothing.
    record = aws.upload("photo.jpg", h.jpeg(), sequencer="FFFF")
    live_etag = record["s3"]["object"].pop("eTag")
    assert aws.invoke(h.s3_event(record))["processed"] == 1
    item = aws.item("photo.jpg")
    assert "sequencer" not in item and item["etag"] == live_etag


def test_event_without_etag_keeps_the_recorded_order(aws):
    older, newer = _two_versions(aws)
    del older["s3"]["object"]["eTag"]
    aws.invoke(h.s3_event(newer))
    assert aws.invoke(h.s3_event(older))["processed"] == 1
    _assert_newer_wins(aws)


def test_conditional_write_is_the_final_guard_against_a_race(aws, monkeypatch):
    # The older event passed its checks before the newer one finished: it read nothing recorded yet.
    older, newer = _same_bytes_twice(aws)
    aws.invoke(h.s3_event(newer))
    monkeypatch.setattr(aws.handler, "_recorded", lambda table, key: aws.handler.Recorded())
    assert aws.invoke(h.s3_event(older))["stale"] == 1
    assert aws.item("photo.jpg")["sequencer"].endswith("100")


def test_a_lost_conditional_write_raises_its_own_error(aws):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(), sequencer="100")))
    config = aws.handler.FunctionConfig.from_env()
    with pytest.raises(aws.handler.ConditionalWriteLostError, match="newer upload"):
        aws.handler.record(config, {"filename": "photo.jpg", "status": "processed", "sequencer": aws.handler.pad_sequencer("FF")})
    with pytest.raises(aws.handler.ConditionalWriteLostError):
        aws.handler.record(config, {"filename": "photo.jpg", "status": "processed"})  # no order of its own


def test_newer_event_replaces_older_result(aws):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(300, 200), sequencer="FF")))
    assert aws.item("photo.jpg")["original_width"] == 300
    newer = aws.upload("photo.jpg", h.jpeg(600, 200), sequencer="100")
    assert aws.invoke(h.s3_event(newer))["processed"] == 1
    _assert_newer_wins(aws)


def test_failed_newer_upload_replaces_an_older_success(aws):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(), sequencer="0A")))
    aws.invoke(h.s3_event(aws.upload("photo.jpg", b"oops", sequencer="0B")))
    assert aws.item("photo.jpg")["status"] == "failed"


def test_sequencer_order_is_numeric_not_plain_text(handler):
    # AWS: pad the shorter sequencer with zeros on the left, then compare.
    assert handler.pad_sequencer("100") > handler.pad_sequencer("FF")
    assert handler.pad_sequencer("0062e99a88dc407461") > handler.pad_sequencer("0062E99A88DC407460")


def _failing(code: str):
    def fail(**kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "slow down"}}, "PutItem")

    return fail


def test_transient_error_raises_and_leaves_no_failed_item(aws, monkeypatch):
    event = h.s3_event(aws.upload("photo.jpg", h.jpeg()))
    ddb = aws.handler._client("dynamodb")
    monkeypatch.setattr(ddb, "put_item", _failing("ProvisionedThroughputExceededException"))
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        aws.invoke(event)
    assert aws.item("photo.jpg") is None

    monkeypatch.undo()  # DynamoDB recovers; Lambda retries the same event
    h.set_fake_env(monkeypatch)
    assert aws.invoke(event)["processed"] == 1
    assert aws.outputs() == ["processed-photo.jpg"] and len(aws.items()) == 1


def test_network_error_reading_the_source_raises(aws, monkeypatch):
    event = h.s3_event(aws.upload("photo.jpg", h.jpeg()))

    def unreachable(**kwargs):
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    monkeypatch.setattr(aws.handler._client("s3"), "get_object", unreachable)
    with pytest.raises(EndpointConnectionError):
        aws.invoke(event)
    assert aws.item("photo.jpg") is None and aws.outputs() == []


def test_access_denied_on_the_source_is_recorded_not_retried(aws, monkeypatch):
    # Without s3:ListBucket, S3 answers 403 even for a missing key: retrying cannot help.
    event = h.s3_event(aws.upload("photo.jpg", h.jpeg()))
    monkeypatch.setattr(aws.handler._client("s3"), "get_object", _failing("AccessDenied"))
    assert aws.invoke(event)["failed"] == 1
    error = aws.item("photo.jpg")["error"]
    assert error.startswith("access denied reading the object s3://raw-image-bucket/photo.jpg")
    assert "the function's role may not read it" in error and "s3:GetObject" in error
    assert aws.outputs() == []


def test_access_denied_is_its_own_permanent_failure(handler):
    assert issubclass(handler.SourceAccessDeniedError, handler.PermanentError)
    assert not issubclass(handler.SourceAccessDeniedError, handler.PermanentImageError)


def test_transient_error_in_one_record_still_finishes_the_others(aws, monkeypatch):
    good = aws.upload("good.jpg", h.jpeg())
    flaky = aws.upload("flaky.jpg", h.jpeg())
    s3 = aws.handler._client("s3")
    original = s3.get_object

    def get_object(**kwargs):
        if kwargs["Key"] == "flaky.jpg":
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "GetObject")
        return original(**kwargs)

    monkeypatch.setattr(s3, "get_object", get_object)
    with pytest.raises(ClientError, match="SlowDown"):
        aws.invoke(h.s3_event(flaky, good))
    assert aws.outputs() == ["processed-good.jpg"] and aws.item("flaky.jpg") is None


def test_several_transient_errors_raise_one_error_naming_each(aws, monkeypatch):
    good = aws.upload("good.jpg", h.jpeg())
    slow, cut = aws.upload("slow.jpg", h.jpeg()), aws.upload("cut.jpg", h.jpeg())
    s3 = aws.handler._client("s3")
    original = s3.get_object

    def get_object(**kwargs):
        if kwargs["Key"] == "slow.jpg":
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "reduce your request rate"}}, "GetObject")
        if kwargs["Key"] == "cut.jpg":
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")
        return original(**kwargs)

    monkeypatch.setattr(s3, "get_object", get_object)
    with pytest.raises(aws.handler.TransientBatchError) as raised:
        aws.invoke(h.s3_event(slow, good, cut))
    message = str(raised.value)
    assert message.startswith("2 records hit temporary AWS errors")
    assert "'slow.jpg': SlowDown (reduce your request rate)" in message and "'cut.jpg': EndpointConnectionError" in message
    assert [key for key, _ in raised.value.errors] == ["slow.jpg", "cut.jpg"]
    assert aws.outputs() == ["processed-good.jpg"]


# --------------------------------------------------------------------------
# The console's Test button: the S3 Put template, bucket and key edited
# --------------------------------------------------------------------------

# Sequencers as real S3 events carry them (here, as the emulator makes them); the template's
# "0A1B2C3D4E5F678901" compares as newer than all of them.
FIRST_UPLOAD, SECOND_UPLOAD = "00000000000000000006618D39CF6B6D", "00000000000000000006618D39CF6B9A"


def console_test(key="photo.jpg"):
    """What people send: the console's S3 Put template with the bucket name and the key edited, nothing else."""
    return lambda_fn.console_test_event(h.RAW, key)


def test_the_template_is_the_consoles(handler):
    """The Lambda console's S3 Put template (FACTS: eventVersion 2.0, key test%2Fkey, made-up eTag and sequencer)."""
    template = lambda_fn.S3_PUT_TEMPLATE["Records"][0]
    assert template["eventVersion"] == "2.0" and template["eventName"] == "ObjectCreated:Put"
    assert template["s3"]["object"] == {
        "key": "test%2Fkey", "size": 1024, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901",
    }
    edited = console_test()["Records"][0]
    assert edited["s3"]["bucket"]["name"] == h.RAW and edited["s3"]["object"]["key"] == "photo.jpg"
    assert edited["s3"]["bucket"]["arn"] == "arn:aws:s3:::example-bucket"  # people leave it as it is
    assert handler.pad_sequencer(template["s3"]["object"]["sequencer"]) > FIRST_UPLOAD


def test_console_test_before_any_upload_event_processes_the_object(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg(1600, 1200))  # no trigger yet: no event
    live_etag = aws.s3.head_object(Bucket=h.RAW, Key="photo.jpg")["ETag"].strip('"')
    assert aws.invoke(console_test())["processed"] == 1
    item = aws.item("photo.jpg")
    assert item["status"] == "processed" and item["width"] == 1024
    assert item["etag"] == live_etag and "sequencer" not in item  # the template's made-up ones are not recorded
    assert aws.outputs() == ["processed-photo.jpg"]


def test_console_test_after_a_real_upload_processes_the_object_again(aws, monkeypatch):
    upload = aws.upload("photo.jpg", h.jpeg(1600, 1200), sequencer=FIRST_UPLOAD)
    aws.invoke(h.s3_event(upload))
    monkeypatch.setenv("MAX_DIMENSION", "300")  # so the learner sees the test's own result
    assert aws.invoke(console_test()) == {
        "records": 1, "processed": 1, "failed": 0, "skipped": 0, "stale": 0, "duplicate": 0, "missing": 0, "ignored": 0,
    }
    item = aws.item("photo.jpg")
    assert item["width"] == 300 and h.decode(aws.output("processed-photo.jpg")[0]).width == 300
    assert item["etag"] == upload["s3"]["object"]["eTag"] and item["sequencer"] == FIRST_UPLOAD


def test_a_real_upload_after_a_console_test_is_processed(aws):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(300, 200), sequencer=FIRST_UPLOAD)))
    aws.invoke(console_test())
    aws.invoke(console_test())  # the same test twice: not a duplicate of anything
    second = aws.upload("photo.jpg", h.jpeg(600, 200), sequencer=SECOND_UPLOAD)
    assert aws.invoke(h.s3_event(second))["processed"] == 1
    item = aws.item("photo.jpg")
    assert (item["original_width"], item["sequencer"], item["etag"]) == (600, SECOND_UPLOAD, second["s3"]["object"]["eTag"])
    assert h.decode(aws.output("processed-photo.jpg")[0]).size == (600, 200)


def test_console_test_before_the_object_exists_says_it_is_missing(aws):
    assert aws.invoke(console_test())["missing"] == 1
    assert aws.invoke(lambda_fn.S3_PUT_TEMPLATE)["missing"] == 1  # not even edited: "test/key" in "example-bucket"
    assert aws.items() == [] and aws.outputs() == []


def test_a_hand_written_event_with_a_low_sequencer_is_not_taken_for_stale(aws):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(300, 200), sequencer=SECOND_UPLOAD)))
    hand_written = h.s3_record(h.RAW, "photo.jpg", size=10, etag="not-the-etag", sequencer="01")
    assert aws.invoke(h.s3_event(hand_written))["processed"] == 1
    assert aws.item("photo.jpg")["sequencer"] == SECOND_UPLOAD


# --------------------------------------------------------------------------
# Recursion guard
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket", "key"),
    [(h.PROCESSED, "photo.jpg"), (h.RAW, "processed-photo.jpg"), (h.RAW, "2026/processed-a.jpg"), (h.RAW, "2026/")],
    ids=["processed-bucket", "prefixed-name", "prefixed-name-in-folder", "folder-marker"],
)
def test_recursion_guard_skips_without_touching_anything(aws, bucket, key):
    record = aws.upload(key, h.jpeg() if not key.endswith("/") else b"", bucket=bucket)
    before = aws.outputs()
    assert aws.invoke(h.s3_event(record))["skipped"] == 1
    assert aws.outputs() == before and aws.item(key) is None


def test_output_prefix_is_configurable(aws, monkeypatch):
    monkeypatch.setenv("OUTPUT_PREFIX", "web/")
    aws.invoke(h.s3_event(aws.upload("a/photo.jpg", h.jpeg())))
    assert aws.outputs() == ["a/web/photo.jpg"]


# --------------------------------------------------------------------------
# Configuration, read on every call
# --------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["PROCESSED_BUCKET", "METADATA_TABLE"])
def test_missing_required_setting_is_a_clear_error(aws, monkeypatch, missing):
    monkeypatch.delenv(missing)
    with pytest.raises(aws.handler.ConfigurationError, match=missing):
        aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg())))


def test_invalid_number_setting_is_a_clear_error(aws, monkeypatch):
    monkeypatch.setenv("MAX_DIMENSION", "big")
    with pytest.raises(aws.handler.ConfigurationError, match="MAX_DIMENSION"):
        aws.invoke({"bucket": h.RAW, "key": "photo.jpg"})


def test_settings_are_read_at_call_time(aws, monkeypatch):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg(1600, 1200))
    assert aws.invoke({"bucket": h.RAW, "key": "photo.jpg"})["width"] == 1024
    monkeypatch.setenv("MAX_DIMENSION", "200")
    assert aws.invoke({"bucket": h.RAW, "key": "photo.jpg"})["width"] == 200


# --------------------------------------------------------------------------
# Direct invocation (console Test button) and API Gateway
# --------------------------------------------------------------------------


def test_direct_invocation_returns_the_processed_key_and_size(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="2026/a b.jpg", Body=h.jpeg(1600, 1200))
    answer = aws.invoke({"bucket": h.RAW, "key": "2026/a b.jpg"})
    assert answer["statusCode"] == 200 and answer["status"] == "processed"
    assert answer["processed_key"] == "2026/processed-a b.jpg"
    assert answer["processed_bucket"] == h.PROCESSED
    assert (answer["width"], answer["height"]) == (1024, 768)
    assert aws.outputs() == ["2026/processed-a b.jpg"]
    assert json.dumps(answer)  # JSON-able, no image bytes
    assert len(json.dumps(answer)) < 1000


def test_direct_invocation_uses_source_bucket_by_default(aws, monkeypatch):
    monkeypatch.setenv("SOURCE_BUCKET", h.RAW)
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg())
    assert aws.invoke({"key": "photo.jpg"})["statusCode"] == 200


@pytest.mark.parametrize(
    ("event", "status", "words"),
    [
        ({"key1": "value1", "key2": "value2"}, 400, '"key" is required'),  # the console's default test event
        ({"key": "photo.jpg"}, 400, "bucket"),
        ({"bucket": h.RAW, "key": ""}, 400, "key"),
        ({"bucket": h.RAW, "key": 42}, 400, "key"),
        ("photo.jpg", 400, "JSON object"),
        (None, 400, "JSON object"),
        ({"bucket": h.RAW, "key": "processed-photo.jpg"}, 400, "output prefix"),
        ({"bucket": h.PROCESSED, "key": "photo.jpg"}, 400, "processed bucket"),
        ({"bucket": h.RAW, "key": "nothing-here.jpg"}, 404, "no object"),
        ({"bucket": "no-such-bucket", "key": "photo.jpg"}, 404, "no object"),
    ],
)
def test_direct_invocation_bad_requests_say_what_is_wrong(aws, event, status, words):
    answer = aws.invoke(event)
    assert answer["statusCode"] == status
    assert words.lower() in answer["error"].lower()
    assert aws.outputs() == []


def test_direct_invocation_of_a_broken_image_answers_422_and_records_it(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="broken.jpg", Body=b"\xff\xd8\xff\xe0 not really")
    answer = aws.invoke({"bucket": h.RAW, "key": "broken.jpg"})
    assert answer["statusCode"] == 422 and answer["status"] == "failed" and answer["error"]
    assert aws.item("broken.jpg")["status"] == "failed"


def test_direct_invocation_always_reprocesses(aws, monkeypatch):
    aws.invoke(h.s3_event(aws.upload("photo.jpg", h.jpeg(1600, 1200), sequencer="0A")))
    monkeypatch.setenv("MAX_DIMENSION", "100")
    answer = aws.invoke({"bucket": h.RAW, "key": "photo.jpg"})
    assert answer["statusCode"] == 200 and answer["width"] == 100
    assert aws.item("photo.jpg")["width"] == 100
    assert aws.item("photo.jpg")["sequencer"].endswith("0A")  # S3 event order is kept


def _api_answer(response):
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("base64_body", [False, True])
def test_api_request_processes_the_named_key(aws, base64_body):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg(1600, 1200))
    status, body = _api_answer(aws.invoke(h.api_request({"bucket": h.RAW, "key": "photo.jpg"}, base64_body=base64_body)))
    assert status == 200
    assert body["processed_key"] == "processed-photo.jpg" and (body["width"], body["height"]) == (1024, 768)
    assert aws.outputs() == ["processed-photo.jpg"]


def test_api_request_uses_source_bucket_when_body_names_none(aws, monkeypatch):
    monkeypatch.setenv("SOURCE_BUCKET", h.RAW)
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg())
    status, body = _api_answer(aws.invoke(h.api_request({"key": "photo.jpg"})))
    assert status == 200 and body["bucket"] == h.RAW


def test_http_api_payload_v2_is_understood(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg())
    event = {
        "version": "2.0",
        "routeKey": "POST /process",
        "rawPath": "/process",
        "requestContext": {"http": {"method": "POST", "path": "/process"}},
        "body": json.dumps({"bucket": h.RAW, "key": "photo.jpg"}),
        "isBase64Encoded": False,
    }
    assert _api_answer(aws.invoke(event))[0] == 200


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (None, 400, "JSON body"),
        ("", 400, "JSON body"),
        ("{not json", 400, "not valid JSON"),
        (["photo.jpg"], 400, "JSON object"),
        ({"bucket": h.RAW}, 400, '"key" is required'),
        ({"key": "photo.jpg"}, 400, "bucket"),
        ({"bucket": h.RAW, "key": "processed-photo.jpg"}, 400, "output prefix"),
        ({"bucket": h.RAW, "key": "missing.jpg"}, 404, "no object"),
    ],
)
def test_api_bad_requests_get_4xx_with_a_reason(aws, body, status, words):
    code, answer = _api_answer(aws.invoke(h.api_request(body)))
    assert code == status and words.lower() in answer["error"].lower()


def test_api_invalid_base64_is_a_bad_request(aws):
    event = h.api_request({"key": "x"})
    event.update(body="%%%not base64%%%", isBase64Encoded=True)
    assert _api_answer(aws.invoke(event))[0] == 400


def test_api_broken_image_answers_422(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="broken.png", Body=b"\x89PNG\r\n\x1a\n broken")
    code, answer = _api_answer(aws.invoke(h.api_request({"bucket": h.RAW, "key": "broken.png"})))
    assert code == 422 and answer["status"] == "failed" and answer["error"]


def test_api_transient_error_answers_503(aws, monkeypatch):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg())
    monkeypatch.setattr(aws.handler._client("dynamodb"), "put_item", _failing("ThrottlingException"))
    code, answer = _api_answer(aws.invoke(h.api_request({"bucket": h.RAW, "key": "photo.jpg"})))
    assert code == 503 and "try again" in answer["error"]
    assert aws.item("photo.jpg") is None


def test_api_never_returns_image_bytes(aws):
    aws.s3.put_object(Bucket=h.RAW, Key="photo.jpg", Body=h.jpeg(1600, 1200))
    response = aws.invoke(h.api_request({"bucket": h.RAW, "key": "photo.jpg"}))
    assert not response.get("isBase64Encoded")
    assert len(response["body"]) < 1000  # a few fields naming the output, not a picture
    assert all(len(str(value)) < 100 for value in json.loads(response["body"]).values())
