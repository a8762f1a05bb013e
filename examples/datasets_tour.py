"""A tour of food_recognition.datasets: read a folder, see what the scan found, go to Blob.

Run it as ``python examples/datasets_tour.py [FOLDER]``. Without a folder it
writes a small class-folder tree (with one broken and one sideways photo) to a
temporary folder first. With ``AZURE_STORAGE_CONNECTION_STRING`` set (Azurite's
works) it also uploads the tree to a container and downloads it back.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PIL import Image

from food_recognition.datasets import load_dataset


def write_sample(root: Path) -> Path:
    """``train/`` and ``test/`` class folders, plus a truncated and an EXIF-rotated photo."""
    for split, count in (("train", 10), ("test", 3)):
        for label, name in enumerate(("apple_pie", "ramen")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                colour = (40 + 150 * label, 90, 200 - 150 * label + index)
                Image.new("RGB", (48, 32), colour).save(folder / f"{index:03d}.jpg", quality=90)
    broken = root / "train" / "ramen" / "broken.jpg"
    broken.write_bytes((root / "train" / "ramen" / "000.jpg").read_bytes()[:200])
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": phones write this
    Image.new("RGB", (48, 32), (200, 90, 50)).save(
        root / "train" / "apple_pie" / "sideways.jpg", exif=exif.tobytes()
    )
    return root


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else write_sample(Path(tempfile.mkdtemp()) / "photos")

    # -- read and inspect
    dataset = load_dataset(root, validation_fraction=0.2, seed=42)
    print(f"layout: {dataset.layout}, classes: {', '.join(dataset.classes)}")
    for name, split in dataset.splits.items():
        print(f"{name}: {len(split)} images {split.counts()}")
    for skipped in dataset.skipped:
        print(f"skipped {Path(skipped.path).name}: {skipped.reason}")
    for normalized in dataset.normalized:
        print(f"normalized {Path(normalized.path).name}: {normalized.reason}")

    # -- to Blob Storage and back (original bytes; a rerun skips what is there)
    if os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        from food_recognition.azure.blob import download_prefix, upload_tree

        report = upload_tree(root, "datasets-tour", prefix="photos")
        print(f"uploaded {len(report.uploaded)}, skipped {len(report.skipped)}")
        again = upload_tree(root, "datasets-tour", prefix="photos")
        print(f"rerun: uploaded {len(again.uploaded)}, skipped {len(again.skipped)}")
        back = download_prefix("datasets-tour", "photos", Path(tempfile.mkdtemp()) / "back")
        print(f"downloaded {len(back.downloaded)} files into {back.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
