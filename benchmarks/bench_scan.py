"""Index-scan benchmark: what checking every image costs before training starts.

Writes Food-101-sized JPEGs (512x384, quality 90, from a photo scikit-learn
ships when it is installed, else noise) into a class-folder tree and times, in
one run and on the same files:

- listing only (``load_dataset(..., scan=False)``): the floor;
- a full Pillow decode of every image (what ``Image.open(...).load()`` checks
  would cost): the naive baseline;
- our first scan (header + end-of-file marker, parallel threads);
- our second scan (results cached by path, size and modification time).

Each is run a few times, round-robin, and its best pass reported (the machine
may be shared). Goal: the first scan well under the full decode, the cached
scan close to listing only.

Run::

    python3.11 scripts/nox.py -s bench -- bench_scan.py          # 5,000 images
    python3.11 scripts/nox.py -s bench -- bench_scan.py --quick  # 500 images, smoke run
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def _photo() -> bytes:
    try:
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image("china.jpg")[:384, :512]
    except ImportError:
        pixels = np.random.default_rng(0).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _write_tree(root: Path, images: int, classes: int = 10) -> None:
    data = _photo()
    for index in range(images):
        folder = root / "train" / f"class_{index % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:06d}.jpg").write_bytes(data)


def _full_decode(paths: list[str]) -> None:
    def decode(path: str) -> None:
        with Image.open(path) as image:
            image.load()

    with ThreadPoolExecutor(max_workers=min(32, 4 * (os.cpu_count() or 1))) as pool:
        list(pool.map(decode, paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 images, one round")
    parser.add_argument("--images", type=int, default=5000)
    args = parser.parse_args()
    images = 500 if args.quick else args.images
    rounds = 1 if args.quick else 3

    work = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    os.environ["FOOD_RECOGNITION_CACHE"] = str(work / "cache")
    from food_recognition.datasets import load_dataset

    try:
        root = work / "data"
        _write_tree(root, images)
        paths = list(load_dataset(root, validation_fraction=0.0, scan=False).train.paths)

        def first_scan() -> None:
            shutil.rmtree(work / "cache", ignore_errors=True)
            load_dataset(root, validation_fraction=0.0)

        def cached_scan() -> None:
            load_dataset(root, validation_fraction=0.0)

        cases: dict[str, Callable[[], object]] = {
            "listing only (scan=False)": lambda: load_dataset(root, scan=False),
            "full Pillow decode": lambda: _full_decode(paths),
            "first scan": first_scan,
            "second scan (cached)": cached_scan,
        }
        best = dict.fromkeys(cases, float("inf"))
        for _ in range(rounds):
            for name, case in cases.items():
                start = time.perf_counter()
                case()
                best[name] = min(best[name], time.perf_counter() - start)
        decode = best["full Pillow decode"]
        print(f"{images} JPEGs of 512x384, {os.cpu_count()} CPUs, best of {rounds}")
        print(f"{'case':<28} {'seconds':>8} {'us/image':>9} {'x full decode':>14}")
        for name, seconds in best.items():
            print(
                f"{name:<28} {seconds:>8.2f} {seconds / images * 1e6:>9.0f} "
                f"{seconds / decode:>14.2f}"
            )
        food101 = 101_000 / images
        print(
            f"Food-101 estimate: first scan {best['first scan'] * food101:.0f} s, "
            f"cached {best['second scan (cached)'] * food101:.1f} s"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
