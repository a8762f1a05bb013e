"""The pieces of the training recipe: optimizer, loss, metrics, devices, display.

Small functions from a :class:`~food_recognition.config.TrainingConfig` to the
Keras objects :func:`food_recognition.training.train` and the learning-rate
finder compile with, so both use one definition.

Labels are one-hot or soft (MixUp, CutMix, label smoothing all need that), so
the loss is ``CategoricalCrossentropy`` with the config's smoothing, and the
metrics are categorical accuracy (``accuracy``) and top-5 accuracy
(``top5_accuracy``; top-k with ``k = min(5, classes)``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from food_recognition.config import TrainingConfig

__all__ = [
    "compile_model",
    "has_gpu",
    "make_loss",
    "make_metrics",
    "make_optimizer",
    "precision_policy",
    "progress_verbosity",
    "use_xla",
]

_log = logging.getLogger(__name__)


def make_optimizer(
    config: TrainingConfig, learning_rate: Any, lr_factors: Mapping[int, float] | None = None
) -> Any:
    """The optimizer ``config.optimizer`` names (:mod:`~food_recognition.training.optimizers`).

    One-cycle starts the momentum at ``momentum_max`` (the callback moves it);
    SGD is Nesterov with ``momentum_max``. Weight decay (AdamW, SGD) is
    decoupled and skips every variable of one dimension or fewer (biases,
    normalization, layer scales); the EMA, when on, warms up.

    :param config: the training config.
    :param learning_rate: a float or a learning-rate schedule.
    :param lr_factors: ``id(variable) -> factor`` of the learning rate
        (discriminative fine-tuning rates); every variable at 1 when ``None``.
    :returns: a Keras optimizer (EMA on when ``config.ema``).
    """
    from food_recognition.training.optimizers import RecipeAdam, RecipeAdamW, RecipeSGD

    common: dict[str, Any] = {
        "learning_rate": learning_rate,
        "use_ema": config.ema,
        "ema_momentum": config.ema_momentum,
        "lr_factors": lr_factors,
    }
    one_cycle = config.schedule == "one_cycle"
    if config.optimizer == "sgd":
        return RecipeSGD(
            momentum=config.momentum_max,
            nesterov=True,
            weight_decay=config.weight_decay or None,
            **common,
        )
    beta_1 = config.momentum_max if one_cycle else 0.9
    if config.optimizer == "adam":
        return RecipeAdam(beta_1=beta_1, **common)
    return RecipeAdamW(beta_1=beta_1, weight_decay=config.weight_decay, **common)


def make_loss(config: TrainingConfig) -> Any:
    """Categorical cross-entropy on one-hot or soft labels, with the config's smoothing."""
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


def make_metrics(num_classes: int) -> list[Any]:
    """``accuracy`` and ``top5_accuracy`` (top-k with ``k = min(5, num_classes)``)."""
    import keras

    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top5_accuracy"),
    ]


def compile_model(
    model: Any,
    config: TrainingConfig,
    learning_rate: Any,
    num_classes: int,
    lr_factors: Mapping[int, float] | None = None,
) -> None:
    """Compile ``model`` with the recipe's optimizer, loss and metrics.

    :param model: the Keras model (built under the strategy's scope).
    :param config: the training config.
    :param learning_rate: a float or a schedule.
    :param num_classes: classes of the output (for top-k).
    :param lr_factors: per-variable learning-rate factors (see :func:`make_optimizer`).
    """
    model.compile(
        optimizer=make_optimizer(config, learning_rate, lr_factors),
        loss=make_loss(config),
        metrics=make_metrics(num_classes),
        jit_compile=use_xla(config),
    )


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def use_xla(config: TrainingConfig) -> bool:
    """``config.xla`` on a GPU; off on the CPU (logged once per call when asked for)."""
    if not config.xla:
        return False
    if has_gpu():
        return True
    _log.info("training.xla is for GPUs; no GPU here, so the train step is not XLA-compiled")
    return False


@contextlib.contextmanager
def precision_policy(config: TrainingConfig) -> Iterator[str]:
    """Set Keras's global dtype policy for building the model; restore it afterwards.

    ``mixed_float16`` when ``config.mixed_precision`` and a GPU is present; the
    model's softmax stays float32 (the model builder sees to it).

    :param config: the training config.
    :returns: a context manager yielding the policy name in force.
    """
    import keras

    previous = keras.mixed_precision.dtype_policy().name
    name = "float32"
    if config.mixed_precision:
        if has_gpu():
            name = "mixed_float16"
        else:
            _log.info("training.mixed_precision is for GPUs; no GPU here, so training in float32")
    keras.mixed_precision.set_global_policy(name)
    try:
        yield name
    finally:
        keras.mixed_precision.set_global_policy(previous)


def progress_verbosity(stream: Any = None) -> int:
    """Keras's ``verbose``: 1 (a live bar) in a terminal, 2 (a line per epoch) in a log.

    :param stream: the output stream; ``sys.stdout`` by default.
    """
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return 1 if callable(isatty) and isatty() else 2
