"""Optimizer, loss, metrics and display choices."""

from __future__ import annotations

import io

import keras
import pytest

from food_recognition.config import TrainingConfig
from food_recognition.training.recipe import (
    make_loss,
    make_metrics,
    make_optimizer,
    precision_policy,
    progress_verbosity,
    use_xla,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("adamw", keras.optimizers.AdamW),
        ("adam", keras.optimizers.Adam),
        ("sgd", keras.optimizers.SGD),
    ],
)
def test_optimizers(name: str, kind: type) -> None:
    optimizer = make_optimizer(TrainingConfig(optimizer=name, ema=True, ema_momentum=0.9), 0.1)
    assert isinstance(optimizer, kind)  # the recipe's subclass (training.optimizers)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9


def test_one_cycle_starts_adam_momentum_high() -> None:
    assert make_optimizer(TrainingConfig(schedule="one_cycle"), 0.1).beta_1 == 0.95
    assert make_optimizer(TrainingConfig(schedule="cosine"), 0.1).beta_1 == 0.9


def test_loss_smooths_one_hot_labels() -> None:
    loss = make_loss(TrainingConfig(label_smoothing=0.2))
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    assert loss.get_config()["label_smoothing"] == 0.2


def test_top_k_never_exceeds_the_classes() -> None:
    accuracy, top = make_metrics(3)
    assert (accuracy.name, top.name, top._fn_kwargs["k"]) == ("accuracy", "top5_accuracy", 3)
    assert make_metrics(101)[1]._fn_kwargs["k"] == 5


def test_gpu_options_are_off_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    config = TrainingConfig(xla=True, mixed_precision=True)
    caplog.set_level("INFO")
    assert use_xla(config) is False
    with precision_policy(config) as policy:
        assert policy == "float32"
        assert keras.mixed_precision.dtype_policy().name == "float32"
    assert "no GPU here" in caplog.text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_in_a_terminal_and_a_line_per_epoch_in_a_log() -> None:
    assert progress_verbosity(_Terminal()) == 1
    assert progress_verbosity(io.StringIO()) == 2
