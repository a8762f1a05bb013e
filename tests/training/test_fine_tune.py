"""The recipe end to end: device augmentation, fine-tuning rates, early stopping."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from food_recognition.config import RunConfig, with_overrides
from food_recognition.models import build, save_backbone_weights
from food_recognition.package import load_package
from food_recognition.training import run_training
from food_recognition.training.checkpoint import RunState
from food_recognition.training.loop import _final_metrics
from tests.training.tiny import colour_arrays, register_tiny, tiny_data

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _tiny_backbone() -> None:
    register_tiny()


def _config(**overrides: Any) -> RunConfig:
    values = {"model.backbone": "tiny_cnn", "data.batch_size": 8, "training.epochs": 1}
    values.update(overrides)
    return with_overrides(RunConfig(), values)


class _Seen(keras.callbacks.Callback):  # type: ignore[misc]
    """Keeps what fit() trains: the model and its optimizer's per-variable factors."""

    def __init__(self) -> None:
        super().__init__()
        self.models: list[Any] = []
        self.factors: list[list[float]] = []
        self.peaks: list[float] = []

    def on_train_begin(self, logs: Any = None) -> None:
        optimizer = self.model.optimizer
        self.models.append(self.model)
        self.factors.append(list(optimizer._lr_factors))
        self.peaks.append(optimizer._learning_rate.max_learning_rate)


def test_on_device_augmentation_is_in_the_trained_model_and_not_in_the_package(
    tmp_path: Path,
) -> None:
    seen = _Seen()
    config = _config(**{"augment.on_device": True, "augment.policy": "default"})
    package = run_training(config, tmp_path, tiny_data(), callbacks=[seen])
    trained = seen.models[0]
    augmenter = trained.get_layer("augment")
    images, _ = colour_arrays(per_class=2, seed=3)
    flipped_or_jittered = np.asarray(augmenter(images, training=True))
    assert np.abs(flipped_or_jittered - images).mean() > 1.0
    loaded = load_package(package)
    assert "augment" not in [layer.name for layer in loaded.model.layers]
    np.testing.assert_allclose(
        loaded.predict(images), trained.predict(images, verbose=0), atol=1e-5
    )


def test_fine_tuning_from_pretrained_weights_uses_fastais_rates(tmp_path: Path) -> None:
    weights = save_backbone_weights(build(_config().model, 3), tmp_path / "tiny.weights.h5")
    seen = _Seen()
    config = _config(
        **{
            "model.weights": str(weights),
            "training.head_epochs": 1,
            "training.learning_rate": 2e-3,
        }
    )
    run_training(config, tmp_path / "run", tiny_data(), callbacks=[seen])
    head, main = seen.factors
    assert set(head) == {1.0}  # the backbone is frozen: the head alone, at the full rate
    assert set(main) == {0.01, 0.1, 1.0}
    assert seen.peaks == pytest.approx([2e-3, 1e-3])  # halved after unfreezing

    from_scratch = _Seen()
    run_training(_config(), tmp_path / "scratch", tiny_data(), callbacks=[from_scratch])
    assert set(from_scratch.factors[0]) == {1.0}


def test_the_reported_accuracy_is_the_kept_epochs() -> None:
    history = {"val_loss": [0.5, 0.7, 0.9], "val_accuracy": [0.80, 0.95, 0.90]}
    state = RunState(epoch=3, history=history, best_value=0.5, best_epoch=0)

    class NoTest:
        test = None

    metrics = _final_metrics(None, NoTest(), state, kept_epoch=0)  # type: ignore[arg-type]
    assert metrics["best_val_accuracy"] == 0.80  # the restored weights', not epoch 2's 0.95
    assert _final_metrics(None, NoTest(), state)["best_val_accuracy"] == 0.90  # type: ignore[arg-type]


def test_one_cycle_is_not_cut_short_by_early_stopping(tmp_path: Path) -> None:
    config = _config(
        **{
            "training.epochs": 5,
            "training.early_stopping_patience": 1,
            "training.optimizer": "sgd",
            "training.schedule": "one_cycle",
            "training.learning_rate": 10.0,  # the validation loss gets worse
        }
    )
    package = run_training(config, tmp_path, tiny_data())
    history = json.loads((package / "history.json").read_text())
    val_losses = history["val_loss"]
    assert not all(later < first for first, later in itertools.pairwise(val_losses)), val_losses
    assert len(history["loss"]) == 5
