"""The intake rules every image passes through (pure: no database)."""
import io
import struct
import zlib

import pytest
from PIL import Image

from core.imaging import ImageRejected, normalize_image
from tests.factories import image_bytes

pytestmark = pytest.mark.nodb
LIMITS = dict(max_bytes=5_000_000, max_pixels=4_000_000)


def _reopen(content):
    return Image.open(io.BytesIO(content))


@pytest.mark.parametrize("mode,colour", [("RGBA", (10, 20, 30, 128)), ("CMYK", (0, 50, 100, 0)), ("L", 128), ("LA", (90, 200)), ("1", 1)])
def test_any_pillow_mode_becomes_rgb(mode, colour):
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    result = normalize_image(image_bytes(colour, mode=mode, fmt=fmt), **LIMITS)
    assert _reopen(result.content).mode == "RGB"
    assert (result.width, result.height) == (64, 64)


def test_palette_and_gif_take_the_first_frame():
    frames = [Image.new("P", (40, 20), i) for i in (3, 9)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    result = normalize_image(buffer.getvalue(), **LIMITS)
    assert result.original_format == "GIF" and (result.width, result.height) == (40, 20)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    picture = Image.new("I;16", (16, 16))
    picture.putpixel((0, 0), 65535)
    picture.putpixel((1, 0), 32768)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    out = _reopen(normalize_image(buffer.getvalue(), **LIMITS).content)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert 120 <= out.getpixel((1, 0))[0] <= 135


def test_exif_orientation_is_applied_and_all_exif_including_gps_is_dropped():
    picture = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    exif[0x8825] = {2: (6.0, 7.0, 8.0)}  # a GPS block
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", exif=exif.tobytes())
    result = normalize_image(buffer.getvalue(), **LIMITS)
    stored = _reopen(result.content)
    assert stored.size == (20, 40)
    assert not stored.getexif()
    assert b"Exif" not in result.content


def test_same_input_gives_same_bytes_and_hash():
    data = image_bytes((1, 2, 3), fmt="JPEG")
    a, b = normalize_image(data, **LIMITS), normalize_image(data, **LIMITS)
    assert a.content == b.content and a.sha256 == b.sha256 and len(a.sha256) == 64


@pytest.mark.parametrize(
    "data,code",
    [
        (b"", "empty"),
        (b"just some text, not a picture", "not_an_image"),
        (image_bytes(fmt="PNG")[:60], "corrupt"),
        (image_bytes(fmt="JPEG", size=(256, 256))[:400], "corrupt"),
    ],
    ids=["zero-bytes", "text", "truncated-png", "truncated-jpeg"],
)
def test_bad_inputs_are_rejected_with_a_code(data, code):
    with pytest.raises(ImageRejected) as caught:
        normalize_image(data, **LIMITS)
    assert caught.value.code == code


def _png_header_only(width, height):
    """A PNG that claims ``width``×``height``: a decompression bomb as far as the header goes."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(ImageRejected) as caught:
        normalize_image(_png_header_only(30_000, 30_000), **LIMITS)
    assert caught.value.code == "too_many_pixels"


def test_file_over_the_byte_limit_is_refused():
    with pytest.raises(ImageRejected) as caught:
        normalize_image(image_bytes(), max_bytes=100, max_pixels=10**6)
    assert caught.value.code == "too_large"
