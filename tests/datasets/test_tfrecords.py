"""TFRecord shards: original bytes in, the same batches out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from food_recognition.config import AugmentConfig
from food_recognition.datasets.pipeline import eval_dataset, train_dataset
from food_recognition.datasets.splits import Dataset, Split
from food_recognition.datasets.tfrecords import (
    TFRecordError,
    open_shards,
    read_records,
    write_dataset,
    write_shards,
)
from tests.fixtures.images import make_class_folders

CLASSES = ("apple_pie", "bibimbap", "caesar_salad")


@pytest.fixture
def split(tmp_path: Path) -> Split:
    root = make_class_folders(tmp_path / "tree", CLASSES, 4, 1, size=(64, 48))
    paths = sorted((root / "train").rglob("*.jpg"))
    return Split([str(p) for p in paths], [CLASSES.index(p.parent.name) for p in paths], CLASSES)


def test_shards_hold_the_original_bytes_and_labels(split: Split, tmp_path: Path) -> None:
    source = write_shards(split, tmp_path / "shards", name="train", shard_size=5)
    assert len(source.shards) == 3 and len(source) == 12
    index = json.loads((tmp_path / "shards" / "train.json").read_text())
    assert index["classes"] == list(CLASSES) and index["count"] == 12
    records = read_records(open_shards(tmp_path / "shards", "train"))
    assert [label for _, label, _ in records] == list(split.labels)
    for (data, _, path), original in zip(records, split.paths, strict=True):
        assert path == original and data == Path(original).read_bytes()


def test_shuffled_shards_are_a_permutation(split: Split, tmp_path: Path) -> None:
    source = write_shards(split, tmp_path, shard_size=4, shuffle=True, seed=3)
    records = read_records(source)
    assert [path for _, _, path in records] != list(split.paths)
    assert sorted(path for _, _, path in records) == sorted(split.paths)
    assert all(split.labels[split.paths.index(p)] == label for _, label, p in records)


def test_eval_from_shards_equals_eval_from_files(split: Split, tmp_path: Path) -> None:
    source = write_shards(split, tmp_path, name="test", shard_size=5)
    from_files = list(eval_dataset(split, image_size=32, batch_size=5))
    from_shards = list(eval_dataset(source, image_size=32, batch_size=5))
    assert len(from_files) == len(from_shards) == 3
    for (x1, y1), (x2, y2) in zip(from_files, from_shards, strict=True):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_training_from_shards(split: Split, tmp_path: Path) -> None:
    source = write_shards(split, tmp_path, shard_size=5, shuffle=True)
    for cache in (False, True):
        dataset = train_dataset(
            source,
            image_size=32,
            batch_size=5,
            augment=AugmentConfig(policy="reference"),
            deterministic=True,
            cache=cache,
        )
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
        assert np.concatenate(images).shape == (12, 32, 32, 3)
        assert sorted(np.concatenate(labels).argmax(1)) == sorted(split.labels)


def test_write_dataset_writes_each_split(split: Split, tmp_path: Path) -> None:
    empty = Split([], [], CLASSES)
    dataset = Dataset(tmp_path, "class_folders", CLASSES, CLASSES, split, empty, split)
    sources = write_dataset(dataset, tmp_path / "out", shard_size=8)
    assert set(sources) == {"train", "test"} and sources["train"].shuffled
    assert not sources["test"].shuffled and len(open_shards(tmp_path / "out", "test")) == 12


def test_missing_or_broken_shards_are_reported(split: Split, tmp_path: Path) -> None:
    with pytest.raises(TFRecordError, match=r"no 'train' shards.*write_shards"):
        open_shards(tmp_path / "nowhere")
    source = write_shards(split, tmp_path / "s", shard_size=5)
    Path(source.shard_paths[1]).unlink()
    with pytest.raises(TFRecordError, match="do not exist: train-00001-of-00003"):
        open_shards(tmp_path / "s")
    (tmp_path / "s" / "train.json").write_text("{}")
    with pytest.raises(TFRecordError, match="not a shard index"):
        open_shards(tmp_path / "s")
    with pytest.raises(ValueError, match="shard_size"):
        write_shards(split, tmp_path, shard_size=0)
