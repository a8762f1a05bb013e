"""Learning-rate schedules and the one-cycle momentum, as Keras serializables.

Three schedules, chosen by :attr:`TrainingConfig.schedule
<food_recognition.config.TrainingConfig.schedule>`:

- ``one_cycle`` (:class:`OneCycle`): the reference project's policy (Smith,
  2018; fastai's shape): the rate rises from ``peak / div_factor`` to the peak
  over the warm-up share of the steps, then anneals along a cosine to
  ``peak / (div_factor * final_div_factor)``; the optimizer's momentum moves
  the opposite way (:func:`one_cycle_momentum`, applied by
  :class:`food_recognition.training.callbacks.CyclicalMomentum`).
- ``cosine`` (:class:`WarmupCosine`): linear warm-up to the peak, then a cosine
  decay to zero.
- ``constant`` (:class:`Constant`).

Each is a ``keras.optimizers.schedules.LearningRateSchedule`` registered with
Keras, so a saved optimizer config loads back without custom code.

>>> schedule = OneCycle(0.01, total_steps=100, warmup_fraction=0.3)
>>> round(float(schedule(30)), 6)
0.01
>>> round(one_cycle_momentum(30, 100, 0.3, 0.95, 0.85), 6)
0.85
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from food_recognition.config import TrainingConfig

__all__ = [
    "Constant",
    "OneCycle",
    "WarmupCosine",
    "make_schedule",
    "one_cycle_momentum",
]

_PACKAGE = "food_recognition"


def _cosine(start: Any, end: Any, fraction: Any) -> Any:
    # Half a cosine from start (fraction 0) to end (fraction 1).
    return end + (start - end) * 0.5 * (1.0 + ops.cos(math.pi * fraction))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """The one-cycle learning rate.

    :param max_learning_rate: the peak rate.
    :param total_steps: optimizer steps of the whole cycle.
    :param warmup_fraction: share of the steps spent rising to the peak.
    :param div_factor: the start rate is ``max_learning_rate / div_factor``.
    :param final_div_factor: the end rate is the start rate divided by this.
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        warmup_fraction: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
    ) -> None:
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        peak = self.max_learning_rate
        start = peak / self.div_factor
        end = start / self.final_div_factor
        warmup = max(1.0, self.warmup_fraction * self.total_steps)
        decay = max(1.0, self.total_steps - warmup)
        rising = _cosine(start, peak, ops.clip(step / warmup, 0.0, 1.0))
        falling = _cosine(peak, end, ops.clip((step - warmup) / decay, 0.0, 1.0))
        return ops.where(step < warmup, rising, falling)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras serialization)."""
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """Linear warm-up from zero to the peak, then a cosine decay to zero.

    :param max_learning_rate: the peak rate.
    :param total_steps: optimizer steps of the whole schedule.
    :param warmup_fraction: share of the steps spent warming up.
    """

    def __init__(self, max_learning_rate: float, total_steps: int, warmup_fraction: float = 0.1):
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        peak = self.max_learning_rate
        warmup = self.warmup_fraction * self.total_steps
        decay = max(1.0, self.total_steps - warmup)
        rising = peak * (step + 1.0) / max(1.0, warmup)
        falling = _cosine(peak, 0.0, ops.clip((step - warmup) / decay, 0.0, 1.0))
        return ops.where(step < warmup, ops.minimum(rising, peak), falling)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras serialization)."""
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Constant(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """The same rate at every step.

    :param learning_rate: the rate.
    """

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def __call__(self, step: Any) -> Any:
        return ops.cast(self.learning_rate, "float32") + 0.0 * ops.cast(step, "float32")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras serialization)."""
        return {"learning_rate": self.learning_rate}


def make_schedule(
    config: TrainingConfig, total_steps: int
) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule ``config.schedule`` names, spanning ``total_steps`` optimizer steps.

    :param config: the training config (schedule, learning rate, warm-up share).
    :param total_steps: optimizer steps of the phase the schedule drives.
    :returns: a registered Keras learning-rate schedule.
    :raises ValueError: ``total_steps`` is not positive.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps} must be at least 1")
    if config.schedule == "one_cycle":
        return OneCycle(config.learning_rate, total_steps, config.warmup_fraction)
    if config.schedule == "cosine":
        return WarmupCosine(config.learning_rate, total_steps, config.warmup_fraction)
    return Constant(config.learning_rate)


def one_cycle_momentum(
    step: int, total_steps: int, warmup_fraction: float, momentum_max: float, momentum_min: float
) -> float:
    """The one-cycle momentum at ``step``: high when the rate is low, and back.

    It falls from ``momentum_max`` to ``momentum_min`` while the rate rises and
    climbs back while it anneals, along the same cosine as :class:`OneCycle`.

    :param step: the optimizer step (0-based).
    :param total_steps: optimizer steps of the cycle.
    :param warmup_fraction: share of the steps the rate rises.
    :param momentum_max: momentum at the start and the end.
    :param momentum_min: momentum at the learning-rate peak.
    :returns: the momentum (Adam's ``beta_1`` or SGD's ``momentum``).
    """
    warmup = max(1.0, warmup_fraction * total_steps)
    decay = max(1.0, total_steps - warmup)

    def cosine(start: float, end: float, fraction: float) -> float:
        fraction = min(1.0, max(0.0, fraction))
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))

    if step < warmup:
        return cosine(momentum_max, momentum_min, step / warmup)
    return cosine(momentum_min, momentum_max, (step - warmup) / decay)
