"""A tiny backbone plugin and in-memory data for the training tests (and their subprocesses)."""

from __future__ import annotations

from typing import Any

import numpy as np

from food_recognition.plugins.registry import BackboneSpec, Register
from food_recognition.plugins.spec import hookimpl

TINY = "tiny_cnn"


def _build_tiny(input_shape: tuple[int, int, int], weights: Any) -> Any:
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, x, name="tiny_cnn")


class TinyPlugin:
    """Registers ``tiny_cnn``: two conv layers with a batch norm, 32 px."""

    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(
            BackboneSpec(
                name=TINY,
                build=_build_tiny,
                preprocessing="scale_0_1",
                default_input_size=32,
                description="two conv layers (tests)",
            )
        )


def register_tiny() -> None:
    """Add ``tiny_cnn`` to the process-wide plugin manager (once)."""
    from food_recognition.plugins import get_plugin_manager

    manager = get_plugin_manager()
    if TINY not in manager.backbones.names():
        manager.register(TinyPlugin(), name="tests-tiny")


def colour_arrays(
    num_classes: int = 3, per_class: int = 16, size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Images in [0, 255] whose mean colour gives the class, and one-hot labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    base = np.stack([(labels * 70) % 256, (labels * 130 + 60) % 256, (labels * 200 + 120) % 256], 1)
    images = base[:, None, None, :] + rng.normal(0, 20, (len(labels), size, size, 3))
    order = rng.permutation(len(labels))
    onehot = np.eye(num_classes, dtype="float32")[labels[order]]
    return np.clip(images[order], 0, 255).astype("float32"), onehot


def tiny_data(num_classes: int = 3, per_class: int = 16, batch_size: int = 8) -> Any:
    """A :class:`~food_recognition.training.TrainingData` held in memory."""
    import tensorflow as tf

    from food_recognition.training import TrainingData

    images, labels = colour_arrays(num_classes, per_class)
    val_images, val_labels = colour_arrays(num_classes, 4, seed=1)

    def batches(x: np.ndarray, y: np.ndarray) -> Any:
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)

    return TrainingData(
        classes=tuple(f"class_{i}" for i in range(num_classes)),
        human_labels=None,
        train=batches(images, labels),
        train_size=len(images),
        validation=batches(val_images, val_labels),
        test=batches(val_images, val_labels),
    )
