"""Reading one image safely: what every photo becomes before a model sees it.

:func:`load_image_bytes` turns the bytes of an uploaded or stored photo into
an upright RGB ``uint8`` array, the way a user expects it to look: EXIF
orientation applied, grayscale, CMYK, palette and alpha images made RGB
(transparent areas composited over white). Anything it cannot read becomes an
:class:`ImageError` whose message says why, and an image larger than
``max_pixels`` is refused from its header, before a single pixel is decoded, so
a decompression bomb costs nothing.

:func:`inspect_image_file` is the cheap per-file check the index scan runs over
a whole data set: it reads the header and the last bytes of the file (where a
truncated JPEG or PNG shows itself) and says whether TensorFlow's own decoders
would read the file as it is, or whether it must first be normalized
(:func:`normalize_image_file`).

>>> import io
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.new("L", (4, 3), color=200).save(buffer, "PNG")
>>> load_image_bytes(buffer.getvalue()).shape
(3, 4, 3)
>>> load_image_bytes(b"")
Traceback (most recent call last):
...
food_recognition.datasets.images.ImageError: empty file
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path
from typing import IO

import attrs
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from food_recognition.errors import DataError

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_PIXELS",
    "FileCheck",
    "ImageError",
    "check_image_file",
    "inspect_image_file",
    "load_image_bytes",
    "normalize_image_file",
    "to_rgb",
]

#: The largest image accepted, in pixels (64 megapixels: any phone photo; an
#: RGB decode of it takes about 190 MB). Checked from the header, before decoding.
MAX_PIXELS = 64_000_000

#: Formats opened at all. Pillow's other readers (EPS, PSD, ICO, ...) are never
#: tried, so a file in one of them is "unsupported", not parsed. (Multi-picture
#: JPEGs from phones open through JPEG and report format MPO.)
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")

# What TensorFlow's decode_jpeg / decode_png read correctly with channels=3.
_TF_JPEG_MODES = frozenset({"RGB", "L"})
_TF_PNG_MODES = frozenset({"RGB", "L", "P"})
_EXIF_ORIENTATION = 0x0112
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TAIL_BYTES = 64

# Magic numbers of formats people try, for a better message than "not an image".
_KNOWN_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG", "PNG"),
    (0, b"GIF8", "GIF"),
    (8, b"WEBP", "WEBP"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"8BPS", "PSD"),
    (0, b"%!PS", "PostScript"),
    (0, b"%PDF", "PDF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
)


class ImageError(DataError, ValueError):
    """An image that cannot be used; the message is the reason (``"truncated JPEG"``...)."""


def load_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an encoded image into an upright RGB array.

    :param data: the file's bytes (JPEG, PNG, GIF, BMP, WebP or TIFF).
    :param max_pixels: refuse images with more pixels than this, from the header.
    :returns: ``uint8`` array of shape ``[height, width, 3]``.
    :raises ImageError: empty, not an image, an unsupported format, over
        ``max_pixels``, or truncated/corrupt; the message says which.
    """
    if not data:
        raise ImageError("empty file")
    image = _open(io.BytesIO(data), max_pixels, head=data[:16])
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"truncated or corrupt {image.format} ({error})") from error
    return np.asarray(to_rgb(image), dtype=np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """An upright, 3-channel RGB copy of ``image``.

    EXIF orientation is applied; alpha is composited over white (what a viewer
    shows for a transparent background); CMYK, grayscale, 16-bit and palette
    images are converted.

    :param image: a loaded Pillow image.
    :returns: a mode ``"RGB"`` image.
    """
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grayscale: scale to 8 bits instead of clipping at 255.
        array = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(array.astype(np.uint8), "L")
    if image.mode == "F":
        array = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        image = Image.fromarray(array, "L")
    return image if image.mode == "RGB" else image.convert("RGB")


@attrs.define(frozen=True)
class FileCheck:
    """What :func:`inspect_image_file` found out about one file.

    :param reason: why the file is unusable, or ``None`` when it is fine.
    :param normalize: why TensorFlow would decode it wrongly (``"EXIF orientation 6"``,
        ``"CMYK JPEG"``, ``"WEBP"``...), or ``None`` when it reads it as it is.
    :param format: Pillow's format name, when it got that far.
    """

    reason: str | None = None
    normalize: str | None = None
    format: str | None = None


def inspect_image_file(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> FileCheck:
    """Check one image file cheaply: header, pixel count and the end of the file.

    Only the header and the last bytes are read for JPEG and PNG files (a
    truncated file lacks the end-of-image marker or the ``IEND`` chunk); other
    formats, and JPEG/PNG files whose end looks wrong, are fully decoded once.

    :param path: the image file.
    :param max_pixels: refuse images with more pixels than this.
    :returns: a :class:`FileCheck`.
    """
    try:
        size = Path(path).stat().st_size
        if size == 0:
            return FileCheck(reason="empty file")
        with Path(path).open("rb") as handle:
            head = handle.read(16)
            handle.seek(0)
            try:
                image = _open(handle, max_pixels, head=head)
            except ImageError as error:
                return FileCheck(reason=str(error))
            fmt = image.format or "unknown"
            normalize = _needs_normalizing(image, handle)
            if normalize is None and not _ends_cleanly(handle, fmt, size):
                normalize = f"{fmt} without an end marker"
            if normalize is not None:
                # Decoding is the only proof the pixels are all there.
                handle.seek(0)
                try:
                    _open(handle, max_pixels, head=head).load()
                except (ImageError, OSError, ValueError, SyntaxError) as error:
                    return FileCheck(reason=f"truncated or corrupt {fmt} ({error})", format=fmt)
            return FileCheck(normalize=normalize, format=fmt)
    except OSError as error:
        return FileCheck(reason=f"unreadable file ({error.strerror or error})")


def check_image_file(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> str | None:
    """Why an image file cannot be used, or ``None`` when it can.

    :param path: the image file.
    :param max_pixels: refuse images with more pixels than this.
    :returns: the reason (``"empty file"``, ``"not an image"``, ``"truncated or
        corrupt JPEG (...)"``, ``"unsupported format ICO"``, ``"... over the limit
        ..."``) or ``None``.
    """
    return inspect_image_file(path, max_pixels=max_pixels).reason


def normalize_image_file(
    source: str | os.PathLike[str], dest: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS
) -> Path:
    """Write ``source`` as a lossless, upright RGB PNG at ``dest`` (atomically).

    :param source: the original image (left untouched).
    :param dest: where the PNG goes; its folder is created.
    :param max_pixels: refuse images with more pixels than this.
    :returns: ``dest`` as a :class:`~pathlib.Path`.
    :raises ImageError: the source cannot be decoded.
    """
    data = Path(source).read_bytes()
    pixels = load_image_bytes(data, max_pixels=max_pixels)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Unique per thread: two identical photos normalize to the same target at once.
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    # compress_level 1: the cache is local scratch, speed beats a smaller file.
    Image.fromarray(pixels, "RGB").save(partial, "PNG", compress_level=1)
    partial.replace(dest)
    return dest


# -- helpers --------------------------------------------------------------------


def _open(handle: IO[bytes], max_pixels: int, *, head: bytes) -> Image.Image:
    """Open the header only (no pixels decoded) and check format and size."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; ours is checked just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(handle, formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageError(f"over the pixel limit of {max_pixels} ({error})") from error
    except UnidentifiedImageError as error:
        known = _sniff(head)
        if known is not None:
            raise ImageError(f"unsupported format {known}") from error
        raise ImageError("not an image") from error
    except (OSError, ValueError, SyntaxError) as error:
        name = _sniff(head) or "image"
        raise ImageError(f"truncated or corrupt {name} (in the header: {error})") from error
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(f"invalid image size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"{width}x{height} = {width * height} pixels is over the limit of {max_pixels}"
        )
    return image


def _sniff(head: bytes) -> str | None:
    for offset, signature, name in _KNOWN_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    return None


def _orientation(image: Image.Image, handle: IO[bytes]) -> int:
    exif_bytes = image.info.get("exif")
    if exif_bytes is None and image.format == "PNG":
        # An eXIf chunk after the pixel data is only seen by a full read.
        handle.seek(0)
        if b"eXIf" not in handle.read():
            return 1
        image.load()
        exif_bytes = image.info.get("exif")
    if not exif_bytes:
        return 1
    exif = Image.Exif()
    try:
        exif.load(exif_bytes)
    except (OSError, ValueError, SyntaxError):
        return 1  # unreadable EXIF: viewers ignore it too
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _needs_normalizing(image: Image.Image, handle: IO[bytes]) -> str | None:
    fmt = image.format
    if fmt in ("JPEG", "MPO"):
        if image.mode not in _TF_JPEG_MODES:
            return f"{image.mode} JPEG"
    elif fmt == "PNG":
        if image.mode not in _TF_PNG_MODES or "transparency" in image.info:
            return (
                f"{image.mode} PNG with transparency" if image.mode == "P" else f"{image.mode} PNG"
            )
    else:
        return str(fmt)
    orientation = _orientation(image, handle)
    if orientation != 1:
        return f"EXIF orientation {orientation}"
    return None


def _ends_cleanly(handle: IO[bytes], fmt: str, size: int) -> bool:
    handle.seek(max(0, size - _TAIL_BYTES))
    tail = handle.read()
    if fmt in ("JPEG", "MPO"):
        # Some writers pad after the end-of-image marker.
        return tail.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return tail.endswith(_PNG_IEND)
    return True
