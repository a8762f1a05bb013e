"""TFRecord shards: a split's original image bytes and labels in a few large files.

Many small files are slow on a Blob-mounted folder; a few hundred-megabyte
shards are not. Each record holds the image file's bytes exactly as they were
(never decoded and re-encoded), its integer label and its original path.
Beside the shards, ``<name>.json`` records the class names, the number of
records and the shard files, so a folder of shards is self-describing:

    train-00000-of-00004.tfrecord ... train-00003-of-00004.tfrecord
    train.json      {"format": 1, "name": "train", "classes": [...], "count": N, ...}

:func:`write_shards` writes one split, :func:`write_dataset` all three;
:func:`open_shards` returns a :class:`TFRecordSource` that
:func:`~food_recognition.datasets.pipeline.train_dataset` and
:func:`~food_recognition.datasets.pipeline.eval_dataset` accept in place of a
:class:`~food_recognition.datasets.splits.Split`. ``DataConfig.tfrecords``
names such a folder.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from food_recognition.errors import DataError

if TYPE_CHECKING:
    from food_recognition.datasets.splits import Dataset, Split

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "TFRecordError",
    "TFRecordSource",
    "open_shards",
    "parse_record",
    "read_records",
    "write_dataset",
    "write_shards",
]

#: Records per shard by default: about 100 MB of Food-101 photos.
DEFAULT_SHARD_SIZE = 2048

_FORMAT = 1


class TFRecordError(DataError, ValueError):
    """A shard folder is missing its index, or the index does not match the shards."""


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.define(frozen=True)
class TFRecordSource:
    """A split stored as TFRecord shards (what :func:`open_shards` returns).

    :param directory: the folder of the shards.
    :param name: the split's name (``train``, ``validation``, ``test``).
    :param classes: the class names the labels index into.
    :param count: number of records.
    :param shards: the shard file names, in order.
    :param shuffled: whether the records were shuffled when written.
    """

    directory: Path = attrs.field(converter=Path)
    name: str
    classes: tuple[str, ...] = attrs.field(converter=_strings)
    count: int
    shards: tuple[str, ...] = attrs.field(converter=_strings)
    shuffled: bool = False

    def __len__(self) -> int:
        return self.count

    @property
    def num_classes(self) -> int:
        """How many classes the labels index into."""
        return len(self.classes)

    @property
    def shard_paths(self) -> list[str]:
        """Full paths of the shards, in order."""
        return [str(self.directory / shard) for shard in self.shards]


def write_shards(
    split: Split,
    out_dir: str | Path,
    *,
    name: str = "train",
    shard_size: int = DEFAULT_SHARD_SIZE,
    shuffle: bool = False,
    seed: int = 42,
) -> TFRecordSource:
    """Write ``split`` as TFRecord shards plus ``<name>.json``.

    :param split: the images and labels.
    :param out_dir: the folder to write into (created if missing).
    :param name: the file name prefix, usually the split's name.
    :param shard_size: records per shard.
    :param shuffle: write the records in a seeded random order. Do this for
        training shards: reading shuffles within a buffer, and a split listed
        class by class would otherwise give batches of one class.
    :param seed: the shuffle's seed.
    :returns: the source for the written shards.
    :raises ValueError: ``shard_size`` below 1.
    :raises OSError: an image file cannot be read.
    """
    import tensorflow as tf

    if shard_size < 1:
        raise ValueError(f"shard_size={shard_size} must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = list(range(len(split)))
    if shuffle:
        random.Random(seed).shuffle(order)
    num_shards = max(1, -(-len(order) // shard_size))
    shards = [f"{name}-{index:05d}-of-{num_shards:05d}.tfrecord" for index in range(num_shards)]
    for index, shard in enumerate(shards):
        with tf.io.TFRecordWriter(str(out / shard)) as writer:
            for item in order[index * shard_size : (index + 1) * shard_size]:
                path = split.paths[item]
                data = Path(path).read_bytes()
                writer.write(_example(data, split.labels[item], path))
    source = TFRecordSource(out, name, split.classes, len(order), shards, shuffle)
    index_data = {
        "format": _FORMAT,
        "name": name,
        "classes": list(split.classes),
        "count": len(order),
        "shards": shards,
        "shuffled": shuffle,
    }
    (out / f"{name}.json").write_text(json.dumps(index_data, indent=1), encoding="utf-8")
    return source


def write_dataset(
    dataset: Dataset, out_dir: str | Path, *, shard_size: int = DEFAULT_SHARD_SIZE, seed: int = 42
) -> dict[str, TFRecordSource]:
    """Write a data set's train (shuffled), validation and test splits as shards.

    :param dataset: the data set.
    :param out_dir: the folder to write into.
    :param shard_size: records per shard.
    :param seed: the training shards' shuffle seed.
    :returns: split name -> source (empty splits are skipped).
    """
    result = {}
    for name in ("train", "validation", "test"):
        split = getattr(dataset, name)
        if len(split):
            result[name] = write_shards(
                split, out_dir, name=name, shard_size=shard_size, shuffle=name == "train", seed=seed
            )
    return result


def open_shards(directory: str | Path, name: str = "train") -> TFRecordSource:
    """The split ``name`` written into ``directory`` by :func:`write_shards`.

    :param directory: the shard folder (``DataConfig.tfrecords``).
    :param name: the split's name.
    :returns: the source.
    :raises TFRecordError: the index file is missing or malformed, or a shard is missing.
    """
    folder = Path(directory)
    index_path = folder / f"{name}.json"
    if not index_path.is_file():
        found = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise TFRecordError(
            f"{index_path} not found: no {name!r} shards in {folder} "
            f"(splits there: {', '.join(found) or 'none'}); write them with write_shards()"
        )
    try:
        data = json.loads(index_path.read_text(encoding="utf-8"))
        source = TFRecordSource(
            folder,
            str(data["name"]),
            tuple(data["classes"]),
            int(data["count"]),
            tuple(data["shards"]),
            bool(data.get("shuffled", False)),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise TFRecordError(f"{index_path} is not a shard index: {error!r}") from error
    if data.get("format") != _FORMAT:
        raise TFRecordError(f"{index_path} has format {data.get('format')!r}; expected {_FORMAT}")
    missing = [shard for shard in source.shards if not (folder / shard).is_file()]
    if missing:
        raise TFRecordError(f"{index_path} lists shards that do not exist: {', '.join(missing)}")
    return source


def parse_record(record: Any) -> tuple[Any, Any]:
    """One serialized record to ``(image bytes, int32 label)`` tensors.

    :param record: a scalar string tensor from a ``TFRecordDataset``.
    :returns: the file's bytes and its label.
    """
    import tensorflow as tf

    features = tf.io.parse_single_example(
        record,
        {
            "image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64),
        },
    )
    return features["image"], tf.cast(features["label"], tf.int32)


def read_records(source: TFRecordSource) -> list[tuple[bytes, int, str]]:
    """Every record of ``source`` as ``(bytes, label, path)``, in stored order (small splits).

    :param source: the shards.
    :returns: the records.
    """
    import tensorflow as tf

    result = []
    for record in tf.data.TFRecordDataset(source.shard_paths):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        result.append(
            (
                feature["image"].bytes_list.value[0],
                int(feature["label"].int64_list.value[0]),
                feature["path"].bytes_list.value[0].decode("utf-8"),
            )
        )
    return result


def _example(data: bytes, label: int, path: str) -> bytes:
    import tensorflow as tf

    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode("utf-8")])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    serialized: bytes = example.SerializeToString()
    return serialized
