"""Learning check: our training recipe against a plain Keras model, same wall time.

Data: scikit-learn's handwritten digits (1,797 real 8x8 scans, 10 classes),
written here as 32x32 RGB JPEGs in the Food-101 layout (``images/``, ``meta/``;
75/25 stratified train/test) in a temporary folder.

Both models are the same small CNN (a backbone plugin registered below, so this
also trains a third-party backbone through ``train``) with the same head.

- ours: ``food_recognition.training.train`` from a RunConfig: one-cycle AdamW,
  label smoothing, the ``reference`` augmentation without flips, validation
  split, early stopping, checkpoints, MLflow; its whole wall time is measured
  (start-up, evaluation and packaging included).
- plain: the same architecture, ``Adam()`` at Keras's default rate,
  un-augmented images, ``model.fit`` stopped after the same wall time.

Both are scored on the same test images (``eval_dataset``).

    .venv/bin/python benchmarks/learning_check.py            # ~3-5 minutes on 2 cores
    .venv/bin/python benchmarks/learning_check.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from PIL import Image

from food_recognition.config import RunConfig, with_overrides
from food_recognition.plugins import get_plugin_manager
from food_recognition.plugins.registry import BackboneSpec, Register
from food_recognition.plugins.spec import hookimpl


def write_digits(root: Path, size: int = 32, test_fraction: float = 0.25) -> Path:
    """Scikit-learn's digits as JPEGs in the Food-101 layout."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    classes = [f"digit_{d}" for d in range(10)]
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for label, name in enumerate(classes):
        indices = rng.permutation(np.flatnonzero(digits.target == label))
        test_count = round(len(indices) * test_fraction)
        for rank, index in enumerate(indices):
            pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
            image = Image.fromarray(pixels, "L").resize((size, size), Image.BILINEAR).convert("RGB")
            path = root / "images" / name / f"{index}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, "JPEG", quality=95)
            split = "test" if rank < test_count else "train"
            splits[split].setdefault(name, []).append(f"{name}/{index}")
    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "classes.txt").write_text("\n".join(classes) + "\n")
    (meta / "labels.txt").write_text("\n".join(f"Digit {d}" for d in range(10)) + "\n")
    for split, entries in splits.items():
        lines = [item for name in classes for item in entries[name]]
        (meta / f"{split}.txt").write_text("\n".join(lines) + "\n")
        (meta / f"{split}.json").write_text(json.dumps(entries))
    return root


def _small_cnn(input_shape: tuple[int, int, int], weights: Any) -> Any:
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        # momentum 0.9: the default 0.99 needs thousands of steps before its moving
        # statistics match the data, more than a run of a few minutes takes.
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inputs, x, name="small_cnn")


class SmallCNNPlugin:
    """A third-party backbone plugin: three conv blocks."""

    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(BackboneSpec("small_cnn", _small_cnn, "scale_0_1", 32, description="3 convs"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    get_plugin_manager().register(SmallCNNPlugin(), name="learning-check")

    from food_recognition.datasets import load_dataset_from_config
    from food_recognition.datasets.pipeline import eval_dataset
    from food_recognition.models import build
    from food_recognition.training import train

    epochs = 2 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as folder:
        root = write_digits(Path(folder) / "digits")
        config = with_overrides(
            RunConfig(),
            {
                "data.path": str(root),
                "data.batch_size": 32,
                "data.max_per_class": 20 if args.quick else "none",
                "model.backbone": "small_cnn",
                "model.dropout": 0.2,
                "augment.policy": "reference",
                "augment.options.horizontal_flip": False,
                "augment.options.rotation": 10,
                "augment.options.zoom": 0.1,
                "augment.options.width_shift": 0.1,
                "augment.options.height_shift": 0.1,
                "training.epochs": epochs,
                "training.learning_rate": 3e-3,
                "training.early_stopping_patience": 4,
            },
        )
        started = time.perf_counter()
        package = train(config, Path(folder) / "ours")
        ours_seconds = time.perf_counter() - started
        ours_accuracy = json.loads((package / "metrics.json").read_text())["test_accuracy"]

        dataset = load_dataset_from_config(config.data)
        # The same training images ours saw (the validation split is already carved out).
        train_split = dataset.train
        train_images = eval_dataset(train_split, image_size=32, batch_size=256)
        x = np.concatenate([batch[0].numpy() for batch in train_images])
        y = np.concatenate([batch[1].numpy() for batch in train_images])
        keras.utils.set_random_seed(0)
        plain = build(config.model, 10)
        plain.compile(keras.optimizers.Adam(), "categorical_crossentropy", metrics=["accuracy"])

        class StopAtDeadline(keras.callbacks.Callback):  # type: ignore[misc]
            def __init__(self, seconds: float) -> None:
                super().__init__()
                self.deadline = time.perf_counter() + seconds
                self.epochs = 0

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.epochs += 1
                if time.perf_counter() >= self.deadline:
                    self.model.stop_training = True

        stopper = StopAtDeadline(ours_seconds)
        plain.fit(x, y, batch_size=32, epochs=10_000, callbacks=[stopper], verbose=0)
        test = eval_dataset(dataset.test, image_size=32, batch_size=256)
        plain_accuracy = plain.evaluate(test, return_dict=True, verbose=0)["accuracy"]
        print(
            f"digits: {len(dataset.train)} train, {len(dataset.validation)} validation, "
            f"{len(dataset.test)} test images (32x32 JPEG), small_cnn"
        )
        print(f"{'':<8} {'test accuracy':>13} {'seconds':>8} {'epochs':>7}")
        history = json.loads((package / "history.json").read_text())
        print(f"{'ours':<8} {ours_accuracy:>13.4f} {ours_seconds:>8.1f} {len(history['loss']):>7}")
        print(f"{'plain':<8} {plain_accuracy:>13.4f} {ours_seconds:>8.1f} {stopper.epochs:>7}")
        print(f"ratio (ours / plain accuracy): {ours_accuracy / plain_accuracy:.3f}")


if __name__ == "__main__":
    main()
