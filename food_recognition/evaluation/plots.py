"""Evaluation plots as PNG files (matplotlib, no display needed).

Each function draws one figure into a file and returns its path. They use
``matplotlib.figure.Figure`` directly rather than ``pyplot``, so no global
state or interactive backend is involved and they are safe in a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from food_recognition.evaluation.metrics import ClassificationMetrics, ConfusedPair

__all__ = [
    "Mistake",
    "plot_confusion_matrix",
    "plot_most_confused",
    "plot_per_class_accuracy",
    "plot_training_curves",
    "plot_worst_mistakes",
]

#: Up to this many classes the confusion matrix shows every cell with its value.
SMALL_MATRIX = 20
_DPI = 110


@attrs.define(frozen=True)
class Mistake:
    """A wrongly classified image.

    :param path: the image file.
    :param true_label: its class's readable name.
    :param predicted_label: the predicted class's readable name.
    :param confidence: the probability given to the predicted class.
    """

    path: str
    true_label: str
    predicted_label: str
    confidence: float


def plot_confusion_matrix(
    metrics: ClassificationMetrics, path: str | Path, *, labels: Sequence[str] | None = None
) -> Path:
    """Draw the row-normalized confusion matrix.

    Rows and columns are sorted by per-class accuracy, worst first, and each
    row label carries its accuracy. Up to :data:`SMALL_MATRIX` classes every
    cell is annotated. With more (Food-101 has 101) the diagonal is hidden so
    the colour scale spends itself on the confusions, and only the largest
    confusions are annotated.

    :param metrics: the scored predictions.
    :param path: the PNG file to write.
    :param labels: readable class names; the class names by default.
    :returns: ``path``.
    """
    from matplotlib.figure import Figure

    names = list(labels or metrics.classes)
    count = len(names)
    support = metrics.confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(support > 0, metrics.confusion / np.maximum(support, 1), np.nan)
    accuracy = np.array([metrics.per_class_accuracy[c] for c in metrics.classes])
    order = np.argsort(np.nan_to_num(accuracy, nan=-1.0), kind="stable")
    rates = rates[np.ix_(order, order)]
    small = count <= SMALL_MATRIX
    side = max(6.0, 0.19 * count + 3.0)
    font = 8 if small else max(4.0, min(7.0, 700 / count / 1.4))
    figure = Figure(figsize=(side + 1.5, side), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    shown = rates.copy()
    if not small:
        np.fill_diagonal(shown, np.nan)
    vmax = float(np.nanmax(shown)) if np.isfinite(shown).any() else 1.0
    from matplotlib.colors import Normalize, PowerNorm

    # A square-root scale keeps 5% confusions visible next to a 70% one.
    top = max(vmax, 1e-9)
    norm = Normalize(0.0, top) if small else PowerNorm(gamma=0.5, vmin=0.0, vmax=top)
    cmap = _cmap("Blues" if small else "Reds")
    image = axes.imshow(shown, cmap=cmap, norm=norm, aspect="equal")
    ticks = np.arange(count)
    row_names = [f"{names[i]} ({_pct(accuracy[i])})" for i in order]
    axes.set_yticks(ticks, row_names, fontsize=font)
    axes.set_xticks(ticks, [names[i] for i in order], fontsize=font, rotation=90)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class (accuracy)")
    if small:
        title = "Confusion matrix (share of each true class)"
        cells = [(r, c) for r in range(count) for c in range(count) if rates[r, c] > 0]
    else:
        title = (
            "Confusions (share of each true class; diagonal hidden, grey).\n"
            "Classes sorted by accuracy, worst first; the 25 largest confusions annotated."
        )
        flat = np.argsort(-np.nan_to_num(shown, nan=0.0), axis=None)[:25]
        cells = [divmod(int(i), count) for i in flat if np.nan_to_num(shown.flat[i]) > 0]
    for row, col in cells:
        value = rates[row, col]
        dark = value > (0.6 if small else 0.35) * vmax
        axes.text(
            col,
            row,
            f"{100 * value:.0f}",
            ha="center",
            va="center",
            fontsize=font if small else max(font, 6.0),
            color="white" if dark else "black",
        )
    axes.set_title(title, fontsize=11)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.6)
    colorbar.set_label("share of the true class's images")
    return _save(figure, path)


def plot_most_confused(
    pairs: Sequence[ConfusedPair],
    path: str | Path,
    *,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Draw the most-confused class pairs as horizontal bars.

    :param pairs: from :attr:`ClassificationMetrics.most_confused`, largest first.
    :param path: the PNG file to write.
    :param labels: class name -> readable name.
    :returns: ``path``.
    """
    from matplotlib.figure import Figure

    labels = labels or {}
    figure = Figure(figsize=(9, max(2.5, 0.34 * len(pairs) + 1.3)), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    if not pairs:
        axes.text(0.5, 0.5, "no confusions: every image was right", ha="center", va="center")
        axes.set_axis_off()
        return _save(figure, path)
    names = [
        f"{labels.get(p.true_class, p.true_class)} \u2192 "
        f"{labels.get(p.predicted_class, p.predicted_class)}"
        for p in pairs
    ]
    rates = [100 * p.rate for p in pairs]
    positions = np.arange(len(pairs))
    axes.barh(positions, rates, color="#c0392b")
    axes.set_yticks(positions, names, fontsize=9)
    axes.invert_yaxis()
    for position, pair, rate in zip(positions, pairs, rates, strict=True):
        axes.text(rate, float(position), f" {pair.count} images", va="center", fontsize=8)
    axes.set_xlim(0, max(rates) * 1.25)
    axes.set_xlabel("% of the true class's images predicted as the other class")
    axes.set_title("Most-confused pairs (true \u2192 predicted)")
    return _save(figure, path)


def plot_per_class_accuracy(
    metrics: ClassificationMetrics, path: str | Path, *, labels: Sequence[str] | None = None
) -> Path:
    """Draw every class's top-1 accuracy as a sorted bar chart, worst at the top.

    :param metrics: the scored predictions.
    :param path: the PNG file to write.
    :param labels: readable class names; the class names by default.
    :returns: ``path``.
    """
    from matplotlib.figure import Figure

    names = list(labels or metrics.classes)
    accuracy = np.array([metrics.per_class_accuracy[c] for c in metrics.classes])
    order = np.argsort(np.nan_to_num(accuracy, nan=-1.0), kind="stable")
    count = len(names)
    font = 8 if count <= 40 else 6
    figure = Figure(figsize=(8, max(3.0, 0.15 * count + 1.5)), dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(count)
    values = 100 * np.nan_to_num(accuracy[order])
    axes.barh(positions, values, color=_cmap("RdYlGn")(values / 100.0))
    axes.set_yticks(positions, [names[i] for i in order], fontsize=font)
    axes.invert_yaxis()
    axes.set_ylim(count - 0.5, -0.5)
    axes.axvline(
        100 * metrics.top1,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"overall top-1 {100 * metrics.top1:.1f}%",
    )
    axes.legend(loc="upper right", fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("top-1 accuracy (%)")
    axes.set_title("Accuracy per class, worst first")
    return _save(figure, path)


def plot_worst_mistakes(
    mistakes: Sequence[Mistake], path: str | Path, *, columns: int = 4, thumbnail: int = 160
) -> Path:
    """Draw the most confident wrong predictions as an image grid.

    :param mistakes: largest confidence first.
    :param path: the PNG file to write.
    :param columns: images per row.
    :param thumbnail: the longest side each image is shown at, in pixels.
    :returns: ``path``.
    """
    from matplotlib.figure import Figure

    rows = max(1, -(-len(mistakes) // columns))
    figure = Figure(figsize=(3.0 * columns, 3.3 * rows + 0.6), dpi=_DPI, layout="constrained")
    figure.suptitle("Most confident mistakes (red: predicted, green: true class)")
    if not mistakes:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        axes.set_axis_off()
        return _save(figure, path)
    grid = figure.subplots(rows, columns, squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(mistakes):
            axes.set_axis_off()
            continue
        mistake = mistakes[index]
        axes.imshow(_thumbnail(mistake.path, thumbnail))
        axes.set_title(
            f"{mistake.predicted_label} ({100 * mistake.confidence:.0f}%)",
            color="#c0392b",
            fontsize=9,
        )
        # An x label (not free text) so the constrained layout leaves room for it
        # and the caption never runs into the next row's title.
        axes.set_xticks([])
        axes.set_yticks([])
        for spine in axes.spines.values():
            spine.set_visible(False)
        axes.set_xlabel(
            f"true: {mistake.true_label}\n{Path(mistake.path).name}", fontsize=8, color="#1e8449"
        )
    return _save(figure, path)


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Draw training curves: one panel per metric, training and validation together.

    :param history: metric name -> one value per epoch, as Keras's
        ``History.history`` (``loss``, ``val_loss``, ``accuracy``, ...).
    :param path: the PNG file to write.
    :returns: ``path``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    bases = []
    for name in history:
        base = name.removeprefix("val_")
        if base not in bases:
            bases.append(base)
    preferred = ["loss", "accuracy", "top5_accuracy", "learning_rate"]
    bases.sort(key=lambda b: (preferred.index(b) if b in preferred else len(preferred), b))
    columns = min(2, max(1, len(bases)))
    rows = max(1, -(-len(bases) // columns))
    figure = Figure(figsize=(6.0 * columns, 3.6 * rows), dpi=_DPI, layout="constrained")
    figure.suptitle("Training curves")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(bases) :]:
        axes.set_axis_off()
    for axes, base in zip(grid.flat, bases, strict=False):
        for name, label, style in ((base, "training", "-"), (f"val_{base}", "validation", "--")):
            values = history.get(name)
            if values:
                epochs = np.arange(1, len(values) + 1)
                axes.plot(epochs, values, style, marker="o", markersize=3, label=label)
        axes.set_title(base.replace("_", " "))
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        if base == "learning_rate":
            axes.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            axes.legend(fontsize=8)
    return _save(figure, path)


# -- helpers -------------------------------------------------------------------


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#d9d9d9")


def _pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:.0f}%"


def _thumbnail(path: str, size: int) -> npt.NDArray[np.uint8]:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
            image.thumbnail((size, size))
            return np.asarray(image)
    except (OSError, ValueError):
        # The grid is a report; one unreadable file should not lose the rest.
        return np.full((size, size, 3), 200, np.uint8)


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
