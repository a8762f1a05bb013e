"""The index scan: bad images skipped with the reason, odd ones normalized once, results cached."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from food_recognition.datasets import DatasetLayoutError, load_dataset, load_image_bytes
from food_recognition.datasets import scan as scan_module
from food_recognition.datasets.images import FileCheck, inspect_image_file
from tests.datasets import odd_images
from tests.fixtures.images import make_class_folders


@pytest.fixture
def messy_tree(tmp_path: Path) -> Path:
    """Class folders where apple_pie also holds every kind of bad and odd image."""
    root = make_class_folders(tmp_path / "messy", train_per_class=4, test_per_class=1)
    folder = root / "train" / "apple_pie"
    write = odd_images.write
    write(folder / "empty.jpg", b"")
    write(folder / "text.jpg", b"<html>not found</html>")
    write(folder / "cut.jpg", odd_images.truncated_jpeg())
    write(folder / "bomb.png", odd_images.huge_png_header())
    write(folder / "rotated.jpg", odd_images.exif_rotated_jpeg(6))
    write(folder / "cmyk.jpg", odd_images.cmyk_jpeg())
    write(folder / "alpha.png", odd_images.rgba_png())
    odd_images.two_colour_image().save(folder / "photo.webp", "WEBP", lossless=True)
    return root


def test_bad_images_are_skipped_with_the_reason(messy_tree: Path) -> None:
    ds = load_dataset(messy_tree, validation_fraction=0.0)
    reasons = {Path(s.path).name: s.reason for s in ds.skipped}
    assert set(reasons) == {"empty.jpg", "text.jpg", "cut.jpg", "bomb.png"}
    assert reasons["empty.jpg"] == "empty file"
    assert reasons["text.jpg"] == "not an image"
    assert reasons["cut.jpg"].startswith("truncated or corrupt JPEG")
    assert "over the pixel limit" in reasons["bomb.png"]
    listed = " ".join(ds.train.paths)
    assert not any(name in listed for name in reasons)
    assert ds.train.counts() == {"apple_pie": 8, "bibimbap": 4, "caesar_salad": 4}


def test_odd_images_are_normalized_and_originals_untouched(
    messy_tree: Path, scan_cache: Path
) -> None:
    folder = messy_tree / "train" / "apple_pie"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ds = load_dataset(messy_tree, validation_fraction=0.0)
    normalized = {Path(n.path).name: n for n in ds.normalized}
    assert {name: n.reason for name, n in normalized.items()} == {
        "rotated.jpg": "EXIF orientation 6",
        "cmyk.jpg": "CMYK JPEG",
        "alpha.png": "RGBA PNG",
        "photo.webp": "WEBP",
    }
    for name, item in normalized.items():
        copy = Path(item.normalized_path)
        assert copy.parent == scan_cache / "normalized" and copy.suffix == ".png"
        assert item.normalized_path in ds.train.paths and item.path not in ds.train.paths
        with Image.open(copy) as image:
            assert image.format == "PNG" and image.mode == "RGB"
            assert "exif" not in image.info
        # The copy holds exactly the pixels the user expects from the original.
        expected = load_image_bytes((folder / name).read_bytes())
        assert np.array_equal(np.asarray(Image.open(copy)), expected)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_tensorflow_reads_the_normalized_copies_as_users_see_them(messy_tree: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    ds = load_dataset(messy_tree, validation_fraction=0.0)
    rotated = next(n for n in ds.normalized if n.path.endswith("rotated.jpg"))
    original = Path(rotated.path).read_bytes()
    # What goes wrong without the scan: TF ignores EXIF and reads the photo sideways.
    assert tuple(tf.io.decode_image(original, channels=3).shape) == (20, 40, 3)
    for item in ds.normalized:
        decoded = tf.io.decode_image(Path(item.normalized_path).read_bytes(), channels=3)
        expected = load_image_bytes(Path(item.path).read_bytes())
        assert np.array_equal(decoded.numpy(), expected), item.reason


def test_second_scan_uses_the_cached_results(
    messy_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = inspect_image_file

    def counting(path: str, **kwargs: int) -> FileCheck:
        checked.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(scan_module, "inspect_image_file", counting)
    first = load_dataset(messy_tree, validation_fraction=0.0)
    assert len(checked) == 23
    checked.clear()
    assert load_dataset(messy_tree, validation_fraction=0.0) == first
    assert checked == []
    # A changed file (new size or modification time) is checked again, and only it.
    changed = messy_tree / "train" / "bibimbap" / "0000.jpg"
    changed.write_bytes(b"")
    os.utime(changed, ns=(1, 1))
    second = load_dataset(messy_tree, validation_fraction=0.0)
    assert checked == ["0000.jpg"]
    assert str(changed.resolve()) in {s.path for s in second.skipped}


def test_a_class_with_no_readable_image_is_an_error(tmp_path: Path) -> None:
    root = make_class_folders(tmp_path / "d", train_per_class=2, test_per_class=0)
    for image in (root / "train" / "bibimbap").iterdir():
        image.write_bytes(b"oops")
    with pytest.raises(
        DatasetLayoutError, match=r"class 'bibimbap' has no usable training image.*not an image"
    ):
        load_dataset(root, validation_fraction=0.0)


def test_without_scan_files_are_trusted(messy_tree: Path) -> None:
    ds = load_dataset(messy_tree, validation_fraction=0.0, scan=False)
    assert ds.skipped == () and ds.normalized == ()
    assert len(ds.train) == 20  # the 8 odd and bad images included
