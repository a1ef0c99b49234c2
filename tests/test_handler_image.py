"""The pure image path of the Lambda function: bytes in, bytes out, no AWS.

Each test checks something a person looking at the result would notice: the
size and format of the output, which way up it is, where the watermark is,
what private metadata survives, and what they are told when a file fails.
"""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageOps

try:
    from . import handler_helpers as h
except ImportError:
    import handler_helpers as h

handler = h.handler  # the fixture that loads the deployed file

NO_MARK = ""  # watermark_text that turns the watermark off


# --------------------------------------------------------------------------
# Geometry and names
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [
        ((4000, 3000), 1024, (1024, 768)),
        ((3000, 4000), 1024, (768, 1024)),
        ((1024, 10), 1024, (1024, 10)),
        ((800, 600), 1024, (800, 600)),  # never upscaled
        ((10000, 3), 1024, (1024, 1)),  # a sliver keeps at least one pixel
    ],
)
def test_fit_within_keeps_aspect_and_never_upscales(handler, size, limit, expected):
    assert handler.fit_within(size, limit) == expected


@pytest.mark.parametrize(
    ("key", "extension", "expected"),
    [
        ("photo.jpg", None, "processed-photo.jpg"),
        ("2026/a b.jpg", None, "2026/processed-a b.jpg"),
        ("2026/05/ñandú 東京.JPEG", None, "2026/05/processed-ñandú 東京.JPEG"),
        ("scans/scan.tiff", ".jpg", "scans/processed-scan.jpg"),
        ("v1.2/logo.gif", ".png", "v1.2/processed-logo.png"),
        ("noext", ".jpg", "processed-noext.jpg"),
    ],
)
def test_output_key_puts_prefix_before_the_file_name(handler, key, extension, expected):
    assert handler.output_key(key, "processed-", extension) == expected


def test_large_photo_fits_max_dimension_as_jpeg(handler):
    result = handler.process_image(h.jpeg(1600, 1200), max_dimension=1024)
    out = h.decode(result.data)
    assert (out.format, out.size) == ("JPEG", (1024, 768))
    assert (result.width, result.height) == (1024, 768)
    assert (result.original_width, result.original_height) == (1600, 1200)
    assert result.content_type == "image/jpeg" and result.extension is None


def test_small_image_keeps_its_size(handler):
    result = handler.process_image(h.jpeg(300, 200), max_dimension=1024)
    assert h.decode(result.data).size == (300, 200)


def test_max_dimension_applies_to_portrait_height(handler):
    result = handler.process_image(h.jpeg(300, 900), max_dimension=200)
    assert h.decode(result.data).size == (67, 200)


# --------------------------------------------------------------------------
# Formats and modes
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "content_type"),
    [
        ("JPEG", "RGB", "image/jpeg"),
        ("JPEG", "L", "image/jpeg"),
        ("PNG", "RGBA", "image/png"),
        ("PNG", "RGB", "image/png"),
        ("WEBP", "RGBA", "image/webp"),
        ("WEBP", "RGB", "image/webp"),
    ],
)
def test_jpeg_png_webp_keep_their_format_and_name(handler, fmt, mode, content_type):
    result = handler.process_image(h.encode(h.photo(120, 80, mode), fmt), max_dimension=60)
    out = h.decode(result.data)
    assert out.format == fmt and result.content_type == content_type
    assert result.extension is None  # photo.png stays processed-photo.png
    assert out.size == (60, 40)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_transparency_survives_png_and_webp(handler, fmt):
    result = handler.process_image(h.encode(h.photo(120, 80, "RGBA"), fmt), watermark_text=NO_MARK)
    out = h.decode(result.data)
    assert out.mode == "RGBA"
    low, high = out.getchannel("A").getextrema()
    assert low < 30 and high > 220  # transparent centre, opaque edges


@pytest.mark.parametrize(
    ("source", "expected_format", "extension"),
    [
        (lambda: h.encode(h.photo(90, 60), "TIFF"), "JPEG", ".jpg"),
        (lambda: h.encode(h.photo(90, 60), "BMP"), "JPEG", ".jpg"),
        (lambda: h.encode(h.photo(90, 60, "P"), "GIF"), "JPEG", ".jpg"),
        (lambda: h.encode(h.photo(90, 60, "P"), "GIF", transparency=0), "PNG", ".png"),
        (lambda: h.encode(h.photo(90, 60, "RGBA"), "TIFF"), "PNG", ".png"),
        (lambda: h.encode(Image.new("RGBA", (90, 60), (10, 200, 30, 255)), "TIFF"), "JPEG", ".jpg"),
        (lambda: h.encode(h.photo(90, 60), "PPM"), "JPEG", ".jpg"),
        (lambda: h.encode(h.photo(90, 60), "JPEG2000"), "JPEG", ".jpg"),
    ],
    ids=["tiff", "bmp", "gif", "gif-transparent", "tiff-rgba", "tiff-opaque-alpha", "ppm", "jpeg2000"],
)
def test_other_formats_become_png_if_transparent_else_jpeg(handler, source, expected_format, extension):
    result = handler.process_image(source())
    assert h.decode(result.data).format == expected_format
    assert result.format == expected_format and result.extension == extension


# Every mode Pillow decodes, in a container that stores it.
MODE_CASES = [
    ("1", "PNG", "L"),
    ("1", "TIFF", "L"),
    ("L", "PNG", "L"),
    ("LA", "PNG", "LA"),
    ("LA", "TIFF", "LA"),
    ("P", "PNG", "RGB"),
    ("P", "BMP", "RGB"),
    ("PA", "TIFF", "RGBA"),
    ("RGB", "TIFF", "RGB"),
    ("RGBA", "TIFF", "RGBA"),
    ("CMYK", "JPEG", "RGB"),
    ("CMYK", "TIFF", "RGB"),
    ("YCbCr", "TIFF", "RGB"),
    ("LAB", "TIFF", "RGB"),
    ("I", "TIFF", "L"),
    ("I;16", "PNG", "L"),
    ("I;16", "TIFF", "L"),
    ("F", "TIFF", "L"),
]


@pytest.mark.parametrize(("mode", "fmt", "expected_mode"), MODE_CASES, ids=[f"{m}-{f}" for m, f, _ in MODE_CASES])
def test_every_mode_gives_a_viewable_image(handler, mode, fmt, expected_mode):
    source = h.photo(90, 60, mode)
    result = handler.process_image(h.encode(source, fmt), max_dimension=45, watermark_text=NO_MARK)
    out = h.decode(result.data)
    assert out.size == (45, 30)
    assert out.mode == expected_mode
    assert out.format in ("JPEG", "PNG", "WEBP")
    # Not blank and not clipped to white: the picture's contrast survives.
    grey = out.convert("L")
    low, high = grey.getextrema()
    assert high - low > 40


def test_sixteen_bit_greys_are_scaled_not_clipped(handler):
    mid_grey = Image.new("I;16", (40, 40), 32768)  # 50% grey in 16 bits
    result = handler.process_image(h.encode(mid_grey, "PNG"), watermark_text=NO_MARK)
    assert h.decode(result.data).getpixel((20, 20)) in range(120, 136)


@pytest.mark.parametrize("profile", [None, b"not really an ICC profile" * 10], ids=["no-profile", "broken-profile"])
def test_cmyk_print_files_become_plain_rgb(handler, profile):
    cmyk = Image.new("CMYK", (60, 40), (0, 255, 255, 0))  # pure red ink
    options = {"icc_profile": profile} if profile else {}
    result = handler.process_image(h.encode(cmyk, "JPEG", quality=95, **options), watermark_text=NO_MARK)
    out = h.decode(result.data)
    assert out.mode == "RGB" and out.info.get("icc_profile") is None  # no CMYK profile on RGB
    red, green, blue = out.getpixel((30, 20))
    assert red > 200 and green < 60 and blue < 60


def _frames(fmt: str, **options) -> bytes:
    red = Image.new("RGB", (80, 60), (220, 20, 20))
    green = Image.new("RGB", (80, 60), (20, 220, 20))
    return h.encode(red, fmt, save_all=True, append_images=[green], **options)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("GIF", {"duration": 100, "loop": 0}), ("WEBP", {"duration": 100, "lossless": True}), ("TIFF", {}), ("PNG", {"duration": 100})],
    ids=["animated-gif", "animated-webp", "multipage-tiff", "apng"],
)
def test_animations_and_multipage_files_keep_the_first_frame(handler, fmt, options):
    result = handler.process_image(_frames(fmt, **options), watermark_text=NO_MARK)
    red, green, _ = h.decode(result.data).convert("RGB").getpixel((40, 30))
    assert red > 180 and green < 60


def test_camera_mpo_stays_jpeg(handler):
    # Many phones write MPO (a JPEG with extra pictures); Pillow calls it MPO.
    data = _frames("MPO")
    result = handler.process_image(data, watermark_text=NO_MARK)
    assert h.decode(data).format == "MPO"
    assert result.format == "JPEG" and result.extension is None


# --------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------


def _oriented_jpeg(orientation: int) -> bytes:
    """A landscape 60x40 JPEG whose stored top-left corner is red, tagged orientation."""
    img = Image.new("RGB", (60, 40), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((0, 0, 19, 13), fill=(230, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return h.encode(img, "JPEG", quality=95, exif=exif.tobytes())


def _red_corner(img: Image.Image) -> str:
    img = img.convert("RGB")
    w, h_ = img.size
    corners = {"top-left": (3, 3), "top-right": (w - 4, 3), "bottom-left": (3, h_ - 4), "bottom-right": (w - 4, h_ - 4)}
    red = [name for name, xy in corners.items() if img.getpixel(xy)[1] < 100]
    assert len(red) == 1, red
    return red[0]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(handler, orientation):
    data = _oriented_jpeg(orientation)
    expected = ImageOps.exif_transpose(h.decode(data))  # Pillow's reference behaviour
    result = handler.process_image(data, watermark_text=NO_MARK)
    out = h.decode(result.data)
    assert out.size == expected.size == (result.width, result.height)
    assert (result.original_width, result.original_height) == expected.size
    assert _red_corner(out) == _red_corner(expected)
    assert out.getexif().get(0x0112) is None  # no tag left to rotate it twice


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [(1, (60, 40), "top-left"), (3, (60, 40), "bottom-right"), (6, (40, 60), "top-right"), (8, (40, 60), "bottom-left")],
)
def test_exif_orientation_by_the_spec(handler, orientation, size, corner):
    # 6: "the 0th row is the visual right-hand side", so stored top-left shows top-right.
    out = h.decode(handler.process_image(_oriented_jpeg(orientation), watermark_text=NO_MARK).data)
    assert out.size == size and _red_corner(out) == corner


def test_orientation_and_resize_together(handler):
    img = h.photo(400, 200)
    exif = Image.Exif()
    exif[0x0112] = 6
    result = handler.process_image(h.encode(img, "JPEG", exif=exif.tobytes()), max_dimension=100)
    assert h.decode(result.data).size == (50, 100)


# --------------------------------------------------------------------------
# Watermark
# --------------------------------------------------------------------------


def test_watermark_changes_only_the_bottom_right_corner(handler):
    data = h.encode(h.photo(600, 400), "PNG")
    marked = h.decode(handler.process_image(data).data)
    plain = h.decode(handler.process_image(data, watermark_text=NO_MARK).data)
    box = ImageChops.difference(marked.convert("RGB"), plain.convert("RGB")).getbbox()
    assert box is not None, "no watermark drawn"
    left, top, right, bottom = box
    assert left > 600 * 0.5 and top > 400 * 0.8  # bottom-right corner only
    assert right <= 600 and bottom <= 400


@pytest.mark.parametrize("background", [255, 0, 128], ids=["white", "black", "grey"])
def test_watermark_is_legible_on_light_and_dark_photos(handler, background):
    data = h.encode(Image.new("RGB", (800, 600), (background,) * 3), "PNG")
    marked = h.decode(handler.process_image(data).data).convert("L")
    box = ImageChops.difference(marked, Image.new("L", marked.size, background)).getbbox()
    assert box is not None
    low, high = marked.crop(box).getextrema()
    assert high - low >= 80  # the text stands out from the box behind it
    assert high >= 200  # white letters


def test_watermark_box_lets_the_photo_show_through(handler):
    data = h.encode(Image.new("RGB", (800, 600), (128, 128, 128)), "PNG")
    marked = h.decode(handler.process_image(data).data).convert("L")
    left, top, right, bottom = ImageChops.difference(marked, Image.new("L", marked.size, 128)).getbbox()
    behind_box = marked.getpixel((left + 2, (top + bottom) // 2))  # padding, left of the text
    assert 30 < behind_box < 110  # darkened, not painted black


def test_watermark_text_is_configurable_and_can_be_off(handler):
    data = h.encode(h.photo(600, 400), "PNG")
    plain = h.decode(handler.process_image(data, watermark_text=NO_MARK).data)
    other = h.decode(handler.process_image(data, watermark_text="© someone else").data)
    default = h.decode(handler.process_image(data).data)
    assert ImageChops.difference(other.convert("RGB"), default.convert("RGB")).getbbox() is not None
    assert ImageChops.difference(other.convert("RGB"), plain.convert("RGB")).getbbox() is not None


def test_watermark_scales_with_the_image(handler):
    def mark_height(width: int, height: int) -> int:
        data = h.encode(Image.new("RGB", (width, height), (90, 90, 90)), "PNG")
        marked = h.decode(handler.process_image(data, max_dimension=4000).data).convert("L")
        box = ImageChops.difference(marked, Image.new("L", marked.size, 90)).getbbox()
        return box[3] - box[1]

    assert mark_height(2000, 1500) > 2.5 * mark_height(600, 450)


def test_tiny_images_are_left_unmarked(handler):
    data = h.encode(h.photo(40, 30), "PNG")
    marked = h.decode(handler.process_image(data).data)
    plain = h.decode(handler.process_image(data, watermark_text=NO_MARK).data)
    assert ImageChops.difference(marked.convert("RGB"), plain.convert("RGB")).getbbox() is None


# --------------------------------------------------------------------------
# Metadata: private data dropped, colour profile kept
# --------------------------------------------------------------------------

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _private_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 33.0)
    gps[3] = "E"
    gps[4] = (4.0, 53.0, 21.0)
    return exif.tobytes()


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,22N</exif:GPSLatitude></x:xmpmeta>'


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {"xmp": XMP, "comment": b"shot at home"}),
        ("PNG", {}),
        ("WEBP", {"xmp": XMP}),
        ("TIFF", {}),
    ],
)
def test_exif_and_gps_are_dropped_and_icc_profile_kept(handler, fmt, options):
    source = h.encode(h.photo(200, 150), fmt, exif=_private_exif(), icc_profile=SRGB_ICC, **options)
    assert h.decode(source).getexif().get_ifd(0x8825), "the test source carries GPS"
    out_bytes = handler.process_image(source).data
    out = h.decode(out_bytes)
    assert len(out.getexif()) == 0 and not out.getexif().get_ifd(0x8825)
    assert b"SecretPhoneMaker" not in out_bytes and b"GPSLatitude" not in out_bytes
    assert b"shot at home" not in out_bytes
    assert out.info.get("icc_profile") == SRGB_ICC


def test_grey_profile_is_not_attached_to_a_colour_result(handler):
    grey_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()[:16] + b"GRAY" + b"\x00" * 200
    source = h.encode(h.photo(60, 40, "P"), "PNG", icc_profile=grey_icc)
    out = h.decode(handler.process_image(source).data)
    assert out.mode == "RGB" and out.info.get("icc_profile") is None


# --------------------------------------------------------------------------
# Files that cannot be processed, and memory safety
# --------------------------------------------------------------------------


def _truncated_jpeg() -> bytes:
    data = h.jpeg(400, 300)
    return data[: len(data) // 2]


FAILURES = [
    ("empty", lambda: b"", "NotAnImageError", "empty"),
    ("truncated-jpeg", _truncated_jpeg, "CorruptImageError", "truncated"),
    ("random-bytes", lambda: random.Random(7).randbytes(5000), "NotAnImageError", "not an image"),
    ("text-file", lambda: "name,size\nphoto.jpg,12\n".encode() * 20, "NotAnImageError", "text"),
    ("pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "NotAnImageError", "PDF"),
    ("bomb-header", lambda: h.png_header(100_000, 100_000), "ImageTooLargeError", "too many pixels"),
    ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "UnsupportedImageError", "EPS"),
]


@pytest.mark.parametrize(("name", "make", "error", "words"), FAILURES, ids=[f[0] for f in FAILURES])
def test_unprocessable_files_raise_a_readable_permanent_error(handler, name, make, error, words):
    with pytest.raises(handler.PermanentImageError) as caught:
        handler.process_image(make(), memory_budget=handler.decode_budget(128, 0))
    assert type(caught.value).__name__ == error
    assert words.lower() in str(caught.value).lower()
    assert len(str(caught.value)) < 300


def test_pixel_bomb_below_pillows_limit_is_refused_by_the_memory_budget(handler):
    data = h.png_header(9000, 9000)  # 81 MP: under Pillow's own guard, over 128 MB
    with pytest.raises(handler.ImageTooLargeError, match=r"9000x9000.*MB"):
        handler.process_image(data, memory_budget=handler.decode_budget(128, len(data)))
    with pytest.raises(handler.CorruptImageError):  # with memory to spare it is decoded: no pixels
        handler.process_image(data, memory_budget=handler.decode_budget(2048, len(data)))


def test_large_jpeg_fits_thanks_to_reduced_decoding_where_png_does_not(handler):
    budget = 32 * 1024 * 1024  # a third of what a full 4000x3000 decode needs (~96 MB)
    big_jpeg = h.jpeg(4000, 3000)
    result = handler.process_image(big_jpeg, max_dimension=1024, memory_budget=budget)
    assert h.decode(result.data).size == (1024, 768)
    with pytest.raises(handler.ImageTooLargeError):
        handler.process_image(h.png_header(4000, 3000), max_dimension=1024, memory_budget=budget)


def test_progressive_jpeg_counts_its_full_size_coefficients(handler):
    img = h.photo(1024, 768)
    budget = 1024 * 1024  # fits a 256x192 reduced decode, not 2.4 MB of coefficients
    baseline = handler.process_image(h.encode(img, "JPEG"), max_dimension=256, memory_budget=budget)
    assert h.decode(baseline.data).size == (256, 192)
    with pytest.raises(handler.ImageTooLargeError, match="1024x768"):
        handler.process_image(h.encode(img, "JPEG", progressive=True), max_dimension=256, memory_budget=budget)


def test_decode_budget_reserves_runtime_and_source(handler):
    mib = 1024 * 1024
    assert handler.decode_budget(128, 10 * mib) == (128 - handler.RUNTIME_RESERVE_MB - 10) * mib
    assert handler.decode_budget(64, 0) == 0
    assert handler.decode_budget(10240, 0) > 10_000 * mib


def test_output_is_deterministic(handler):
    # A retry writes the same bytes to the same key: duplicates are harmless.
    data = h.jpeg(500, 400)
    assert handler.process_image(data).data == handler.process_image(data).data


def test_damaged_exif_does_not_fail_the_image(handler):
    data = h.encode(h.photo(80, 60), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert h.decode(handler.process_image(data).data).size == (80, 60)


def test_png_palette_with_transparency_stays_transparent(handler):
    img = h.photo(100, 60, "P")
    result = handler.process_image(h.encode(img, "PNG", transparency=0), watermark_text=NO_MARK)
    out = h.decode(result.data)
    assert out.format == "PNG" and out.mode == "RGBA"
    assert out.getchannel("A").getextrema()[0] == 0


def test_unchanged_dimensions_still_strip_metadata(handler):
    # Nothing to resize, yet the file is re-encoded: no shortcut copies the original.
    source = h.encode(h.photo(100, 80), "JPEG", exif=_private_exif())
    out = handler.process_image(source, watermark_text=NO_MARK).data
    assert out != source and b"SecretPhoneMaker" not in out
