"""Evaluate a model package on a split, with and without test-time augmentation."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from food_recognition.config import TTAConfig, to_dict
from food_recognition.errors import TrainingError
from food_recognition.evaluation.metrics import ClassificationMetrics, compute_metrics
from food_recognition.evaluation.plots import (
    Mistake,
    plot_confusion_matrix,
    plot_most_confused,
    plot_per_class_accuracy,
    plot_training_curves,
    plot_worst_mistakes,
)

if TYPE_CHECKING:
    from food_recognition.datasets.splits import Split
    from food_recognition.package import ModelPackage

__all__ = ["EvaluationError", "EvaluationReport", "evaluate", "worst_mistakes", "write_plots"]

logger = logging.getLogger(__name__)


class EvaluationError(TrainingError, ValueError):
    """A split cannot be evaluated with a package (classes that do not match, no images)."""


@attrs.define(frozen=True, eq=False, repr=False)
class EvaluationReport:
    """What :func:`evaluate` measured.

    ``print(report)`` shows :meth:`summary`, the table of both columns;
    ``report.final.accuracy`` is the top-1 accuracy serving would see;
    :meth:`to_dict` has everything as JSON-ready values.

    :param split: the split's name (``"test"``, ``"validation"``, ...).
    :param num_images: how many images were scored.
    :param metrics: single-view metrics.
    :param seconds_per_image: single-view prediction time per image (one-time
        graph tracing excluded).
    :param tta: the TTA configuration evaluated, or ``None``.
    :param tta_metrics: metrics with TTA, or ``None``.
    :param tta_seconds_per_image: TTA prediction time per image, or ``None``.
    :param tta_extra_view_images: how many images took the extra views
        (fewer than all under adaptive TTA), or ``None``.
    :param tta_views_per_image: images the model ran on with TTA, per input
        image (the policy's views; fewer under adaptive TTA), or ``None``;
        ``tta_seconds_per_image`` is the time of all of them.
    :param worst_mistakes: the most confident wrong predictions, most confident first.
    :param plots: the PNG files written, by name (``"confusion_matrix"`` -> path).
    :param undecodable: images left out because TensorFlow could not decode them
        (their headers passed the index scan), with its message.
    """

    split: str
    num_images: int
    metrics: ClassificationMetrics
    seconds_per_image: float
    tta: TTAConfig | None = None
    tta_metrics: ClassificationMetrics | None = None
    tta_seconds_per_image: float | None = None
    tta_extra_view_images: int | None = None
    tta_views_per_image: float | None = None
    worst_mistakes: tuple[Mistake, ...] = ()
    plots: dict[str, Path] = attrs.field(factory=dict)
    undecodable: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        # The metrics hold [N, C] arrays: a repr names the figures, not the arrays.
        parts = [
            f"split={self.split!r}",
            f"num_images={self.num_images}",
            f"accuracy={self.metrics.accuracy:.4f}",
        ]
        if self.tta is not None and self.tta_metrics is not None:
            parts += [f"tta={self.tta.policy!r}", f"tta_accuracy={self.tta_metrics.accuracy:.4f}"]
        return f"EvaluationReport({', '.join(parts)})"

    @property
    def final(self) -> ClassificationMetrics:
        """The metrics serving would see: with TTA when evaluated, else single-view."""
        return self.tta_metrics or self.metrics

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (what ``evaluation.json`` holds)."""
        return {
            "split": self.split,
            "num_images": self.num_images,
            "seconds_per_image": self.seconds_per_image,
            "metrics": self.metrics.to_dict(),
            "tta": to_dict(self.tta) if self.tta is not None else None,
            "tta_metrics": self.tta_metrics.to_dict() if self.tta_metrics else None,
            "tta_seconds_per_image": self.tta_seconds_per_image,
            "tta_extra_view_images": self.tta_extra_view_images,
            "tta_views_per_image": self.tta_views_per_image,
            "worst_mistakes": [attrs.asdict(m) for m in self.worst_mistakes],
            "plots": {name: path.name for name, path in self.plots.items()},
            "undecodable": [{"path": p, "reason": r} for p, r in self.undecodable],
        }

    def summary(self) -> str:
        """A small table: single-view and TTA metrics side by side."""
        columns: list[tuple[str, ClassificationMetrics, tuple[float | None, float | None]]] = [
            ("single view", self.metrics, (self.seconds_per_image, 1.0))
        ]
        if self.tta_metrics is not None and self.tta is not None:
            cost = (self.tta_seconds_per_image, self.tta_views_per_image)
            columns.append((f"TTA {self.tta.policy}", self.tta_metrics, cost))
        width = max(len(name) for name, _, _ in columns) + 2
        lines = [
            f"{self.split}: {self.num_images} images",
            f"{'':<18}" + "".join(f"{name:>{width}}" for name, _, _ in columns),
        ]
        rows: list[tuple[str, Any]] = [
            ("top-1 accuracy", lambda m, s: f"{100 * m.top1:.2f}%"),
            ("top-5 accuracy", lambda m, s: f"{100 * m.top5:.2f}%"),
            ("log loss", lambda m, s: f"{m.log_loss:.4f}"),
            ("views per image", lambda m, s: "n/a" if s[1] is None else f"{s[1]:.2f}"),
            ("ms per image", lambda m, s: "n/a" if s[0] is None else f"{1000 * s[0]:.2f}"),
        ]
        for label, cell in rows:
            lines.append(f"{label:<18}" + "".join(f"{cell(m, s):>{width}}" for _, m, s in columns))
        if self.tta_extra_view_images is not None and self.tta is not None:
            lines.append(
                f"TTA views taken by {self.tta_extra_view_images} of {self.num_images} images"
            )
        if self.undecodable:
            lines.append(f"left out {len(self.undecodable)} image(s) TensorFlow cannot decode:")
            lines += [f"  {path}: {reason}" for path, reason in self.undecodable]
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON.

        :param path: the file, usually ``<package>/evaluation.json``.
        :returns: the path written.
        """
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def evaluate(
    package: ModelPackage,
    split: Split,
    *,
    batch_size: int = 32,
    tta: TTAConfig | None = None,
    plots_dir: str | Path | None = None,
    save: bool = False,
    split_name: str = "test",
    num_mistakes: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Score a model package on a split: accuracy, top-5, log loss, per class, speed.

    Images go through :func:`~food_recognition.datasets.pipeline.eval_dataset`
    (the resize and centre crop serving uses) one batch at a time, so a split
    of any size fits in memory. With ``tta`` every batch is also predicted
    with :func:`~food_recognition.tta.predict_with_tta`, and the report holds
    both columns. The split's class names must be the package's classes (in
    any order; labels are mapped by name). An image TensorFlow cannot decode
    (the index scan checks headers and file ends only) is left out, with a
    warning, and listed in the report's ``undecodable``.

    :param package: a loaded :class:`~food_recognition.package.ModelPackage`.
    :param split: the images and labels.
    :param batch_size: images per forward pass.
    :param tta: also evaluate with this TTA configuration.
    :param plots_dir: write the plots (confusion matrix, most-confused pairs,
        per-class accuracy, worst mistakes, training curves when the package
        has a history) as PNG files here. They show the TTA predictions when
        ``tta`` is given.
    :param save: write ``evaluation.json`` into the package folder, and the
        plots into its ``plots/`` folder unless ``plots_dir`` says otherwise.
    :param split_name: the split's name in the report.
    :param num_mistakes: how many of the worst mistakes to keep and draw.
    :param progress: called with ``(images done, images in all)`` after each
        batch (the CLI draws a progress line with it on a terminal).
    :returns: the :class:`EvaluationReport`.
    :raises EvaluationError: an empty split, or a class the package does not know.
    """
    from food_recognition.package import EVALUATION_FILE, PLOTS_DIR

    labels = _labels_for(package, split)
    undecodable: list[tuple[str, str]] = []
    try:
        probabilities, seconds, tta_result = _predict(package, split, batch_size, tta, progress)
    except _decode_error() as error:
        # Rare (the scan passed the header and the end): find the files, leave them out.
        from food_recognition.datasets.pipeline import find_undecodable

        undecodable = find_undecodable(split.paths)
        if not undecodable:
            raise
        logger.warning(
            "left out %d image(s) TensorFlow cannot decode: %s",
            len(undecodable),
            ", ".join(path for path, _ in undecodable),
        )
        split = _without(split, {path for path, _ in undecodable})
        labels = _labels_for(package, split)
        probabilities, seconds, tta_result = _predict(package, split, batch_size, tta, progress)
        logger.debug("the first decode error was: %s", error)
    metrics = compute_metrics(probabilities, labels, package.classes)
    tta_metrics = None
    if tta_result is not None:
        tta_metrics = compute_metrics(tta_result[0], labels, package.classes)
    final = tta_metrics or metrics
    mistakes = worst_mistakes(final, split.paths, package.human_labels, limit=num_mistakes)
    report = EvaluationReport(
        split=split_name,
        num_images=len(labels),
        metrics=metrics,
        seconds_per_image=seconds / len(labels),
        tta=tta,
        tta_metrics=tta_metrics,
        tta_seconds_per_image=None if tta_result is None else tta_result[1] / len(labels),
        tta_extra_view_images=None if tta_result is None else tta_result[2],
        tta_views_per_image=None if tta_result is None else tta_result[3] / len(labels),
        worst_mistakes=mistakes,
        undecodable=tuple(undecodable),
    )
    if plots_dir is None and save:
        plots_dir = package.path / PLOTS_DIR
    if plots_dir is not None:
        report.plots.update(write_plots(report, package, plots_dir))
    if save:
        report.save(package.path / EVALUATION_FILE)
    return report


def write_plots(
    report: EvaluationReport, package: ModelPackage, plots_dir: str | Path
) -> dict[str, Path]:
    """Draw every evaluation plot of a report into a folder.

    :param report: from :func:`evaluate`.
    :param package: the package evaluated (its labels and training history).
    :param plots_dir: the folder (created if missing).
    :returns: plot name -> PNG path.
    """
    folder = Path(plots_dir)
    final = report.final
    labels = package.human_labels
    by_class = dict(zip(package.classes, labels, strict=True))
    plots = {
        "confusion_matrix": plot_confusion_matrix(
            final, folder / "confusion_matrix.png", labels=labels
        ),
        "most_confused": plot_most_confused(
            final.most_confused, folder / "most_confused.png", labels=by_class
        ),
        "per_class_accuracy": plot_per_class_accuracy(
            final, folder / "per_class_accuracy.png", labels=labels
        ),
        "worst_mistakes": plot_worst_mistakes(report.worst_mistakes, folder / "worst_mistakes.png"),
    }
    if package.history:
        plots["training_curves"] = plot_training_curves(
            package.history, folder / "training_curves.png"
        )
    return plots


def worst_mistakes(
    metrics: ClassificationMetrics,
    paths: tuple[str, ...],
    labels: tuple[str, ...],
    *,
    limit: int = 16,
) -> tuple[Mistake, ...]:
    """The wrong predictions made with the highest confidence.

    :param metrics: scored predictions.
    :param paths: the image file of each prediction.
    :param labels: readable class names.
    :param limit: how many to return.
    :returns: most confident first.
    """
    wrong = np.flatnonzero(metrics.predicted != metrics.labels)
    confidence = metrics.probabilities[wrong, metrics.predicted[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return tuple(
        Mistake(
            path=paths[i],
            true_label=labels[metrics.labels[i]],
            predicted_label=labels[metrics.predicted[i]],
            confidence=float(metrics.probabilities[i, metrics.predicted[i]]),
        )
        for i in order
    )


# -- helpers -------------------------------------------------------------------


def _decode_error() -> type[Exception]:
    import tensorflow as tf

    return tf.errors.InvalidArgumentError  # type: ignore[no-any-return]


def _without(split: Split, paths: set[str]) -> Split:
    from food_recognition.datasets.splits import Split

    keep = [i for i, path in enumerate(split.paths) if path not in paths]
    return Split(
        tuple(split.paths[i] for i in keep), tuple(split.labels[i] for i in keep), split.classes
    )


def _labels_for(package: ModelPackage, split: Split) -> npt.NDArray[np.int64]:
    if len(split) == 0:
        raise EvaluationError("the split has no images to evaluate")
    if tuple(split.classes) == package.classes:
        return np.asarray(split.labels, dtype=np.int64)
    index = {name: i for i, name in enumerate(package.classes)}
    unknown = sorted({split.classes[label] for label in split.labels} - index.keys())
    if unknown:
        raise EvaluationError(
            f"the split has images of {len(unknown)} classes the package does not know "
            f"({', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}); evaluate on "
            f"data with the package's classes ({package.path})"
        )
    return np.asarray([index[split.classes[label]] for label in split.labels], dtype=np.int64)


# TTA probabilities, seconds, images that took the extra views, forward views in all.
_TTAColumn = tuple[npt.NDArray[np.float32], float, int, int]


def _predict(
    package: ModelPackage,
    split: Split,
    batch_size: int,
    tta: TTAConfig | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[npt.NDArray[np.float32], float, _TTAColumn | None]:
    from food_recognition.datasets.pipeline import eval_dataset

    # The package's own forward pass, the one classify and the scoring script use.
    predict = package.forward
    policy = None
    if tta is not None:
        from food_recognition.tta import predict_with_tta
        from food_recognition.tta.policies import get_tta_policy

        policy = get_tta_policy(tta)
    batches = eval_dataset(split, image_size=package.input_size, batch_size=batch_size)
    chunks: list[npt.NDArray[np.float32]] = []
    tta_chunks: list[npt.NDArray[np.float32]] = []
    seconds = tta_seconds = 0.0
    extra = forward = done = 0
    for index, (images, _) in enumerate(batches):
        pixels = np.asarray(images, dtype=np.float32)
        done += len(pixels)
        if index == 0:
            # Trace the prediction graphs outside the clock, at two batch sizes: a
            # graph traced on first use inside the single-view clock (the TTA views'
            # ops, or a forward pass at a new size) would make TTA look cheaper
            # than one view.
            for warm in (pixels, pixels[:1]):
                predict(warm)
                if tta is not None:
                    predict_with_tta(predict, warm, tta, batch_size=batch_size, policy=policy)
        start = time.perf_counter()
        chunks.append(np.asarray(predict(pixels), dtype=np.float32))
        seconds += time.perf_counter() - start
        if tta is not None:
            result = predict_with_tta(predict, pixels, tta, batch_size=batch_size, policy=policy)
            tta_chunks.append(np.asarray(result.probabilities, dtype=np.float32))
            tta_seconds += result.seconds
            extra += result.extra_view_images
            forward += result.forward_views
        if progress is not None:
            progress(min(len(split), done), len(split))
    probabilities = np.concatenate(chunks)
    if len(probabilities) != len(split):
        raise EvaluationError(
            f"the input pipeline gave {len(probabilities)} images for a split of {len(split)}"
        )
    logger.debug("evaluated %d images", len(probabilities))
    if tta is None:
        return probabilities, seconds, None
    return probabilities, seconds, (np.concatenate(tta_chunks), tta_seconds, extra, forward)
