"""load_image_bytes and the per-file check: every bad-image reason, every odd image made right."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from food_recognition.datasets.images import (
    ImageError,
    check_image_file,
    inspect_image_file,
    load_image_bytes,
)
from tests.datasets import odd_images
from tests.datasets.odd_images import BLUE, RED


def assert_close(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> None:
    assert np.abs(pixel.astype(int) - np.array(colour)).max() <= tolerance, (pixel, colour)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"just some text, certainly not a photo\n", "not an image"),
        (odd_images.truncated_jpeg(), "truncated or corrupt JPEG"),
        (odd_images.truncated_jpeg(keep=0.02), "truncated or corrupt JPEG"),
        (odd_images.huge_png_header(), "over the pixel limit"),
    ],
    ids=["empty", "not-an-image", "truncated", "truncated-header", "decompression-bomb"],
)
def test_bad_bytes_raise_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        load_image_bytes(data)


def test_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    # 10,000 x 9,000 is under Pillow's own bomb limit: our check must catch it,
    # and the IDAT holds no such pixels, so a decode would fail differently.
    with pytest.raises(ImageError, match=r"10000x9000 = 90000000 pixels is over the limit"):
        load_image_bytes(odd_images.huge_png_header(10_000, 9_000))
    small = odd_images.png_bytes(odd_images.two_colour_image(40, 20))
    with pytest.raises(ImageError, match="over the limit of 100"):
        load_image_bytes(small, max_pixels=100)
    assert load_image_bytes(small, max_pixels=800).shape == (20, 40, 3)


def test_unsupported_formats_are_named() -> None:
    buffer = io.BytesIO()
    odd_images.two_colour_image(16, 16).save(buffer, "ICO")
    with pytest.raises(ImageError, match="unsupported format ICO"):
        load_image_bytes(buffer.getvalue())
    with pytest.raises(ImageError, match="unsupported format HEIC"):
        load_image_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32)


def test_exif_rotated_photo_comes_out_upright() -> None:
    # Stored 40 wide x 20 high, red on the left; orientation 6 = turn 90 degrees clockwise.
    pixels = load_image_bytes(odd_images.exif_rotated_jpeg(6))
    assert pixels.shape == (40, 20, 3)
    assert_close(pixels[2, 10], RED)
    assert_close(pixels[37, 10], BLUE)


def test_cmyk_grayscale_png_and_alpha_become_rgb() -> None:
    cmyk = load_image_bytes(odd_images.cmyk_jpeg())
    assert cmyk.shape == (20, 40, 3)
    assert_close(cmyk[10, 5], RED, tolerance=60)
    assert_close(cmyk[10, 35], BLUE, tolerance=60)

    gray = odd_images.jpeg_bytes(Image.new("L", (8, 6), 128))
    assert load_image_bytes(gray).shape == (6, 8, 3)

    rgba = load_image_bytes(odd_images.rgba_png())
    assert rgba.shape == (10, 12, 3) and rgba.dtype == np.uint8
    assert_close(rgba[0, 0], (255, 255, 255), tolerance=0)  # transparent -> white
    assert_close(rgba[5, 5], RED, tolerance=0)

    buffer = io.BytesIO()
    odd_images.two_colour_image().save(buffer, "WEBP", lossless=True)
    webp = load_image_bytes(buffer.getvalue())
    assert webp.shape == (20, 40, 3)
    assert_close(webp[10, 5], RED, tolerance=0)


def test_file_check_reasons(tmp_path: Path) -> None:
    write = odd_images.write
    good = write(tmp_path / "good.jpg", odd_images.jpeg_bytes(odd_images.two_colour_image()))
    assert check_image_file(good) is None
    assert check_image_file(write(tmp_path / "empty.jpg", b"")) == "empty file"
    assert check_image_file(write(tmp_path / "text.jpg", b"hello")) == "not an image"
    reason = check_image_file(write(tmp_path / "cut.jpg", odd_images.truncated_jpeg()))
    assert reason is not None and reason.startswith("truncated or corrupt JPEG")
    reason = check_image_file(write(tmp_path / "bomb.png", odd_images.huge_png_header()))
    assert reason is not None and "over the pixel limit" in reason


def test_file_check_says_what_tensorflow_would_misread(tmp_path: Path) -> None:
    write = odd_images.write
    rotated = inspect_image_file(write(tmp_path / "r.jpg", odd_images.exif_rotated_jpeg(6)))
    assert rotated.normalize == "EXIF orientation 6"
    assert inspect_image_file(write(tmp_path / "c.jpg", odd_images.cmyk_jpeg())).normalize == (
        "CMYK JPEG"
    )
    assert inspect_image_file(write(tmp_path / "a.png", odd_images.rgba_png())).normalize == (
        "RGBA PNG"
    )
    gray = write(tmp_path / "g.jpg", odd_images.jpeg_bytes(Image.new("L", (8, 6), 128)))
    assert inspect_image_file(gray).normalize is None  # decode_jpeg(channels=3) is right
    # Only the end-of-image marker missing: the pixels decode, but TF would stop on it.
    whole = odd_images.jpeg_bytes(odd_images.two_colour_image())
    no_eoi = inspect_image_file(write(tmp_path / "n.jpg", whole[:-2]))
    assert no_eoi.reason is None or no_eoi.reason.startswith("truncated")
    assert no_eoi.reason is not None or no_eoi.normalize == "JPEG without an end marker"
