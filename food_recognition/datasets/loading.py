"""From a folder to a :class:`~food_recognition.datasets.splits.Dataset`.

:func:`load_dataset` reads the layout (:mod:`~food_recognition.datasets.layouts`),
carves the test split (when the layout has none) and a stratified validation
split from train (:func:`~food_recognition.datasets.splits.stratified_holdout`),
then runs the index scan (:mod:`~food_recognition.datasets.scan`) so that the
splits hold only images the input pipeline can read.

Splitting happens before scanning and depends only on the listed paths and the
seed, so an image that turns out unreadable leaves every other image where it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from food_recognition.config import DataConfig
from food_recognition.datasets.images import MAX_PIXELS
from food_recognition.datasets.layouts import DatasetLayoutError, Entry, read_layout
from food_recognition.datasets.scan import ImageStatus, scan_images
from food_recognition.datasets.splits import (
    Dataset,
    NormalizedImage,
    SkippedImage,
    Split,
    cap_per_class,
    stratified_holdout,
)

__all__ = ["load_dataset", "load_dataset_from_config"]


def load_dataset(
    path: str | os.PathLike[str],
    *,
    layout: str = "auto",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 42,
    max_per_class: int | None = None,
    scan: bool = True,
    max_pixels: int = MAX_PIXELS,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read a data-set folder into train, validation and test splits.

    :param path: a Food-101 folder, a ``train/``/``test/`` class-folder tree, or a
        folder of class folders.
    :param layout: ``auto`` (detect), ``food101``, ``class_folders`` or ``single_folder``.
    :param validation_fraction: share of each class's training images held out as
        validation (ignored when the layout has a ``validation/`` folder).
    :param test_fraction: share of each class held out as test when the layout
        has no test split (``single_folder``, or class folders without ``test/``).
    :param seed: chooses the held-out images; the same seed gives the same splits
        on any machine.
    :param max_per_class: keep at most this many images per class in train
        (before validation is carved) and in test: a quick run on a subset.
    :param scan: check every image and normalize the ones TensorFlow misreads
        (see :mod:`~food_recognition.datasets.scan`); ``False`` trusts the files.
    :param max_pixels: the scan skips images with more pixels than this.
    :param workers: threads for the scan.
    :param progress: called as ``progress(done, total)`` during the scan.
    :returns: the :class:`~food_recognition.datasets.splits.Dataset`.
    :raises DatasetLayoutError: the folder does not match the layout, or a class
        is left with no usable training image.
    :raises ValueError: a fraction outside ``[0, 1)``.

    """
    fractions = {"validation_fraction": validation_fraction, "test_fraction": test_fraction}
    for name, value in fractions.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value!r} must be in [0, 1)")
    index = read_layout(path, layout)
    train: Sequence[Entry] = index.train
    test: Sequence[Entry] | None = index.test
    validation: Sequence[Entry] | None = index.validation
    if max_per_class is not None:
        train = cap_per_class(train, max_per_class, seed=seed)
        if test is not None:
            test = tuple(cap_per_class(test, max_per_class, seed=seed))
    if test is None:
        train, test = stratified_holdout(train, test_fraction, seed=seed, salt="test")
    if validation is None:
        train, validation = stratified_holdout(
            train, validation_fraction, seed=seed, salt="validation"
        )
    root = index.root.resolve()
    listed: dict[str, Sequence[Entry]] = {"train": train, "validation": validation, "test": test}
    # String joins, not pathlib: ~100,000 paths for Food-101.
    prefix = f"{root}{os.sep}"
    splits = {
        name: [(prefix + relative, label) for relative, label in entries]
        for name, entries in listed.items()
    }
    skipped: list[SkippedImage] = []
    normalized: list[NormalizedImage] = []
    if scan:
        every = [p for entries in splits.values() for p, _ in entries]
        statuses = scan_images(
            every, root=root, max_pixels=max_pixels, workers=workers, progress=progress
        )
        splits = {name: _apply(entries, statuses) for name, entries in splits.items()}
        for original in dict.fromkeys(every):
            status = statuses[original]
            if status.reason is not None:
                skipped.append(SkippedImage(original, status.reason))
            elif status.normalized is not None:
                normalized.append(NormalizedImage(original, status.path, status.normalized))
        _check_classes_left(splits["train"], index.classes, root, skipped)

    def split(name: str) -> Split:
        entries = splits[name]
        return Split([p for p, _ in entries], [label for _, label in entries], index.classes)

    return Dataset(
        root=root,
        layout=index.layout,
        classes=index.classes,
        human_labels=index.human_labels,
        train=split("train"),
        validation=split("validation"),
        test=split("test"),
        skipped=skipped,
        normalized=normalized,
    )


def load_dataset_from_config(config: DataConfig, **kwargs: object) -> Dataset:
    """:func:`load_dataset` with the values of a :class:`~food_recognition.config.DataConfig`.

    :param config: ``path``, ``layout``, the fractions, ``seed`` and ``max_per_class`` are used.
    :param kwargs: more :func:`load_dataset` keywords (``scan``, ``workers``, ``progress``).
    :returns: the :class:`~food_recognition.datasets.splits.Dataset`.
    """
    return load_dataset(
        config.path,
        layout=config.layout,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        max_per_class=config.max_per_class,
        **kwargs,  # type: ignore[arg-type]
    )


def _apply(
    entries: list[tuple[str, int]], statuses: dict[str, ImageStatus]
) -> list[tuple[str, int]]:
    kept = []
    for path, label in entries:
        status = statuses[path]
        if status.reason is None:
            kept.append((status.path, label))
    return kept


def _check_classes_left(
    train: list[tuple[str, int]], classes: tuple[str, ...], root: Path, skipped: list[SkippedImage]
) -> None:
    present = {label for _, label in train}
    for label, name in enumerate(classes):
        if label not in present:
            reasons = [s for s in skipped if f"/{name}/" in s.path]
            example = f"; e.g. {reasons[0].path}: {reasons[0].reason}" if reasons else ""
            raise DatasetLayoutError(
                f"{root}: class {name!r} has no usable training image left after the scan{example}"
            )
