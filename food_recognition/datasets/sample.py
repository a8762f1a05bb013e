"""A small real data set in the Food-101 layout, made from what a package ships.

The demo and the learning checks need real images that train in minutes on a
CPU with no download. :func:`write_digits_sample` writes scikit-learn's
handwritten digits (1,797 scans of 8x8 pixels, 10 classes) as upscaled RGB
JPEGs in the published Food-101 layout (``images/<class>/<id>.jpg`` plus
``meta/``). It is a stand-in for Food-101, not food: point the same code at a
real Food-101 folder to train the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: Class names of the sample, in label order.
DIGIT_CLASSES = tuple(f"digit_{d}" for d in range(10))


def write_digits_sample(
    dest: str | Path,
    *,
    size: int = 32,
    test_fraction: float = 0.2,
    seed: int = 0,
    per_class: int | None = None,
) -> Path:
    """Write scikit-learn's digits as a Food-101-layout tree and return its root.

    Writing is skipped when ``dest/meta/classes.txt`` already exists, so a rerun
    is instant.

    :param dest: the folder to create (``images/`` and ``meta/`` go inside).
    :param size: side of the square JPEGs, in pixels.
    :param test_fraction: share of each class listed in ``meta/test.txt``.
    :param seed: seeds the train/test assignment and the colour tints.
    :param per_class: keep at most this many images per class.
    :raises ImportError: scikit-learn is not installed (``pip install food-recognition[demo]``).
    """
    root = Path(dest)
    if (root / "meta" / "classes.txt").exists():
        return root
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits sample needs scikit-learn: pip install 'food-recognition[demo]'"
        ) from error
    from PIL import Image

    digits = load_digits()
    rng = np.random.default_rng(seed)
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for label, name in enumerate(DIGIT_CLASSES):
        indices = np.flatnonzero(digits.target == label)
        if per_class is not None:
            indices = indices[:per_class]
        test_count = max(1, round(len(indices) * test_fraction))
        test_ids = set(rng.choice(indices, size=test_count, replace=False).tolist())
        folder = root / "images" / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in indices.tolist():
            # 0..16 ink -> white paper with a coloured pen, like a photo of a page.
            ink = digits.images[index] / 16.0
            pen = rng.uniform(0, 160, size=3)
            rgb = 255.0 - ink[..., None] * (255.0 - pen)
            image = Image.fromarray(rgb.astype(np.uint8), "RGB").resize(
                (size, size), Image.Resampling.BILINEAR
            )
            image.save(folder / f"{index}.jpg", "JPEG", quality=90)
            split = "test" if index in test_ids else "train"
            splits[split].setdefault(name, []).append(f"{name}/{index}")
    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "labels.txt").write_text("\n".join(f"Digit {d}" for d in range(10)) + "\n")
    for split, entries in splits.items():
        lines = [item for name in DIGIT_CLASSES for item in entries.get(name, [])]
        (meta / f"{split}.txt").write_text("\n".join(lines) + "\n")
        (meta / f"{split}.json").write_text(json.dumps(entries))
    # Written last: its presence marks a complete tree.
    (meta / "classes.txt").write_text("\n".join(DIGIT_CLASSES) + "\n")
    return root
