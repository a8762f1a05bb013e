"""Learning check: a transfer-learning proxy for Food-101 with ImageNet weights.

ImageNet weights cannot be fetched here, so the proxy makes its own: a small
CNN (a backbone plugin registered below) is pretrained on digits 0-4 of the
demo's sample (:func:`food_recognition.datasets.sample.write_digits_sample`,
scikit-learn's digits as 32x32 RGB JPEGs in the Food-101 layout), its backbone
is saved as a weights file, and each recipe fine-tunes from that file on
digits 5-9 with few images per class: the path a Food-101 user takes with
``model.weights="imagenet"``. Every run sees the same images and epochs, and is
scored on the same test images; each is repeated over several seeds.

Rows:

- ``scratch``: our defaults from random weights.
- ``ours``: our defaults from the weights file (one phase, backbone at
  discriminative rates, AdamW with weight decay 0.05, one-cycle).
- ``fastai``: fastai's ``fine_tune``: one head epoch at 2e-3, then everything at
  ``slice(1e-5, 1e-3)``, weight decay 0.01, no label smoothing.
- ``keras guide``: the Keras transfer-learning guide, as written: frozen
  backbone called with ``training=False``, Adam(1e-3) on the head for half the
  epochs, then the whole model at Adam(1e-5) for the other half.
- the fixes of issue 15 this proxy can show, each undone on ``ours``: weight
  decay 1e-4, one rate for the whole model, Keras's EMA without warm-up (vs
  ours with warm-up).

Accuracies are printed with their ratio to ``keras guide`` measured in the same run.

    .nox/tests/bin/python benchmarks/learning_check.py            # a few minutes on 2 cores
    .nox/tests/bin/python benchmarks/learning_check.py --quick    # CI smoke
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from food_recognition.config import RunConfig, with_overrides
from food_recognition.plugins import get_plugin_manager
from food_recognition.plugins.registry import BackboneSpec, Register
from food_recognition.plugins.spec import hookimpl

PRETRAIN_CLASSES = tuple(f"digit_{d}" for d in range(5))
TRANSFER_CLASSES = tuple(f"digit_{d}" for d in range(5, 10))


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


def half_of(sample: Path, dest: Path, classes: tuple[str, ...]) -> Path:
    """A Food-101-layout tree of some classes of ``sample`` (images linked, meta filtered)."""
    (dest / "meta").mkdir(parents=True, exist_ok=True)
    (dest / "images").mkdir(exist_ok=True)
    for name in classes:
        link = dest / "images" / name
        if not link.exists():
            link.symlink_to(sample / "images" / name, target_is_directory=True)
    for split in ("train", "test"):
        lines = (sample / "meta" / f"{split}.txt").read_text().split()
        kept = [line for line in lines if line.split("/")[0] in classes]
        (dest / "meta" / f"{split}.txt").write_text("\n".join(kept) + "\n")
    (dest / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    return dest


def base_config(root: Path, epochs: int, per_class: int | None, seed: int) -> RunConfig:
    return with_overrides(
        RunConfig(),
        {
            "data.path": str(root),
            "data.batch_size": 16,
            "data.max_per_class": per_class if per_class else "none",
            "data.seed": seed,
            "model.backbone": "small_cnn",
            "augment.policy": "reference",
            "augment.options.horizontal_flip": False,  # digits: a mirrored 2 is no 2
            "augment.options.rotation": 10,
            "augment.options.zoom": 0.1,
            "augment.options.width_shift": 0.1,
            "augment.options.height_shift": 0.1,
            "training.epochs": epochs,
            "training.seed": seed,
            "training.early_stopping_patience": "none",
        },
    )


@contextlib.contextmanager
def keras_ema_without_warmup() -> Iterator[None]:
    """Our optimizers with Keras's own EMA update (``ema_momentum`` from the first step)."""
    from food_recognition.training.optimizers import _RecipeMixin

    ours = _RecipeMixin._update_model_variables_moving_average
    keras_own = keras.optimizers.Optimizer._update_model_variables_moving_average
    _RecipeMixin._update_model_variables_moving_average = keras_own  # type: ignore[method-assign]
    try:
        yield
    finally:
        _RecipeMixin._update_model_variables_moving_average = ours  # type: ignore[method-assign]


def keras_guide(config: RunConfig, data: Any, weights: Path, epochs: int) -> float:
    """The Keras transfer-learning guide's recipe; test accuracy."""
    from food_recognition.models import get_backbone
    from food_recognition.models.layers import Preprocess

    keras.utils.set_random_seed(config.training.seed)
    spec = get_backbone("small_cnn")
    base = spec.build((32, 32, 3), None)
    base.load_weights(str(weights))
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = Preprocess(spec.preprocessing)(inputs)
    # The guide: the base runs in inference mode, also after unfreezing, so its
    # batch-norm statistics stay the pretrained ones.
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(inputs, keras.layers.Dense(len(data.classes), activation="softmax")(x))
    train = data.train.repeat()
    steps = max(1, -(-data.train_size // config.data.batch_size))
    head = max(1, epochs // 2)
    metrics = ["accuracy"]
    model.compile(keras.optimizers.Adam(), "categorical_crossentropy", metrics=metrics)
    model.fit(train, epochs=head, steps_per_epoch=steps, verbose=0)
    base.trainable = True
    model.compile(keras.optimizers.Adam(1e-5), "categorical_crossentropy", metrics=metrics)
    model.fit(train, epochs=epochs - head or 1, steps_per_epoch=steps, verbose=0)
    return float(model.evaluate(data.test, return_dict=True, verbose=0)["accuracy"])


def ours(config: RunConfig, data: Any, output: Path) -> float:
    """One of our runs (``run_training``, the path ``train`` takes); test accuracy."""
    import json

    from food_recognition.training import run_training

    package = run_training(config, output, data)
    return float(json.loads((package / "metrics.json").read_text())["test_accuracy"])


def pretrain(sample: Path, folder: Path, epochs: int, per_class: int | None) -> Path:
    """Train on digits 0-4 and save the backbone: the proxy's 'ImageNet weights'."""
    from food_recognition.models import save_backbone_weights
    from food_recognition.training.loop import load_training_data, run_training

    root = half_of(sample, folder / "pretrain-data", PRETRAIN_CLASSES)
    config = with_overrides(
        base_config(root, epochs, per_class, 0), {"data.validation_fraction": 0.0}
    )
    data = load_training_data(config, image_size=32, batch_size=16)
    models: list[Any] = []

    def build(model_config: Any, num_classes: int) -> Any:
        from food_recognition.models import build as build_model

        models.append(build_model(model_config, num_classes))
        return models[-1]

    run_training(config, folder / "pretrain-run", data, build_model=build)
    return save_backbone_weights(models[0], folder / "pretrained.weights.h5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (one seed, one epoch)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs of every run")
    parser.add_argument("--per-class", type=int, default=60, help="fine-tuning images per class")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("food_recognition").setLevel(logging.WARNING)
    get_plugin_manager().register(SmallCNNPlugin(), name="learning-check")

    from food_recognition.datasets.sample import write_digits_sample
    from food_recognition.training.loop import load_training_data

    seeds = 1 if args.quick else args.seeds
    epochs = 1 if args.quick else args.epochs
    per_class = 6 if args.quick else args.per_class
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        sample = write_digits_sample(folder / "digits")
        weights = pretrain(sample, folder, 1 if args.quick else 8, 20 if args.quick else None)
        transfer = half_of(sample, folder / "transfer-data", TRANSFER_CLASSES)
        pretrained = {"model.weights": str(weights)}
        overrides: dict[str, dict[str, Any]] = {
            "scratch": {},
            "ours": pretrained,
            "fastai": {
                **pretrained,
                "training.head_epochs": 1,
                "training.epochs": max(1, epochs - 1),
                "training.learning_rate": 2e-3,
                "training.weight_decay": 0.01,
                "training.label_smoothing": 0.0,
            },
            "ours, weight decay 1e-4": {**pretrained, "training.weight_decay": 1e-4},
            "ours, one rate everywhere": {**pretrained, "training.backbone_lr_ratio": 1.0},
            "ours + EMA (warm-up)": {**pretrained, "training.ema": True},
            "ours + EMA (Keras, no warm-up)": {**pretrained, "training.ema": True},
        }
        results: dict[str, list[float]] = {name: [] for name in ["keras guide", *overrides]}
        for seed in range(seeds):
            base = base_config(transfer, epochs, per_class, seed)
            data = load_training_data(base, image_size=32, batch_size=16)
            results["keras guide"].append(keras_guide(base, data, weights, epochs))
            for index, (row, values) in enumerate(overrides.items()):
                config = with_overrides(base, values)
                guard = (
                    keras_ema_without_warmup() if "no warm-up" in row else contextlib.nullcontext()
                )
                with guard:
                    results[row].append(ours(config, data, folder / f"run-{seed}-{index}"))
    seconds = time.perf_counter() - started
    baseline = statistics.mean(results["keras guide"])
    print(
        f"transfer proxy: small_cnn pretrained on digits 0-4, fine-tuned on digits 5-9 "
        f"({per_class} train images per class before the validation split), {epochs} epochs, "
        f"{seeds} seed(s), {seconds:.0f} s"
    )
    print(f"{'recipe':<32} {'test accuracy':>13} {'min':>6} {'max':>6} {'vs keras guide':>15}")
    for row, values in results.items():
        mean = statistics.mean(values)
        print(
            f"{row:<32} {mean:>13.4f} {min(values):>6.3f} {max(values):>6.3f} "
            f"{mean / baseline:>15.3f}"
        )


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
