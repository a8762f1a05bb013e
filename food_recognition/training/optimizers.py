"""The recipe's optimizers: Keras's AdamW, Adam and SGD with three changes.

- **Per-variable learning rates** (fastai's discriminative rates): each
  trainable variable's step is scaled by a factor given when the optimizer is
  made (:func:`discriminative_factors` gives the backbone a fraction of the
  head's rate), the weight decay of that variable included.
- **Weight decay on matrices and kernels only**: every variable of one
  dimension or fewer (biases, batch-norm and layer-norm scales and offsets,
  ConvNeXt's layer-scale vectors) is left alone, whatever its name; Keras's
  own exclusion goes by name and misses the layer scales. The decay is
  decoupled, ``var -= var * weight_decay * rate``, as PyTorch's and fastai's.
- **EMA warm-up**: the weight average's momentum at step ``t`` is
  ``min(ema_momentum, (1 + t) / (10 + t))`` (TensorFlow's
  ``ExponentialMovingAverage(num_updates=...)``), so a short run's average is
  not stuck near the initial weights; Keras uses ``ema_momentum`` from the
  first step.

The classes are registered with Keras, so a saved optimizer config loads back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "RecipeAdam",
    "RecipeAdamW",
    "RecipeSGD",
    "discriminative_factors",
    "ema_momentum_at",
]

_PACKAGE = "food_recognition"


def ema_momentum_at(step: int, ema_momentum: float) -> float:
    """The EMA momentum applied at optimizer step ``step`` (0-based), with warm-up.

    >>> ema_momentum_at(0, 0.999), round(ema_momentum_at(10, 0.999), 4)
    (0.0, 0.55)
    >>> ema_momentum_at(100_000, 0.999)
    0.999

    :param step: the optimizer's step counter before the update.
    :param ema_momentum: the configured momentum (the ceiling).
    :returns: the momentum; 0 at the first step (the average starts as the weights).
    """
    if step == 0:
        return 0.0
    return min(ema_momentum, (1.0 + step) / (10.0 + step))


def discriminative_factors(backbone_variables: Sequence[Any], ratio: float) -> dict[int, float]:
    """Learning-rate factors for fastai's ``slice(lr * ratio, lr)`` over a backbone.

    fastai splits a pretrained body in two groups and spreads the rates
    geometrically: the first half of the backbone trains at ``ratio`` times
    the head's rate, the second half at ``sqrt(ratio)`` times, the head at 1.

    :param backbone_variables: the backbone's variables, input side first.
    :param ratio: the first group's share of the head's rate (1 turns it off).
    :returns: ``id(variable) -> factor`` for the backbone's variables.
    """
    if ratio == 1.0:
        return {}
    middle = len(backbone_variables) // 2
    return {
        id(variable): ratio if index < middle else ratio**0.5
        for index, variable in enumerate(backbone_variables)
    }


class _RecipeMixin:
    """The three changes, over a Keras optimizer class (see the module docstring)."""

    def _recipe_init(
        self, weight_decay: float | None, lr_factors: Mapping[int, float] | None
    ) -> None:
        self._decoupled_decay = float(weight_decay or 0.0)
        self._lr_factor_by_id = dict(lr_factors or {})
        self._lr_factors: list[float] = []
        self._decays: list[bool] = []

    def build(self, variables: Sequence[Any]) -> None:
        super().build(variables)  # type: ignore[misc]
        self._lr_factors = [self._lr_factor_by_id.get(id(v), 1.0) for v in variables]
        self._decays = [len(v.shape) > 1 for v in variables]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = self._get_variable_index(variable)  # type: ignore[attr-defined]
        factor = self._lr_factors[index] if self._lr_factors else 1.0
        rate = learning_rate if factor == 1.0 else learning_rate * factor
        if self._decoupled_decay and self._decays and self._decays[index]:
            decay = ops.cast(rate, variable.dtype) * ops.cast(self._decoupled_decay, variable.dtype)
            variable.assign_sub(variable * decay)
        super().update_step(gradient, variable, rate)  # type: ignore[misc]

    def _update_model_variables_moving_average(self, trainable_variables: Sequence[Any]) -> None:
        if not self.use_ema:  # type: ignore[attr-defined]
            return
        step = ops.cast(self.iterations, "float32")  # type: ignore[attr-defined]
        warm = ops.minimum(
            ops.cast(self.ema_momentum, "float32"),  # type: ignore[attr-defined]
            (1.0 + step) / (10.0 + step),
        )
        momentum = ops.where(ops.equal(step, 0.0), 0.0, warm)
        averages = self._model_variables_moving_average  # type: ignore[attr-defined]
        for variable, average in zip(trainable_variables, averages, strict=False):
            if average is not None:
                m = ops.cast(momentum, variable.dtype)
                average.assign(m * average + (1.0 - m) * variable)

    def _config_with_decay(self, config: dict[str, Any]) -> dict[str, Any]:
        config["weight_decay"] = self._decoupled_decay or None
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecipeAdamW(_RecipeMixin, keras.optimizers.AdamW):  # type: ignore[misc]
    """AdamW with per-variable rates, decay on ndim >= 2 only, and EMA warm-up.

    :param weight_decay: decoupled decay (``var -= var * weight_decay * rate``).
    :param lr_factors: ``id(variable) -> factor`` of the learning rate.
    :param kwargs: the rest of ``keras.optimizers.AdamW``'s arguments.
    """

    def __init__(
        self,
        weight_decay: float | None = 0.004,
        lr_factors: Mapping[int, float] | None = None,
        **kwargs: Any,
    ) -> None:
        # Keras's AdamW needs a decay; 0 here, ours is applied in update_step.
        super().__init__(weight_decay=0.0, **kwargs)
        self.weight_decay = None
        self._recipe_init(weight_decay, lr_factors)

    def get_config(self) -> dict[str, Any]:
        """Keras's config, with the decoupled decay."""
        return self._config_with_decay(super().get_config())


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecipeAdam(_RecipeMixin, keras.optimizers.Adam):  # type: ignore[misc]
    """Adam with per-variable rates and EMA warm-up (no weight decay).

    :param lr_factors: ``id(variable) -> factor`` of the learning rate.
    :param kwargs: the rest of ``keras.optimizers.Adam``'s arguments.
    """

    def __init__(self, lr_factors: Mapping[int, float] | None = None, **kwargs: Any) -> None:
        kwargs.pop("weight_decay", None)
        super().__init__(**kwargs)
        self._recipe_init(None, lr_factors)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecipeSGD(_RecipeMixin, keras.optimizers.SGD):  # type: ignore[misc]
    """SGD with per-variable rates, decoupled decay on ndim >= 2 only, and EMA warm-up.

    :param weight_decay: decoupled decay (``var -= var * weight_decay * rate``).
    :param lr_factors: ``id(variable) -> factor`` of the learning rate.
    :param kwargs: the rest of ``keras.optimizers.SGD``'s arguments.
    """

    def __init__(
        self,
        weight_decay: float | None = None,
        lr_factors: Mapping[int, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(weight_decay=None, **kwargs)
        self._recipe_init(weight_decay, lr_factors)

    def get_config(self) -> dict[str, Any]:
        """Keras's config, with the decoupled decay."""
        return self._config_with_decay(super().get_config())
