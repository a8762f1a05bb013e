"""The plugin's own Keras layer: a model with ``tiny_cnn`` inside contains it.

Registered with Keras by name (``tiny_backbone>ChannelScale``), so a saved model
loads in safe mode once this module is imported; food_recognition imports it
through the plugin's ``food_recognition_load_layers`` hook before it loads a
model package that names this distribution.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="tiny_backbone")
class ChannelScale(keras.layers.Layer):
    """Multiplies each channel by a learned scale (starting at 1)."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", name="scale", trainable=True
        )

    def call(self, inputs: Any) -> Any:
        return inputs * keras.ops.cast(self.scale, inputs.dtype)
