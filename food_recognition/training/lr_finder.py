"""The learning-rate finder: sweep the rate, watch the loss, suggest a value.

:func:`find_learning_rate` trains a fresh model of the run's config for a few
hundred steps while the learning rate grows exponentially from ``min_lr`` to
``max_lr``, records the loss of every step, and stops once the loss diverges.
It reports fastai's three rules side by side (:func:`suggest_learning_rates`),
all read from the smoothed loss *before* its minimum (past it the loss is
already climbing, and a noisy dip there is no advice):

- ``valley`` (fastai's default, the suggestion): a point a half of the way
  down the longest stretch where the loss keeps falling;
- ``steep``: the steepest descent against ``log(lr)``;
- ``minimum``: the rate of the lowest loss, divided by 10.

The loss-against-rate plot, with the three marked, is saved as a PNG. The
model is thrown away; only the curve is kept.

>>> import math
>>> lrs = [10 ** (-6 + 5 * i / 99) for i in range(100)]
>>> losses = [2.0 - math.tanh(math.log10(lr) + 3) for lr in lrs]
>>> smoothed, suggested = suggest_learning_rate(lrs, losses, beta=0.0)
>>> 1e-4 < suggested < 2e-3
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import keras

from food_recognition.config import RunConfig

__all__ = [
    "LRFinderResult",
    "LRSuggestions",
    "find_learning_rate",
    "plot_lr_finder",
    "suggest_learning_rate",
    "suggest_learning_rates",
]

_log = logging.getLogger(__name__)


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(value) for value in values)


@attrs.define(frozen=True)
class LRSuggestions:
    """fastai's three learning-rate rules on one sweep.

    :param valley: halfway down the longest falling stretch (the suggestion).
    :param steep: the steepest descent before the minimum.
    :param minimum: the rate of the lowest smoothed loss, divided by 10.
    """

    valley: float
    steep: float
    minimum: float


@attrs.define(frozen=True)
class LRFinderResult:
    """The sweep's curve and the suggested learning rate.

    :param learning_rates: the rate of each recorded step.
    :param losses: the training loss of each step.
    :param smoothed: the losses smoothed (bias-corrected exponential average).
    :param suggested: the suggestion: ``suggestions.valley``.
    :param plot: the PNG of loss against rate, if one was written.
    :param suggestions: the three rules' rates.
    """

    learning_rates: tuple[float, ...] = attrs.field(converter=_floats)
    losses: tuple[float, ...] = attrs.field(converter=_floats)
    smoothed: tuple[float, ...] = attrs.field(converter=_floats)
    suggested: float
    plot: Path | None = None
    suggestions: LRSuggestions | None = None


def suggest_learning_rate(
    learning_rates: Sequence[float], losses: Sequence[float], *, beta: float = 0.9
) -> tuple[list[float], float]:
    """Smooth the losses and suggest a rate: fastai's ``valley``.

    See :func:`suggest_learning_rates` for the rules.

    :param learning_rates: the rate of each step, increasing.
    :param losses: the loss of each step.
    :param beta: the exponential smoothing factor (0 = no smoothing).
    :returns: ``(smoothed losses, suggested rate)``.
    :raises ValueError: fewer than 3 points, or lists of different lengths.
    """
    smoothed, suggestions = suggest_learning_rates(learning_rates, losses, beta=beta)
    return smoothed, suggestions.valley


def suggest_learning_rates(
    learning_rates: Sequence[float], losses: Sequence[float], *, beta: float = 0.9
) -> tuple[list[float], LRSuggestions]:
    """Smooth the losses and apply fastai's ``valley``, ``steep`` and ``minimum`` rules.

    Each looks only at the points up to the smoothed loss's minimum (and before
    it turns non-finite): after it the loss is climbing, and the old rule of
    searching up to four times the minimum picked noisy dips there (0.1 where
    the loss was rising, in a sweep whose good rates were near 1e-3).

    :param learning_rates: the rate of each step, increasing.
    :param losses: the loss of each step.
    :param beta: the exponential smoothing factor (0 = no smoothing).
    :returns: ``(smoothed losses, suggestions)``.
    :raises ValueError: fewer than 3 points, or lists of different lengths.
    """
    if len(learning_rates) != len(losses):
        raise ValueError(f"{len(learning_rates)} learning rates but {len(losses)} losses")
    if len(losses) < 3:
        raise ValueError(f"need at least 3 points to suggest a learning rate, got {len(losses)}")
    smoothed: list[float] = []
    average = 0.0
    for index, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**index))
    finite = len(smoothed)
    for index, value in enumerate(smoothed):
        if not math.isfinite(value):
            finite = index
            break
    finite = max(finite, 1)
    lowest = min(range(finite), key=smoothed.__getitem__)
    end = max(lowest + 1, min(3, finite))  # points [0, end): up to the minimum
    curve = smoothed[:end]
    rates = [float(rate) for rate in learning_rates[:end]]
    minimum = rates[lowest] / 10.0
    # steep: the steepest fall against log(lr), the noisy first tenth skipped.
    logs = [math.log10(rate) for rate in rates]
    start = min(len(smoothed) // 10, max(0, end - 2))
    first = max(1, start)
    slopes = [
        (curve[i] - curve[i - 1]) / ((logs[i] - logs[i - 1]) or 1e-12) for i in range(first, end)
    ]
    steep = rates[first + min(range(len(slopes)), key=slopes.__getitem__)] if slopes else rates[0]
    return smoothed, LRSuggestions(valley=_valley(rates, curve), steep=steep, minimum=minimum)


def _valley(rates: Sequence[float], losses: Sequence[float]) -> float:
    # fastai's valley: the longest decreasing subsequence of the loss, and the
    # point half-way along it (int(third) + int(third / 2) from its start).
    n = len(losses)
    longest = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[max_end] < longest[i]:
                max_end = i
                max_start = max_end - longest[max_end]
    sections = (max_end - max_start) / 3
    index = min(n - 1, max_start + int(sections) + int(sections / 2))
    return float(rates[index])


def find_learning_rate(
    run_config: RunConfig,
    output_dir: Path | str | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 200,
    data: Any = None,
    build_model: Callable[[Any, int], Any] | None = None,
) -> LRFinderResult:
    """Sweep the learning rate exponentially and suggest one.

    :param run_config: the run (data, model, augmentation, optimizer, loss).
    :param output_dir: where ``lr_finder.png`` goes; no plot when ``None``.
    :param min_lr: the first rate.
    :param max_lr: the last rate.
    :param steps: optimizer steps of the sweep (the training data repeats as needed).
    :param data: a :class:`~food_recognition.training.TrainingData`; read from
        ``run_config.data`` when ``None``.
    :param build_model: ``build_model(model_config, num_classes)``;
        :func:`food_recognition.models.build` by default.
    :returns: the curve and the suggestion.
    :raises ValueError: ``min_lr``/``max_lr``/``steps`` out of order, or the loss
        diverged too soon to suggest anything.
    """
    if not 0 < min_lr < max_lr:
        raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if steps < 10:
        raise ValueError(f"steps={steps}: sweep at least 10 steps (a few hundred is usual)")

    from food_recognition.training.loop import load_training_data
    from food_recognition.training.recipe import compile_model, precision_policy

    if build_model is None:
        from food_recognition.models import build

        build_model = build
    if data is None:
        from food_recognition.models import input_size_for

        data = load_training_data(
            run_config,
            image_size=input_size_for(run_config.model),
            batch_size=run_config.data.batch_size,
        )
    keras.utils.set_random_seed(run_config.training.seed)
    sweep = keras.optimizers.schedules.ExponentialDecay(
        min_lr, decay_steps=steps, decay_rate=max_lr / min_lr
    )
    recorder = _LossRecorder(sweep)
    with precision_policy(run_config.training):
        model = build_model(run_config.model, len(data.classes))
        compile_model(model, run_config.training, sweep, len(data.classes))
        model.fit(
            data.train.repeat(),
            epochs=1,
            steps_per_epoch=steps,
            callbacks=[recorder],
            verbose=0,
            shuffle=False,
        )
    if len(recorder.losses) < 3:
        raise ValueError(
            f"the loss diverged after {len(recorder.losses)} steps; lower max_lr={max_lr}"
        )
    smoothed, suggestions = suggest_learning_rates(recorder.rates, recorder.losses)
    plot = None
    if output_dir is not None:
        plot = plot_lr_finder(
            recorder.rates,
            recorder.losses,
            smoothed,
            suggestions.valley,
            Path(output_dir) / "lr_finder.png",
            suggestions=suggestions,
        )
    _log.info(
        "learning-rate finder: valley %.3g (suggested), steep %.3g, minimum/10 %.3g",
        suggestions.valley,
        suggestions.steep,
        suggestions.minimum,
    )
    return LRFinderResult(
        recorder.rates, recorder.losses, smoothed, suggestions.valley, plot, suggestions
    )


def plot_lr_finder(
    learning_rates: Sequence[float],
    losses: Sequence[float],
    smoothed: Sequence[float],
    suggested: float,
    path: Path,
    *,
    suggestions: LRSuggestions | None = None,
) -> Path:
    """Plot loss against learning rate (log axis) with the suggestions marked.

    :param learning_rates: the rate of each step.
    :param losses: the loss of each step.
    :param smoothed: the smoothed losses.
    :param suggested: the suggested rate.
    :param path: the PNG to write.
    :param suggestions: fastai's three rules, marked beside the suggestion.
    :returns: the PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(learning_rates, losses, color="0.75", linewidth=1, label="loss per step")
    axes.plot(learning_rates, smoothed, color="C0", linewidth=2, label="smoothed")
    axes.axvline(suggested, color="C3", linestyle="--", label=f"suggested {suggested:.2g}")
    if suggestions is not None:
        for value, name, colour in (
            (suggestions.steep, "steep", "C1"),
            (suggestions.minimum, "minimum / 10", "C2"),
        ):
            axes.axvline(value, color=colour, linestyle=":", label=f"{name} {value:.2g}")
    axes.set_xscale("log")
    finite = [v for v in smoothed if math.isfinite(v)]
    if finite:
        low, high = min(finite), min(max(finite), 4 * min(finite) + 1e-9)
        axes.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_title("Learning-rate finder")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


class _LossRecorder(keras.callbacks.Callback):  # type: ignore[misc]
    """Records each step's loss and rate; stops when the loss diverges."""

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = schedule
        self.rates: list[float] = []
        self.losses: list[float] = []
        self._previous_mean = 0.0
        self._best = math.inf

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # Keras logs the running mean of the epoch; undo it to get this step's loss.
        mean = float((logs or {}).get("loss", math.nan))
        loss = mean * (batch + 1) - self._previous_mean * batch
        self._previous_mean = mean
        if not math.isfinite(loss) or (self.losses and loss > 4 * self._best and batch > 10):
            self.model.stop_training = True
            return
        self._best = min(self._best, loss)
        self.rates.append(float(self.schedule(batch)))
        self.losses.append(loss)
