"""Splits as values: which image files, with which labels, in which classes.

A :class:`Split` is the hand-off from the layout readers to the input
pipeline; a :class:`Dataset` is the three splits of one data set plus what the
index scan skipped and why.
"""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.define(frozen=True)
class SkippedImage:
    """An image the index scan left out, and why (``"truncated JPEG"``, ...)."""

    path: str
    reason: str


def _same_length(instance: Split, attribute: attrs.Attribute[object], value: object) -> None:
    if len(instance.paths) != len(instance.labels):
        raise ValueError(
            f"Split has {len(instance.paths)} paths but {len(instance.labels)} labels"
        )


@attrs.define(frozen=True)
class Split:
    """Image files and their integer labels (indices into ``classes``).

    :param paths: image file paths (strings, so the value is cheap to hash and to
        hand to ``tf.data``).
    :param labels: one label per path.
    :param classes: the class names, shared by every split of a data set.
    """

    paths: tuple[str, ...] = attrs.field(converter=tuple)
    labels: tuple[int, ...] = attrs.field(converter=tuple, validator=_same_length)
    classes: tuple[str, ...] = attrs.field(converter=tuple)

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
    """

    root: Path
    layout: str
    classes: tuple[str, ...] = attrs.field(converter=tuple)
    human_labels: tuple[str, ...] = attrs.field(converter=tuple)
    train: Split
    validation: Split
    test: Split
    skipped: tuple[SkippedImage, ...] = attrs.field(default=(), converter=tuple)
