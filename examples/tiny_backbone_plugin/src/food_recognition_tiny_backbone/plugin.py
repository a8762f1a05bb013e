"""The plugin module named by the entry point: two hook implementations.

food_recognition calls ``food_recognition_register_backbones`` with a register;
the backbone's builder imports Keras only when a model is built, so listing
plugins stays fast. ``food_recognition_load_layers`` registers the plugin's
own layer (:mod:`food_recognition_tiny_backbone.layers`) before a model
package that needs it is loaded (serving, evaluation).
"""

from __future__ import annotations

from typing import Any

from food_recognition.plugins import BackboneSpec, hookimpl


def build_tiny_cnn(input_shape: tuple[int, int, int], weights: str | None = None) -> Any:
    """Three conv blocks; returns a Keras model without a classification top.

    :param input_shape: ``(height, width, 3)``.
    :param weights: ``None`` or a path to a ``.weights.h5`` file of this backbone.
    """
    import keras

    from food_recognition_tiny_backbone.layers import ChannelScale

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for index, filters in enumerate((16, 32, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"tiny_conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"tiny_bn{index}")(x)
        x = keras.layers.Activation("relu", name=f"tiny_relu{index}")(x)
        x = keras.layers.MaxPooling2D(name=f"tiny_pool{index}")(x)
    x = ChannelScale(name="tiny_scale")(x)
    model = keras.Model(inputs, x, name="tiny_cnn")
    if weights is not None:
        model.load_weights(weights)
    return model


@hookimpl
def food_recognition_register_backbones(register: Any) -> None:
    """Add ``tiny_cnn``."""
    register.add(
        BackboneSpec(
            name="tiny_cnn",
            build=build_tiny_cnn,
            preprocessing="scale_0_1",
            default_input_size=64,
            description="three conv blocks (example plugin; CPUs and tests)",
        )
    )


@hookimpl
def food_recognition_load_layers() -> None:
    """Register ``ChannelScale`` with Keras (a model with ``tiny_cnn`` contains it)."""
    import food_recognition_tiny_backbone.layers  # noqa: F401
