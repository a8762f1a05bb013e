"""The index scan: every image of a data set checked once, before training starts.

An unreadable image found in the middle of an epoch stops a paid GPU node; the
scan finds it first and reports why (:class:`~food_recognition.datasets.splits.SkippedImage`).
Images TensorFlow's decoders would read wrongly (EXIF-rotated photos, CMYK
JPEGs, alpha, WebP/GIF/BMP/TIFF) are rewritten once, losslessly, as upright RGB
PNGs in a cache folder, and the splits point at those copies; the user's files
are never touched.

The cache folder is ``$FOOD_RECOGNITION_CACHE`` or ``~/.cache/food_recognition``:
``normalized/<sha256 of the original>.png`` holds the copies and
``scan/<hash of the data-set root>.json`` the results, keyed by path, size and
modification time, so a second scan of Food-101's 101,000 images only stats them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

from food_recognition.datasets.images import (
    MAX_PIXELS,
    ImageError,
    inspect_image_file,
    normalize_image_file,
)

__all__ = ["CACHE_ENV", "ImageStatus", "cache_dir", "scan_images"]

#: The environment variable that moves the cache folder.
CACHE_ENV = "FOOD_RECOGNITION_CACHE"

# Bump when what the scan decides changes, so old cached results are ignored.
_SCAN_VERSION = 1


@attrs.define(frozen=True)
class ImageStatus:
    """What the scan decided for one image.

    :param path: the file to read: the original, or its normalized copy.
    :param reason: why the image is skipped, or ``None`` when it is usable.
    :param normalized: why it was normalized, or ``None`` when the original is read.
    """

    path: str
    reason: str | None = None
    normalized: str | None = None


def cache_dir() -> Path:
    """The cache folder: ``$FOOD_RECOGNITION_CACHE`` or ``~/.cache/food_recognition``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "food_recognition"


def scan_images(
    paths: Iterable[str],
    *,
    root: str | os.PathLike[str] | None = None,
    max_pixels: int = MAX_PIXELS,
    workers: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ImageStatus]:
    """Check every image (in parallel threads) and normalize those TensorFlow misreads.

    :param paths: image files (absolute paths).
    :param root: the data-set folder; names the cached-results file (``None``: no
        result cache, every file is checked).
    :param max_pixels: skip images with more pixels than this.
    :param workers: threads; default ``min(32, 4 * CPUs)`` (the work is mostly file reads).
    :param cache: the cache folder; default :func:`cache_dir`.
    :param progress: called as ``progress(done, total)`` while checking.
    :returns: an :class:`ImageStatus` per path.
    """
    all_paths = list(dict.fromkeys(paths))
    base = Path(cache) if cache is not None else cache_dir()
    results_file = None if root is None else base / "scan" / f"{_root_key(root, max_pixels)}.json"
    known = _load_results(results_file)
    stats: dict[str, tuple[int, int] | None] = {}
    todo: list[str] = []
    result: dict[str, ImageStatus] = {}
    for path in all_paths:
        stat = _stat(path)
        stats[path] = stat
        cached = known.get(path)
        status = _from_cache(cached, stat)
        if status is None:
            todo.append(path)
        else:
            result[path] = status
    if todo:
        normalized_dir = base / "normalized"
        workers = workers or min(32, 4 * (os.cpu_count() or 1))

        def check(path: str) -> ImageStatus:
            return _check(path, stats[path], normalized_dir, max_pixels)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done, (path, status) in enumerate(zip(todo, pool.map(check, todo), strict=True), 1):
                result[path] = status
                if progress is not None:
                    progress(done, len(todo))
        if results_file is not None:
            for path in todo:
                stat = stats[path]
                if stat is not None:
                    status = result[path]
                    known[path] = [*stat, status.path, status.reason, status.normalized]
            _save_results(results_file, known)
    return result


def _check(path: str, stat: tuple[int, int] | None, folder: Path, max_pixels: int) -> ImageStatus:
    if stat is None:
        return ImageStatus(path, reason="file not found")
    found = inspect_image_file(path, max_pixels=max_pixels)
    if found.reason is not None:
        return ImageStatus(path, reason=found.reason)
    if found.normalize is None:
        return ImageStatus(path)
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    target = folder / f"{digest.hexdigest()}.png"
    if not target.exists():
        try:
            normalize_image_file(path, target, max_pixels=max_pixels)
        except ImageError as error:
            return ImageStatus(path, reason=str(error))
    return ImageStatus(str(target), normalized=found.normalize)


def _stat(path: str) -> tuple[int, int] | None:
    try:
        # os.stat, not pathlib: this runs once per image, 101,000 times for Food-101.
        info = os.stat(path)  # noqa: PTH116
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _from_cache(cached: list[object] | None, stat: tuple[int, int] | None) -> ImageStatus | None:
    if cached is None or stat is None or len(cached) != 5 or tuple(cached[:2]) != stat:
        return None
    path, reason, normalized = cached[2:]
    if not isinstance(path, str):
        return None
    if normalized is not None and not Path(path).exists():
        return None  # the normalized copy was cleaned away: make it again
    return ImageStatus(
        path,
        reason=reason if isinstance(reason, str) else None,
        normalized=normalized if isinstance(normalized, str) else None,
    )


def _root_key(root: str | os.PathLike[str], max_pixels: int) -> str:
    text = f"{_SCAN_VERSION}\0{max_pixels}\0{Path(root).resolve()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _load_results(path: Path | None) -> dict[str, list[object]]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: scan again
    if not isinstance(data, dict) or data.get("version") != _SCAN_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _save_results(path: Path, entries: dict[str, list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({"version": _SCAN_VERSION, "entries": entries}), "utf-8")
    # Atomic, so a reader in another process never sees half a file.
    partial.replace(path)
