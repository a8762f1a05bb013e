"""A tiny test backbone registered through a plugin object, and helpers to build with it."""

from __future__ import annotations

from typing import Any

from food_recognition.config import ModelConfig
from food_recognition.plugins import BackboneSpec, PluginManager, hookimpl

#: Layers of the tiny backbone: input, conv1, bn1, relu1, conv2, bn2, relu2.
TINY_LAYERS = 7


def build_tiny_cnn(input_shape: tuple[int, int, int], weights: str | None) -> Any:
    """Two conv blocks with batch norm; refuses ImageNet weights as an offline machine would."""
    import keras

    if weights == "imagenet":
        raise OSError("URL fetch failure: no network")
    inputs = keras.Input(input_shape)
    x = inputs
    for index, filters in enumerate((8, 16), start=1):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"tiny_conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"tiny_bn{index}")(x)
        x = keras.layers.ReLU(name=f"tiny_relu{index}")(x)
    return keras.Model(inputs, x, name="tiny_cnn")


class TinyBackbonePlugin:
    """A plugin object, as a notebook or a third-party package would write it."""

    @hookimpl
    def food_recognition_register_backbones(self, register: Any) -> None:
        register.add(
            BackboneSpec(
                name="tiny_cnn",
                build=build_tiny_cnn,
                preprocessing="scale_0_1",
                default_input_size=32,
                description="two conv blocks, for tests",
            )
        )


def tiny_manager() -> PluginManager:
    """Built-ins plus the tiny backbone, without installed plugins."""
    return PluginManager(load_entry_points=False, extra_plugins=(TinyBackbonePlugin(),))


def tiny_config(**changes: Any) -> ModelConfig:
    """A ModelConfig on the tiny backbone."""
    return ModelConfig(backbone="tiny_cnn", **changes)


def build_tiny(num_classes: int = 3, **changes: Any) -> Any:
    """Build a classifier on the tiny backbone."""
    from food_recognition.models import build

    return build(tiny_config(**changes), num_classes, manager=tiny_manager())
