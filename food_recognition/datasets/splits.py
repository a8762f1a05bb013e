"""Splits as values: which image files, with which labels, in which classes.

A :class:`Split` is the hand-off from the layout readers to the input
pipeline; a :class:`Dataset` is the three splits of one data set plus what the
index scan skipped and why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

__all__ = [
    "Dataset",
    "NormalizedImage",
    "SkippedImage",
    "Split",
    "cap_per_class",
    "stratified_holdout",
]


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


def _skipped(values: Iterable[SkippedImage]) -> tuple[SkippedImage, ...]:
    return tuple(values)


def _normalized(values: Iterable[NormalizedImage]) -> tuple[NormalizedImage, ...]:
    return tuple(values)


@attrs.define(frozen=True)
class SkippedImage:
    """An image the index scan left out, and why (``"truncated JPEG"``, ...)."""

    path: str
    reason: str


@attrs.define(frozen=True)
class NormalizedImage:
    """An image TensorFlow would decode wrongly, rewritten once as a lossless PNG.

    :param path: the original file (never modified).
    :param normalized_path: the upright RGB PNG the splits point at instead.
    :param reason: what was wrong for TensorFlow (``"EXIF orientation 6"``, ``"CMYK JPEG"``...).
    """

    path: str
    normalized_path: str
    reason: str


def _same_length(instance: Split, attribute: attrs.Attribute[object], value: object) -> None:
    if len(instance.paths) != len(instance.labels):
        raise ValueError(f"Split has {len(instance.paths)} paths but {len(instance.labels)} labels")


@attrs.define(frozen=True)
class Split:
    """Image files and their integer labels (indices into ``classes``).

    :param paths: image file paths (strings, so the value is cheap to hash and to
        hand to ``tf.data``).
    :param labels: one label per path.
    :param classes: the class names, shared by every split of a data set.
    """

    paths: tuple[str, ...] = attrs.field(converter=_strings)
    labels: tuple[int, ...] = attrs.field(converter=_ints, validator=_same_length)
    classes: tuple[str, ...] = attrs.field(converter=_strings)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        """How many classes the labels index into."""
        return len(self.classes)

    def counts(self) -> dict[str, int]:
        """Images per class name, in class order (classes with none included)."""
        result = dict.fromkeys(self.classes, 0)
        for label in self.labels:
            result[self.classes[label]] += 1
        return result


@attrs.define(frozen=True)
class Dataset:
    """A data set's train, validation and test splits.

    :param root: the folder it was read from.
    :param layout: ``food101``, ``class_folders`` or ``single_folder``.
    :param classes: class names (folder names, ``meta/classes.txt``).
    :param human_labels: readable names (``meta/labels.txt``, or derived from the class names).
    :param train: the training split (validation already carved out).
    :param validation: the stratified validation split.
    :param test: the test split.
    :param skipped: images the index scan left out, with the reason.
    :param normalized: images the splits read from a normalized copy, with the reason.
    """

    root: Path
    layout: str
    classes: tuple[str, ...] = attrs.field(converter=_strings)
    human_labels: tuple[str, ...] = attrs.field(converter=_strings)
    train: Split
    validation: Split
    test: Split
    skipped: tuple[SkippedImage, ...] = attrs.field(default=(), converter=_skipped)
    normalized: tuple[NormalizedImage, ...] = attrs.field(default=(), converter=_normalized)

    @property
    def splits(self) -> dict[str, Split]:
        """The three splits by name (``train``, ``validation``, ``test``)."""
        return {"train": self.train, "validation": self.validation, "test": self.test}


def stratified_holdout(
    entries: Sequence[tuple[str, int]], fraction: float, *, seed: int, salt: str
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split ``entries`` into (kept, held out), holding out ``fraction`` of each class.

    The choice depends only on the entries' relative paths, the seed and the
    salt: each path gets a key from a cryptographic hash of ``seed``, ``salt``
    and the path (never Python's randomized ``hash()``), and each class holds
    out its lowest keys. So the same folder gives the same split on any machine,
    and adding an image moves no other image between splits (unless the count
    per class changes).

    A class with at least two images keeps at least one and holds out at least
    one when ``fraction > 0``.

    :param entries: ``(relative path, label)`` pairs.
    :param fraction: the share of each class to hold out, in ``[0, 1)``.
    :param seed: different seeds choose different images.
    :param salt: separates independent choices with the same seed (``"test"``, ``"validation"``).
    :returns: the kept and the held-out entries, each sorted by label then path.

    >>> entries = [(f"a/{i}.jpg", 0) for i in range(10)] + [(f"b/{i}.jpg", 1) for i in range(5)]
    >>> kept, held = stratified_holdout(entries, 0.2, seed=42, salt="validation")
    >>> len(kept), len(held), sorted({label for _, label in held})
    (12, 3, [0, 1])
    >>> held == stratified_holdout(entries, 0.2, seed=42, salt="validation")[1]
    True
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction={fraction!r} must be in [0, 1)")
    by_class: dict[int, list[str]] = {}
    for path, label in entries:
        by_class.setdefault(label, []).append(path)
    kept: list[tuple[str, int]] = []
    held: list[tuple[str, int]] = []
    for label in sorted(by_class):
        paths = sorted(set(by_class[label]))
        count = round(len(paths) * fraction)
        if fraction > 0 and len(paths) >= 2:
            count = min(max(count, 1), len(paths) - 1)
        ranked = sorted(paths, key=lambda p: _rank(seed, salt, p))
        chosen = set(ranked[:count])
        held.extend((p, label) for p in paths if p in chosen)
        kept.extend((p, label) for p in paths if p not in chosen)
    return kept, held


def cap_per_class(
    entries: Sequence[tuple[str, int]], limit: int, *, seed: int
) -> list[tuple[str, int]]:
    """At most ``limit`` entries of each class, chosen like :func:`stratified_holdout`.

    :param entries: ``(relative path, label)`` pairs.
    :param limit: the most entries kept per class.
    :param seed: different seeds keep different images.
    :returns: the kept entries, sorted by label then path.
    """
    by_class: dict[int, list[str]] = {}
    for path, label in entries:
        by_class.setdefault(label, []).append(path)
    kept: list[tuple[str, int]] = []
    for label in sorted(by_class):
        ranked = sorted(set(by_class[label]), key=lambda p: _rank(seed, "subset", p))
        kept.extend((p, label) for p in sorted(ranked[:limit]))
    return kept


def _rank(seed: int, salt: str, path: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{salt}\0{path}".encode(), digest_size=8).digest()
