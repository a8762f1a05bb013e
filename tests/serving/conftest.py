"""Image bytes in each format the scoring script accepts, and some it must refuse."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fixtures.images import synthetic_image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """``image`` encoded as ``fmt`` (JPEG, PNG, WEBP)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    """A 64x48 synthetic JPEG."""
    return encode(synthetic_image(3, (64, 48), label=1), "JPEG", quality=90)


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    """A 50x70 synthetic PNG."""
    return encode(synthetic_image(4, (50, 70), label=2), "PNG")


@pytest.fixture(scope="session")
def webp_bytes() -> bytes:
    """A 40x40 synthetic WebP."""
    return encode(synthetic_image(5, (40, 40)), "WEBP")


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    """A 2000x1000 PNG (2 million pixels) of one colour: a few kilobytes on the wire."""
    return encode(Image.new("RGB", (2000, 1000), (10, 200, 30)), "PNG", optimize=True)
