"""The plots: written, real PNGs, with 101 classes as Food-101 has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from food_recognition.evaluation import ClassificationMetrics, Mistake, compute_metrics
from food_recognition.evaluation.plots import (
    plot_confusion_matrix,
    plot_most_confused,
    plot_per_class_accuracy,
    plot_training_curves,
    plot_worst_mistakes,
)
from tests.fixtures.images import write_jpeg

PNG = b"\x89PNG\r\n\x1a\n"


def food101_like(classes: int = 101, per_class: int = 25, seed: int = 0) -> ClassificationMetrics:
    """Predictions with Food-101's shape: easy and hard classes, a few lookalike pairs."""
    rng = np.random.default_rng(seed)
    names = tuple(f"dish_{i:03d}" for i in range(classes))
    labels = np.repeat(np.arange(classes), per_class)
    logits = rng.normal(size=(labels.size, classes))
    skill = rng.uniform(0.5, 4.0, classes)
    logits[np.arange(labels.size), labels] += skill[labels]
    for a, b in [(3, 7), (10, 11), (40, 41), (90, 5)] if classes > 90 else [(1, 2)]:
        rows = labels == a
        logits[rows, b] += 3.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return compute_metrics(probabilities, labels, names)


def _is_png(path: Path, min_size: tuple[int, int] = (400, 300)) -> None:
    assert path.read_bytes()[:8] == PNG
    with Image.open(path) as image:
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        # Not a blank canvas: the plot drew something.
        assert len(image.convert("L").getcolors(maxcolors=1 << 20) or ()) > 10


@pytest.mark.parametrize("classes", [3, 101])
def test_confusion_matrix_and_per_class(tmp_path: Path, classes: int) -> None:
    metrics = food101_like(classes)
    _is_png(plot_confusion_matrix(metrics, tmp_path / "cm.png"))
    _is_png(plot_per_class_accuracy(metrics, tmp_path / "per_class.png"))


def test_most_confused_pairs(tmp_path: Path) -> None:
    metrics = food101_like()
    assert metrics.most_confused[0].true_class in {"dish_003", "dish_010", "dish_040", "dish_090"}
    _is_png(plot_most_confused(metrics.most_confused, tmp_path / "pairs.png"))
    _is_png(plot_most_confused((), tmp_path / "none.png"), (300, 200))


def test_worst_mistakes_grid_with_images(tmp_path: Path) -> None:
    paths = [write_jpeg(tmp_path / f"{i}.jpg", seed=i, label=i, size=(120, 90)) for i in range(6)]
    mistakes = [
        Mistake(str(path), "Apple pie", "Bibimbap", 0.9 - 0.1 * i) for i, path in enumerate(paths)
    ]
    mistakes.append(Mistake(str(tmp_path / "deleted.jpg"), "Apple pie", "Pho", 0.2))
    _is_png(plot_worst_mistakes(mistakes, tmp_path / "worst.png"))


def test_training_curves(tmp_path: Path) -> None:
    history = {
        "loss": [2.0, 1.2, 0.8],
        "val_loss": [2.1, 1.4, 1.1],
        "accuracy": [0.3, 0.6, 0.8],
        "val_accuracy": [0.25, 0.5, 0.7],
        "learning_rate": [1e-4, 1e-3, 1e-5],
    }
    _is_png(plot_training_curves(history, tmp_path / "curves.png"))
