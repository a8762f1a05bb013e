"""Reading a data-set folder: which layout it is, its classes, and its listed images.

Three layouts are understood (see ``docs/datasets.rst``):

``food101``
    Food-101 as published: ``images/<class>/<id>.jpg`` and ``meta/`` with
    ``classes.txt``, ``labels.txt`` (readable names, optional), ``train.txt``
    and ``test.txt`` (lines ``<class>/<id>``, no extension) or their ``.json``
    twins (``{"<class>": ["<class>/<id>", ...]}``).
``class_folders``
    ``train/<class>/*`` and optionally ``test/<class>/*`` and
    ``validation/<class>/*`` (or ``val/``, ``valid/``).
``single_folder``
    ``<class>/*``: one folder per class, split by ratio.

Reading only lists files (no image is opened); the result is a
:class:`LayoutIndex` of paths relative to the root, so what follows (splitting,
hashing) is the same on every machine. Anything malformed raises
:class:`DatasetLayoutError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from food_recognition.errors import DataError

if TYPE_CHECKING:
    from food_recognition.config import RunConfig

__all__ = [
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "DatasetLayoutError",
    "LayoutIndex",
    "check_data_path",
    "detect_layout",
    "read_layout",
]

#: Layout names :func:`read_layout` accepts (``auto`` detects one).
LAYOUTS = ("auto", "food101", "class_folders", "single_folder")

#: File extensions listed as images in class folders (lower case); other files
#: (READMEs, ``Thumbs.db``) are ignored. Formats the scan cannot read are listed
#: so that they are reported, not silently dropped.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
    | {".heic", ".heif", ".avif", ".ico"}
)

_VALIDATION_FOLDERS = ("validation", "val", "valid")

Entry = tuple[str, int]
"""An image: its path relative to the root (POSIX separators) and its label."""


class DatasetLayoutError(DataError, ValueError):
    """A data-set folder that does not match its layout; the message names the file."""


@attrs.define(frozen=True)
class LayoutIndex:
    """What a layout lists, before splitting and scanning.

    :param root: the data-set folder.
    :param layout: ``food101``, ``class_folders`` or ``single_folder``.
    :param classes: class names, in label order.
    :param human_labels: readable class names.
    :param train: training images (validation not carved yet).
    :param test: test images, or ``None`` when the layout has none (carve by ratio).
    :param validation: validation images given by the layout, or ``None`` (carve from train).
    """

    root: Path
    layout: str
    classes: tuple[str, ...]
    human_labels: tuple[str, ...]
    train: tuple[Entry, ...]
    test: tuple[Entry, ...] | None = None
    validation: tuple[Entry, ...] | None = None


def detect_layout(root: str | os.PathLike[str]) -> tuple[str, Path]:
    """Which layout a folder holds.

    A folder holding exactly one sub-folder with ``meta/`` (the published
    archive extracts to ``food-101/``) is read as that sub-folder.

    :param root: the data-set folder.
    :returns: the layout name and the folder to read it from.
    :raises DatasetLayoutError: no layout matches; the message lists what was expected.
    """
    path = Path(root)
    if not path.is_dir():
        raise DatasetLayoutError(
            f"{path}: not a folder; point at a Food-101 folder (with meta/ and images/), "
            "a folder with train/<class>/ and test/<class>/, or a folder of <class>/ folders"
        )
    if (path / "meta").is_dir() or (path / "images").is_dir():
        return "food101", path
    if (path / "train").is_dir():
        return "class_folders", path
    children = _subfolders(path)
    if len(children) == 1 and (children[0] / "meta").is_dir():
        return "food101", children[0]
    if any(_image_files(child) for child in children):
        return "single_folder", path
    raise DatasetLayoutError(
        f"{path}: no data set found; expected meta/classes.txt and images/ (Food-101), "
        "train/<class>/ image folders (class folders), or <class>/ image folders"
    )


def check_data_path(config: RunConfig) -> None:
    """Refuse a run's data path that holds no data set, before TensorFlow is even imported.

    :param config: the run.
    :raises DatasetLayoutError: ``data.path`` is missing, a file, or a folder
        without a data set (the message says what was expected).
    """
    if config.data.tfrecords:
        return  # the shards are the data; their folder is checked when read
    if config.data.layout == "auto" or not Path(config.data.path).is_dir():
        detect_layout(config.data.path)


def read_layout(root: str | os.PathLike[str], layout: str = "auto") -> LayoutIndex:
    """List a data set's classes and images.

    :param root: the data-set folder.
    :param layout: ``auto`` or one of ``food101``, ``class_folders``, ``single_folder``.
    :returns: a :class:`LayoutIndex`.
    :raises DatasetLayoutError: the folder does not match the layout (the message
        names the file and what is wrong), or ``layout`` is not a known name.
    """
    path = Path(root)
    if layout not in LAYOUTS:
        raise DatasetLayoutError(
            f"unknown layout {layout!r}; choose one of {', '.join(map(repr, LAYOUTS))}"
        )
    if layout == "auto":
        layout, path = detect_layout(path)
    elif not path.is_dir():
        raise DatasetLayoutError(f"{path}: not a folder")
    if layout == "food101":
        return _read_food101(path)
    if layout == "class_folders":
        return _read_class_folders(path)
    return _read_single_folder(path)


def human_label(class_name: str) -> str:
    """A readable name for a class folder name: ``"apple_pie"`` -> ``"Apple pie"``."""
    text = class_name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# -- Food-101 ---------------------------------------------------------------------


def _read_food101(root: Path) -> LayoutIndex:
    meta = root / "meta"
    classes_file = meta / "classes.txt"
    if not classes_file.is_file():
        raise DatasetLayoutError(
            f"{classes_file}: missing; a Food-101 folder lists its classes there, one per "
            "line (or pass layout='class_folders' / 'single_folder' for plain folders)"
        )
    classes = _read_lines(classes_file)
    if not classes:
        raise DatasetLayoutError(f"{classes_file}: no class names in it")
    seen: dict[str, int] = {}
    for number, name in enumerate(classes, 1):
        if "/" in name or name in (".", ".."):
            raise DatasetLayoutError(f"{classes_file} line {number}: {name!r} is not a class name")
        if name in seen:
            raise DatasetLayoutError(
                f"{classes_file} line {number}: class {name!r} repeats line {seen[name]}"
            )
        seen[name] = number
    labels_file = meta / "labels.txt"
    if labels_file.is_file():
        human_labels = _read_lines(labels_file)
        if len(human_labels) != len(classes):
            raise DatasetLayoutError(
                f"{labels_file}: {len(human_labels)} labels for {len(classes)} classes in "
                f"{classes_file}; it needs one readable name per class, in the same order"
            )
    else:
        human_labels = [human_label(name) for name in classes]
    finder = _ImageFinder(root / "images")
    train = _read_food101_split(root, "train", classes, finder)
    if train is None:
        raise DatasetLayoutError(
            f"{meta / 'train.txt'}: missing (and no meta/train.json); it lists the training "
            "images as <class>/<id> lines"
        )
    counts = [0] * len(classes)
    for _, label in train:
        counts[label] += 1
    for label, count in enumerate(counts):
        if count == 0:
            raise DatasetLayoutError(
                f"{classes_file} line {label + 1}: class {classes[label]!r} has no images in "
                f"{_split_file(meta, 'train').name}; every class needs training images"
            )
    test = _read_food101_split(root, "test", classes, finder)
    return LayoutIndex(root, "food101", tuple(classes), tuple(human_labels), train, test)


def _split_file(meta: Path, split: str) -> Path:
    text = meta / f"{split}.txt"
    return (
        text
        if text.is_file() or not (meta / f"{split}.json").is_file()
        else meta / (f"{split}.json")
    )


def _read_food101_split(
    root: Path, split: str, classes: Sequence[str], finder: _ImageFinder
) -> tuple[Entry, ...] | None:
    source = _split_file(root / "meta", split)
    if not source.is_file():
        return None
    if source.suffix == ".txt":
        items = [(f"line {number}", line) for number, line in enumerate(_read_lines(source), 1)]
    else:
        items = _json_items(source)
    index = {name: label for label, name in enumerate(classes)}
    entries: list[Entry] = []
    for where, item in items:
        name, sep, image_id = item.partition("/")
        if not sep or not image_id:
            raise DatasetLayoutError(
                f"{source} {where}: {item!r} is not <class>/<id> (e.g. apple_pie/1005649)"
            )
        if name not in index:
            raise DatasetLayoutError(
                f"{source} {where}: class {name!r} is not in {root / 'meta' / 'classes.txt'}"
            )
        relative = finder.find(name, image_id)
        if relative is None:
            raise DatasetLayoutError(
                f"{source} {where}: {item!r} lists images/{item}.jpg, which does not exist"
            )
        entries.append((relative, index[name]))
    return tuple(entries)


def _json_items(source: Path) -> list[tuple[str, str]]:
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetLayoutError(f"{source}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise DatasetLayoutError(f"{source}: expected an object of class name -> list of ids")
    items: list[tuple[str, str]] = []
    for name, entries in data.items():
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise DatasetLayoutError(f"{source}: class {name!r} must map to a list of strings")
        items.extend((f"class {name!r} entry {n}", entry) for n, entry in enumerate(entries, 1))
    return items


class _ImageFinder:
    """Resolves ``<class>/<id>`` to an existing file, listing each class folder once."""

    def __init__(self, images: Path) -> None:
        self._images = images
        self._folders: dict[str, dict[str, str]] = {}

    def find(self, name: str, image_id: str) -> str | None:
        folder = self._folders.get(name)
        if folder is None:
            folder = {}
            try:
                entries = sorted(os.scandir(self._images / name), key=lambda e: e.name)
            except OSError:
                entries = []
            for entry in entries:
                stem, ext = os.path.splitext(entry.name)  # noqa: PTH122 - per file, hot
                # The published ids have no extension; prefer .jpg when several match.
                if stem not in folder or ext.lower() == ".jpg":
                    folder[stem] = entry.name
                folder.setdefault(entry.name, entry.name)
            self._folders[name] = folder
        found = folder.get(image_id)
        return None if found is None else f"images/{name}/{found}"


# -- class folders ------------------------------------------------------------------


def _read_class_folders(root: Path) -> LayoutIndex:
    train_root = root / "train"
    if not train_root.is_dir():
        raise DatasetLayoutError(
            f"{train_root}: missing; the class-folder layout needs train/<class>/ image folders"
        )
    classes, train = _read_class_tree(root, train_root, None)
    validation = None
    for name in _VALIDATION_FOLDERS:
        if (root / name).is_dir():
            validation = _read_class_tree(root, root / name, classes)[1]
            break
    test = _read_class_tree(root, root / "test", classes)[1] if (root / "test").is_dir() else None
    human = tuple(human_label(name) for name in classes)
    return LayoutIndex(root, "class_folders", classes, human, train, test, validation)


def _read_single_folder(root: Path) -> LayoutIndex:
    classes, train = _read_class_tree(root, root, None)
    human = tuple(human_label(name) for name in classes)
    return LayoutIndex(root, "single_folder", classes, human, train)


def _read_class_tree(
    root: Path, folder: Path, classes: tuple[str, ...] | None
) -> tuple[tuple[str, ...], tuple[Entry, ...]]:
    """Images under ``folder/<class>/``.

    Without ``classes`` the sub-folders are the classes and each must hold images;
    with ``classes`` (test, validation) another folder is an error, an empty one is not.
    """
    children = _subfolders(folder)
    classes_given = classes
    if classes is None:
        classes = tuple(child.name for child in children)
        if not classes:
            raise DatasetLayoutError(
                f"{folder}: no class folders in it (expected <class>/ folders)"
            )
    index = {name: label for label, name in enumerate(classes)}
    entries: list[Entry] = []
    for child in children:
        if child.name not in index:
            raise DatasetLayoutError(
                f"{child}: class {child.name!r} is not among the training classes "
                f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})"
            )
        files = _image_files(child)
        if not files and classes_given is None:
            raise DatasetLayoutError(
                f"{child}: empty class (no image files); add images or remove the folder"
            )
        prefix = child.relative_to(root).as_posix()
        entries.extend((f"{prefix}/{name}", index[child.name]) for name in files)
    return classes, tuple(entries)


def _visible_entries(folder: Path) -> list[os.DirEntry[str]]:
    """The folder's entries not starting with a dot; none when it cannot be read."""
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if not e.name.startswith(".")]
    except OSError:
        return []


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        (Path(e.path) for e in _visible_entries(folder) if e.is_dir()), key=lambda p: p.name
    )


def _image_files(folder: Path) -> list[str]:
    return sorted(
        e.name
        for e in _visible_entries(folder)
        if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS  # noqa: PTH122 - hot
        and e.is_file()
    )


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetLayoutError(f"{path}: not UTF-8 text ({error})") from error
    return [line.strip() for line in text.splitlines() if line.strip()]
