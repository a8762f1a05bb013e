"""Training end to end with a tiny backbone: package, MLflow, phases, early stopping, EMA."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import attrs
import keras
import numpy as np
import pytest

from food_recognition.cli import main
from food_recognition.config import AugmentConfig, RunConfig, with_overrides
from food_recognition.datasets.pipeline import train_dataset
from food_recognition.datasets.splits import Split
from food_recognition.package import load_package
from food_recognition.training import EPOCH_METRICS, FINAL_METRICS, run_training
from food_recognition.training.callbacks import CyclicalMomentum, TrainingDataError
from tests.datasets.odd_images import bogus_huffman_jpeg, write
from tests.training.tiny import colour_arrays, register_tiny, tiny_data

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _tiny_backbone() -> None:
    register_tiny()


def _config(**overrides: Any) -> RunConfig:
    values = {"model.backbone": "tiny_cnn", "data.batch_size": 8, "training.epochs": 2}
    values.update(overrides)
    return with_overrides(RunConfig(), values)


class _Capture:
    """A build_model that keeps the model and its initial weights."""

    def __init__(self) -> None:
        self.model: Any = None
        self.initial: list[np.ndarray] = []

    def __call__(self, model_config: Any, num_classes: int) -> Any:
        from food_recognition.models import build

        self.model = build(model_config, num_classes)
        self.initial = [np.array(w) for w in self.model.get_weights()]
        self.initial_backbone = [w.numpy() for w in self.model.get_layer("backbone").weights]
        self.initial_logits = [w.numpy() for w in self.model.get_layer("logits").weights]
        return self.model


def _mlflow_run(output: Path) -> Any:
    from mlflow.tracking import MlflowClient

    run_id = json.loads((output / "mlflow_run.json").read_text())["run_id"]
    return MlflowClient(tracking_uri=(output / "mlruns").as_uri()).get_run(run_id)


def test_cli_trains_on_a_food101_tree_and_writes_the_package(
    food101_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    argv = [
        "train",
        "--output",
        str(output),
        "--data.path",
        str(food101_tree),
        "--model.backbone",
        "tiny_cnn",
        "--data.batch_size",
        "4",
        "--training.epochs",
        "2",
        "--training.head_epochs",
        "1",
        "--tta.policy",
        "flip",
    ]
    assert main(argv) == 0
    package = output / "package"
    assert capsys.readouterr().out.strip().endswith(f"model package: {package}")
    files = {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()}
    assert {"model.keras", "labels.json", "config.yaml", "metrics.json", "history.json"} <= files
    assert "evaluation.json" in files and "plots/training_curves.png" in files
    loaded = load_package(package)
    assert loaded.classes == ("apple_pie", "bibimbap", "caesar_salad")
    assert loaded.config.tta.policy == "flip"
    history = json.loads((package / "history.json").read_text())
    assert len(history["loss"]) == 3 and len(history["learning_rate"]) == 3

    run = _mlflow_run(output)
    assert run.data.params["training.head_epochs"] == "1"
    logged = set(run.data.metrics)
    assert {"loss", "accuracy", "top5_accuracy", "learning_rate", "test_accuracy"} <= logged
    assert logged <= set(EPOCH_METRICS) | set(FINAL_METRICS)

    # Run again: the run finished, so nothing trains and the same package comes back.
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().endswith(f"model package: {package}")


def test_cli_lr_find_suggests_a_rate_and_plots(
    food101_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "lr-find",
        "--output",
        str(tmp_path),
        "--data.path",
        str(food101_tree),
        "--model.backbone",
        "tiny_cnn",
        "--data.batch_size",
        "4",
        "--steps",
        "20",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate: " in out
    assert f"plot: {tmp_path / 'lr_finder.png'}" in out
    assert (tmp_path / "lr_finder.png").is_file()


def test_the_package_predicts_what_the_trained_model_predicted(tmp_path: Path) -> None:
    capture = _Capture()
    package = run_training(_config(), tmp_path, tiny_data(), build_model=capture)
    images, _ = colour_arrays(per_class=2, seed=5)
    expected = capture.model.predict(images, verbose=0)
    np.testing.assert_allclose(load_package(package).predict(images), expected, atol=1e-5)
    metrics = json.loads((package / "metrics.json").read_text())
    assert {"best_val_accuracy", "test_loss", "test_accuracy", "test_top5_accuracy"} <= set(metrics)
    assert metrics["optimizer_steps"] == 2 * 6


def test_the_head_phase_leaves_the_backbone_and_its_batch_norm_statistics_alone(
    tmp_path: Path,
) -> None:
    capture = _Capture()
    config = _config(**{"training.head_epochs": 1, "training.epochs": 1, "model.frozen_layers": -1})
    run_training(config, tmp_path, tiny_data(), build_model=capture)
    backbone = capture.model.get_layer("backbone").weights
    assert any("moving_mean" in w.path for w in backbone)
    for before, after in zip(capture.initial_backbone, backbone, strict=True):
        np.testing.assert_array_equal(before, after.numpy(), err_msg=after.path)
    logits = capture.model.get_layer("logits").weights
    assert not np.array_equal(capture.initial_logits[0], logits[0].numpy())


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    config = _config(
        **{
            "training.epochs": 6,
            "training.early_stopping_patience": 1,
            "training.optimizer": "sgd",
            "training.schedule": "constant",
            "training.learning_rate": 5.0,
        }
    )
    package = run_training(config, tmp_path, tiny_data(), build_model=_Capture())
    history = json.loads((package / "history.json").read_text())
    val_losses = [v for v in history["val_loss"] if math.isfinite(v)]
    assert len(history["val_loss"]) < 6, "the loss did not get worse; no early stop to test"
    # The tiny data's test split is its validation split, so the restored model scores the best.
    test_loss = json.loads((package / "metrics.json").read_text())["test_loss"]
    assert test_loss == pytest.approx(min(val_losses), rel=1e-4)


def test_sgd_with_ema_and_one_cycle_trains_and_packages(tmp_path: Path) -> None:
    capture = _Capture()
    config = _config(
        **{"training.optimizer": "sgd", "training.ema": True, "training.head_epochs": 1}
    )
    package = run_training(config, tmp_path, tiny_data(), build_model=capture)
    optimizer = capture.model.optimizer
    assert isinstance(optimizer.momentum, float)  # the scheduled value was put back
    assert optimizer.momentum == pytest.approx(0.95, abs=0.01)  # one-cycle ends high again
    assert load_package(package).num_classes == 3


def test_cyclical_momentum_reaches_the_update() -> None:
    """The scheduled momentum is read at every step, not frozen into the traced step."""

    def fit(momentum_min: float) -> list[np.ndarray]:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
        x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        callback = CyclicalMomentum(8, 0.5, 0.9, momentum_min)
        model.fit(
            x, x[:, :2], batch_size=4, epochs=1, callbacks=[callback], verbose=0, shuffle=False
        )
        return [np.array(w) for w in model.get_weights()]

    same = fit(0.9)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, x[:, :2], batch_size=4, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(same[0], model.get_weights()[0], rtol=1e-5)
    assert not np.allclose(fit(0.1)[0], same[0])


def test_training_data_that_runs_dry_is_an_error_not_an_untrained_package(
    tmp_path: Path,
) -> None:
    # Every image passes the header scan and fails to decode: the pipeline skips
    # them all, and Keras alone would only warn and go on.
    data = tiny_data()
    paths = [write(tmp_path / "bad" / f"{i}.jpg", bogus_huffman_jpeg()) for i in range(4)]
    split = Split([str(p) for p in paths], [0, 1, 2, 0], data.classes)
    size = int(data.train.element_spec[0].shape[1])
    train = train_dataset(split, image_size=size, batch_size=8, augment=AugmentConfig("none"))
    with pytest.raises(TrainingDataError, match="ran out after 0 of 6 steps of epoch 1"):
        run_training(_config(), tmp_path / "run", attrs.evolve(data, train=train))
    assert not (tmp_path / "run" / "package").exists()


@pytest.mark.parametrize("source", ["images", "tfrecords"])
def test_a_run_reads_validation_and_test_to_the_end_without_running_out_of_data(
    food101_tree: Path, tmp_path: Path, source: str
) -> None:
    # The evaluation pipelines skip undecodable images, so Keras cannot count their
    # batches; without the count it reads to the end and warns "Your input ran out of
    # data; interrupting training" (keras/src/trainers/epoch_iterator.py,
    # catch_stop_iteration) on the first epoch of every run.
    from food_recognition.training import train

    config = _config(
        **{
            "data.path": str(food101_tree),
            "data.batch_size": 4,
            "data.validation_fraction": 0.34,
        }
    )
    if source == "tfrecords":  # a TFRecord pipeline's length is unknown to Keras too
        from food_recognition.datasets import load_dataset_from_config
        from food_recognition.datasets.tfrecords import write_dataset

        written = write_dataset(load_dataset_from_config(config.data), tmp_path / "shards")
        assert set(written) == {"train", "validation", "test"}
        config = with_overrides(config, {"data.tfrecords": str(tmp_path / "shards")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        package_dir = train(config, tmp_path / "out")
    ran_out = [str(w.message) for w in caught if "ran out of data" in str(w.message)]
    assert ran_out == []
    package = load_package(package_dir)
    # Validation ran every epoch and the test split was scored: nothing was cut short.
    assert len(package.history["val_loss"]) == 2
    assert "test_accuracy" in package.metrics
