"""Classification metrics from predicted probabilities: pure NumPy.

>>> import numpy as np
>>> probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
>>> metrics = compute_metrics(probabilities, [0, 2, 1], ("a", "b", "c"))
>>> round(metrics.accuracy, 4), metrics.top_k(2)
(0.6667, 1.0)
>>> metrics.per_class_accuracy
{'a': 1.0, 'b': 0.0, 'c': 1.0}
>>> metrics.most_confused[0]
ConfusedPair(true_class='b', predicted_class='a', count=1, rate=1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["ClassificationMetrics", "ConfusedPair", "compute_metrics", "confusion_matrix"]

#: Probabilities are clipped to this before the log, as scikit-learn's log_loss does.
EPSILON = 1e-15


@attrs.define(frozen=True)
class ConfusedPair:
    """Images of one class predicted as another.

    :param true_class: the class the images belong to.
    :param predicted_class: the class they were predicted as.
    :param count: how many images.
    :param rate: ``count`` as a share of ``true_class``'s images.
    """

    true_class: str
    predicted_class: str
    count: int
    rate: float


@attrs.define(frozen=True, eq=False, repr=False)
class ClassificationMetrics:
    """Metrics of one set of predictions.

    :param classes: class names, in label order.
    :param num_images: how many images were scored.
    :param top1: share of images whose most probable class is right.
    :param top5: share whose right class is among the five most probable
        (all classes when there are five or fewer).
    :param log_loss: mean negative log probability of the right class.
    :param per_class_accuracy: class name -> top-1 accuracy on that class's
        images (``nan`` for a class without images).
    :param confusion: ``[true, predicted]`` counts, ``int64 [C, C]``.
    :param most_confused: the largest off-diagonal cells, largest first.
    :param predicted: the predicted label of each image.
    :param probabilities: the probabilities scored, ``[N, C]``.
    :param labels: the true label of each image.
    """

    classes: tuple[str, ...]
    num_images: int
    top1: float
    top5: float
    log_loss: float
    per_class_accuracy: dict[str, float]
    confusion: npt.NDArray[np.int64]
    most_confused: tuple[ConfusedPair, ...]
    predicted: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy (:attr:`top1`), under the name training logs it (``accuracy``)."""
        return self.top1

    def __repr__(self) -> str:
        # Arrays of every prediction make a useless repr; name the figures.
        return (
            f"ClassificationMetrics(num_images={self.num_images}, accuracy={self.top1:.4f}, "
            f"top5={self.top5:.4f}, log_loss={self.log_loss:.4f})"
        )

    @property
    def top5_accuracy(self) -> float:
        """:attr:`top5`, under the name training logs it (``top5_accuracy``)."""
        return self.top5

    def top_k(self, k: int) -> float:
        """Share of images whose right class is among the ``k`` most probable.

        :param k: how many guesses count.
        :returns: the top-``k`` accuracy.
        """
        return _top_k(self.probabilities, self.labels, k)

    def to_dict(self) -> dict[str, Any]:
        """The metrics as plain JSON-ready values (without the per-image arrays)."""
        return {
            "num_images": self.num_images,
            "top1": self.top1,
            "top5": self.top5,
            "log_loss": self.log_loss,
            "per_class_accuracy": {
                name: (None if np.isnan(value) else value)
                for name, value in self.per_class_accuracy.items()
            },
            "most_confused": [attrs.asdict(pair) for pair in self.most_confused],
            "confusion_matrix": self.confusion.tolist(),
        }


def compute_metrics(
    probabilities: npt.ArrayLike,
    labels: Sequence[int] | npt.ArrayLike,
    classes: Sequence[str],
    *,
    most_confused: int = 20,
) -> ClassificationMetrics:
    """Score predicted probabilities against true labels.

    :param probabilities: ``[N, C]``, one row per image.
    :param labels: ``N`` integer labels in ``[0, C)``.
    :param classes: the ``C`` class names.
    :param most_confused: how many confused pairs to keep.
    :returns: the :class:`ClassificationMetrics`.
    :raises ValueError: shapes that do not agree, or a label out of range.
    """
    probs = np.asarray(probabilities, dtype=np.float32)
    truth = np.asarray(labels, dtype=np.int64).reshape(-1)
    classes = tuple(classes)
    if probs.ndim != 2 or probs.shape[1] != len(classes) or probs.shape[0] != truth.shape[0]:
        raise ValueError(
            f"probabilities {probs.shape} do not fit {truth.shape[0]} labels and "
            f"{len(classes)} classes"
        )
    if truth.size and (truth.min() < 0 or truth.max() >= len(classes)):
        raise ValueError(
            f"labels must lie in [0, {len(classes)}); got {truth.min()}..{truth.max()}"
        )
    predicted = probs.argmax(axis=1).astype(np.int64) if truth.size else truth.copy()
    matrix = confusion_matrix(truth, predicted, len(classes))
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(matrix) / support
    picked = probs[np.arange(truth.size), truth] if truth.size else np.zeros(0)
    return ClassificationMetrics(
        classes=classes,
        num_images=int(truth.size),
        top1=float((predicted == truth).mean()) if truth.size else float("nan"),
        top5=_top_k(probs, truth, 5),
        log_loss=float(-np.log(np.clip(picked, EPSILON, 1.0)).mean())
        if truth.size
        else float("nan"),
        per_class_accuracy={name: float(per_class[i]) for i, name in enumerate(classes)},
        confusion=matrix,
        most_confused=_most_confused(matrix, classes, most_confused),
        predicted=predicted,
        probabilities=probs,
        labels=truth,
    )


def confusion_matrix(
    labels: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], num_classes: int
) -> npt.NDArray[np.int64]:
    """Counts of ``[true, predicted]`` label pairs.

    :param labels: true labels.
    :param predicted: predicted labels.
    :param num_classes: ``C``.
    :returns: ``int64 [C, C]``.
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def _top_k(probs: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], k: int) -> float:
    if labels.size == 0:
        return float("nan")
    k = min(k, probs.shape[1])
    # Ranking by "how many classes score strictly higher" avoids a full sort
    # of [N, C]; a tie with the right class counts in the model's favour.
    right = probs[np.arange(labels.size), labels][:, None]
    higher = (probs > right).sum(axis=1)
    return float((higher < k).mean())


def _most_confused(
    matrix: npt.NDArray[np.int64], classes: tuple[str, ...], limit: int
) -> tuple[ConfusedPair, ...]:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    support = matrix.sum(axis=1)
    order = np.argsort(-off, axis=None, kind="stable")[:limit]
    pairs = []
    for flat in order:
        true, pred = divmod(int(flat), len(classes))
        count = int(off[true, pred])
        if count == 0:
            break
        pairs.append(ConfusedPair(classes[true], classes[pred], count, count / int(support[true])))
    return tuple(pairs)
