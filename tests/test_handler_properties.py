"""Property-based tests: whatever is uploaded, the function ends in an output or a failed item.

A user uploading anything at all must never see the function crash (which
would make Lambda retry a hopeless file and leave no record of why).
"""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from PIL import Image

try:
    from . import handler_helpers as h
except ImportError:
    import handler_helpers as h

handler = h.handler  # fixture

# Which containers store which modes (what Pillow can write).
FORMATS_BY_MODE = {
    "1": ["PNG", "TIFF", "BMP"],
    "L": ["JPEG", "PNG", "TIFF", "GIF", "WEBP"],
    "LA": ["PNG", "TIFF"],
    "P": ["PNG", "GIF", "TIFF", "BMP"],
    "PA": ["TIFF"],
    "RGB": ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "PPM"],
    "RGBA": ["PNG", "WEBP", "TIFF"],
    "CMYK": ["JPEG", "TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["TIFF"],
    "F": ["TIFF"],
}
KEPT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, str, tuple[int, int]]:
    """A valid image file of random size, mode and format."""
    mode = draw(st.sampled_from(sorted(FORMATS_BY_MODE)))
    fmt = draw(st.sampled_from(FORMATS_BY_MODE[mode]))
    width = draw(st.integers(1, 300))
    height = draw(st.integers(1, 300))
    img = h.photo(width, height, mode)
    options = {"quality": draw(st.integers(20, 95))} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "JPEG" and draw(st.booleans()):
        options["progressive"] = True
    return h.encode(img, fmt, **options), fmt, (width, height)


def _damage(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    damaged = bytearray(data[: max(1, int(len(data) * cut))])
    for position, value in flips:
        damaged[int(position * (len(damaged) - 1))] = value
    return bytes(damaged)


# --------------------------------------------------------------------------
# The pure image path
# --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_random_bytes_never_crash_the_image_path(handler, data):
    try:
        result = handler.process_image(data, memory_budget=handler.decode_budget(128, len(data)))
    except handler.PermanentImageError as exc:
        assert str(exc)  # a reason a person can read
    else:
        assert Image.open(io.BytesIO(result.data)).format == result.format


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=images(), max_dimension=st.integers(1, 400))
def test_valid_images_of_any_size_mode_and_format_are_processed(handler, image, max_dimension):
    data, fmt, (width, height) = image
    result = handler.process_image(data, max_dimension=max_dimension)
    out = Image.open(io.BytesIO(result.data))
    out.load()
    assert out.size == (result.width, result.height)
    assert max(out.size) <= max(max_dimension, 1) and max(out.size) <= max(width, height)
    assert max(out.size) == min(max_dimension, max(width, height))  # fitted exactly, never upscaled
    if fmt in KEPT:
        assert out.format == KEPT[fmt] and result.extension is None
    else:
        assert out.format in ("JPEG", "PNG") and result.extension in (".jpg", ".png")
    # The aspect ratio survives up to rounding to whole pixels.
    if min(width, height) * max(out.size) / max(width, height) >= 2:
        assert abs(out.width / out.height - width / height) <= 2 * max(width / height, 1) / min(out.size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    image=images(),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_damaged_images_fail_cleanly_or_still_process(handler, image, cut, flips):
    data = _damage(image[0], cut, flips)
    try:
        result = handler.process_image(data, memory_budget=handler.decode_budget(128, len(data)))
    except handler.PermanentImageError as exc:
        assert str(exc)
    else:
        assert max(Image.open(io.BytesIO(result.data)).size) <= 1024


# --------------------------------------------------------------------------
# End to end under moto: an output and a processed item, or a failed item
# --------------------------------------------------------------------------

uploads = st.one_of(
    st.binary(max_size=2048),
    images().map(lambda image: image[0]),
    st.tuples(images(), st.floats(0.0, 1.0)).map(lambda args: _damage(args[0][0], args[1], [])),
)


def test_any_upload_ends_in_an_output_or_a_failed_item(handler, monkeypatch):
    h.set_fake_env(monkeypatch)
    counter = itertools.count()
    with mock_aws():
        world = h.create_world(handler)

        @settings(max_examples=40, deadline=None)
        @given(data=uploads)
        def check(data: bytes) -> None:
            stem = f"file {next(counter):05d}"
            key = f"uploads/{stem}.bin"
            summary = world.invoke(h.s3_event(world.upload(key, data)))
            item = world.item(key)
            assert item is not None and item["size"] == len(data)
            if item["status"] == "processed":
                assert summary["processed"] == 1
                body, head = world.output(item["processed_key"])
                assert len(body) == item["processed_size"]
                assert Image.open(io.BytesIO(body)).size == (item["width"], item["height"])
                assert head["ContentType"].startswith("image/")
            else:
                assert summary["failed"] == 1 and item["status"] == "failed" and item["error"]
                produced = world.s3.list_objects_v2(Bucket=h.PROCESSED, Prefix=f"uploads/processed-{stem}")
                assert produced["KeyCount"] == 0

        check()
    handler._clients.clear()


@pytest.mark.parametrize("mode", sorted(FORMATS_BY_MODE))
def test_each_mode_through_the_whole_function(handler, monkeypatch, mode):
    # One deterministic example per mode, end to end (the properties above sample them).
    h.set_fake_env(monkeypatch)
    fmt = FORMATS_BY_MODE[mode][0]
    with mock_aws():
        world = h.create_world(handler)
        world.invoke(h.s3_event(world.upload(f"m/{mode}.{fmt.lower()}", h.encode(h.photo(120, 90, mode), fmt))))
        item = world.item(f"m/{mode}.{fmt.lower()}")
        assert item["status"] == "processed", item.get("error")
        assert world.outputs() == [item["processed_key"]]
    handler._clients.clear()


# --------------------------------------------------------------------------
# Real uploads and console tests, in any order
# --------------------------------------------------------------------------

ACTIONS = st.lists(st.sampled_from(["upload", "deliver_oldest", "deliver_newest", "redeliver", "console"]), max_size=10)


def test_console_tests_never_make_real_uploads_look_older(handler, monkeypatch):
    """Whatever mix of uploads, late or repeated S3 events and console tests (the S3 Put template, bucket
    and key edited): every console test processes the object as it is, the template's sequencer is never
    recorded, and once every real event has arrived the item and the output describe the last upload."""
    from walkthrough import lambda_fn

    h.set_fake_env(monkeypatch)
    counter = itertools.count()
    template_sequencer = handler.pad_sequencer(lambda_fn.S3_PUT_TEMPLATE["Records"][0]["s3"]["object"]["sequencer"])
    with mock_aws():
        world = h.create_world(handler)

        @settings(max_examples=25, deadline=None)
        @given(actions=ACTIONS)
        def check(actions: list[str]) -> None:
            key = f"mix/photo {next(counter):04d}.jpg"
            versions: list[dict] = []  # every upload's event, oldest first
            pending: list[dict] = []  # not yet delivered

            def upload() -> None:
                n = len(versions)
                # Emulator-like sequencers (32 hex digits), growing with each upload of the key.
                record = world.upload(key, h.jpeg(40 + n, 30), sequencer=f"{0x6618D39CF6B6D + n:032X}")
                versions.append(record)
                pending.append(record)

            upload()
            for action in actions:
                if action == "upload":
                    upload()
                elif action == "deliver_oldest" and pending:
                    world.invoke(h.s3_event(pending.pop(0)))
                elif action == "deliver_newest" and pending:
                    world.invoke(h.s3_event(pending.pop()))
                elif action == "redeliver":
                    world.invoke(h.s3_event(versions[len(actions) % len(versions)]))
                elif action == "console":
                    assert world.invoke(lambda_fn.console_test_event(h.RAW, key))["processed"] == 1
                assert world.item(key) is None or world.item(key).get("sequencer") != template_sequencer
            for record in pending:
                world.invoke(h.s3_event(record))

            last = versions[-1]["s3"]["object"]
            item = world.item(key)
            assert (item["etag"], item["sequencer"], item["original_width"]) == (last["eTag"], last["sequencer"], 40 + len(versions) - 1)
            out = world.output(item["processed_key"])[0]
            assert Image.open(io.BytesIO(out)).width == 40 + len(versions) - 1

        check()
    handler._clients.clear()
