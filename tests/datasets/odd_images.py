"""Images that trip decoders: truncated, rotated by EXIF, CMYK, alpha, huge headers."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def two_colour_image(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: rotations show up as where red ends up."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels, "RGB")


def jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """The two-colour image stored sideways, with an EXIF tag saying how to turn it."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(two_colour_image(), exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG (as print workflows and some stock photos write them)."""
    return jpeg_bytes(two_colour_image().convert("CMYK"))


def rgba_png() -> bytes:
    """Top row transparent, rest opaque red."""
    pixels = np.zeros((10, 12, 4), np.uint8)
    pixels[..., :3] = RED
    pixels[1:, :, 3] = 255
    return png_bytes(Image.fromarray(pixels, "RGBA"))


def truncated_jpeg(keep: float = 0.6) -> bytes:
    """The first ``keep`` of a noisy JPEG: what an interrupted copy leaves."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    data = jpeg_bytes(Image.fromarray(noise, "RGB"))
    return data[: int(len(data) * keep)]


def bogus_huffman_jpeg() -> bytes:
    """A JPEG whose header and end marker are fine but whose first Huffman table is bogus.

    Header-only checks pass it; only decoding the pixels fails.
    """
    rng = np.random.default_rng(1)
    data = bytearray(jpeg_bytes(Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8))))
    table = data.index(b"\xff\xc4")  # DHT: marker, length (2), class/id (1), 16 code counts
    data[table + 5 : table + 21] = b"\xff" * 16
    return bytes(data)


def huge_png_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels (a decompression bomb's)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
