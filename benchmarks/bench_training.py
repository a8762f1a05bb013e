"""Optimizer steps per second of our training loop against a plain ``model.fit``.

Same model (``models.build`` of the config), same in-memory data, same batch
size, same optimizer family, in the same process. Ours adds what ``train`` adds
around ``fit``: the one-cycle schedule and its momentum callback, checkpoints
(every epoch, and every ``--every`` steps), history, early-stopping bookkeeping
and MLflow epoch metrics. Steps are timed from the start of the second epoch
(tracing and warm-up excluded) to the end of the last one. Runs alternate
plain/ours ``--repeats`` times (which goes first alternates too); the table
shows each pair, the median of the ratios and the ratio of the best rates (the
least disturbed run of each, on a shared machine).

    python3.11 scripts/nox.py -s bench -- bench_training.py          # ~2-3 minutes on 2 cores
    python3.11 scripts/nox.py -s bench -- bench_training.py --quick  # a smoke run

Goal: ratio (ours / plain) >= 0.97.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from food_recognition.config import RunConfig, with_overrides
from food_recognition.models import build
from food_recognition.training import TrainingData, run_training
from food_recognition.training.recipe import progress_verbosity


class StepTimer(keras.callbacks.Callback):  # type: ignore[misc]
    """Steps per second from the second epoch's start to the last epoch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs_seen = 0
        self.start = 0.0
        self.steps = 0
        self.end = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epochs_seen += 1
        if self.epochs_seen == 2:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self.epochs_seen >= 2:
            self.steps += 1

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.end = time.perf_counter()

    @property
    def rate(self) -> float:
        return self.steps / (self.end - self.start)


def make_data(size: int, images: int, classes: int, batch: int) -> TrainingData:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (images, size, size, 3)).astype("float32")
    y = np.eye(classes, dtype="float32")[rng.integers(0, classes, images)]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache()
    return TrainingData(
        classes=[f"c{i}" for i in range(classes)],
        human_labels=None,
        train=dataset,
        train_size=images,
    )


def plain(config: RunConfig, data: TrainingData, steps: int) -> float:
    keras.utils.set_random_seed(config.training.seed)
    model = build(config.model, len(data.classes))
    model.compile(
        keras.optimizers.AdamW(config.training.learning_rate),
        keras.losses.CategoricalCrossentropy(label_smoothing=config.training.label_smoothing),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(5, name="top5_accuracy"),
        ],
        jit_compile=False,
    )
    timer = StepTimer()
    model.fit(
        data.train.repeat(),
        epochs=config.training.epochs,
        steps_per_epoch=steps,
        callbacks=[timer],
        verbose=progress_verbosity(),  # the same display as ours
    )
    return timer.rate


def ours(config: RunConfig, data: TrainingData) -> float:
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as folder:
        run_training(config, Path(folder), data, callbacks=[timer])
    return timer.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--every", type=int, default=50, help="checkpoint every N steps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    size, images, batch, epochs = (32, 128, 32, 2) if args.quick else (64, 1024, 32, 4)
    repeats = 1 if args.quick else args.repeats
    classes = 10
    config = with_overrides(
        RunConfig(),
        {
            "model.backbone": "mobilenet_v3_small",
            "model.input_size": size,
            "data.batch_size": batch,
            "training.epochs": epochs,
            "training.early_stopping_patience": "none",
            "training.checkpoint_every_steps": args.every,
        },
    )
    steps = images // batch
    data = make_data(size, images, classes, batch)
    print(
        f"mobilenet_v3_small (weights=None) {size}px, batch {batch}, {steps} steps x {epochs} "
        f"epochs, {classes} classes, checkpoint every {args.every} steps; "
        f"{os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}"
    )
    print(f"{'run':>4} {'plain steps/s':>14} {'ours steps/s':>13} {'ratio':>7}")
    ratios, bases, mines = [], [], []
    for repeat in range(repeats):
        # Alternate which goes first, so drifting load on a shared machine hits both alike.
        if repeat % 2:
            mine, base = ours(config, data), plain(config, data, steps)
        else:
            base, mine = plain(config, data, steps), ours(config, data)
        bases.append(base)
        mines.append(mine)
        ratios.append(mine / base)
        print(f"{repeat + 1:>4} {base:>14.2f} {mine:>13.2f} {mine / base:>7.3f}", flush=True)
    print(f"median of the ratios (ours / plain): {statistics.median(ratios):.3f}  (goal >= 0.97)")
    print(f"best of each (ours / plain):         {max(mines) / max(bases):.3f}")


if __name__ == "__main__":
    main()
