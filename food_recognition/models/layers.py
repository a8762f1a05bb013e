"""Keras layers of our models, registered so a saved model loads in safe mode.

Importing this module imports Keras (and so TensorFlow); the model package and
:func:`food_recognition.models.build` import it when they need it.
"""

from __future__ import annotations

from typing import Any

import keras

from food_recognition.models.preprocessing import (
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    check_mode,
)

__all__ = ["Preprocess"]


@keras.saving.register_keras_serializable(package="food_recognition")
class Preprocess(keras.layers.Layer):  # type: ignore[misc]
    """Turn float32 RGB pixels in ``[0, 255]`` into a backbone's input.

    The first layer of every model :func:`~food_recognition.models.build`
    makes, so training, evaluation and serving share one definition and
    nothing is rescaled twice. See :mod:`food_recognition.models.preprocessing`
    for the modes.

    :param mode: one of ``caffe``, ``torch``, ``tf``, ``scale_0_1``, ``none``.
    :param kwargs: the usual Keras layer arguments (``name``, ``dtype``).
    :raises ValueError: an unknown mode.
    """

    def __init__(self, mode: str = "none", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_mode(mode)

    def call(self, inputs: Any) -> Any:
        """Apply the mode to a batch ``[..., 3]``."""
        ops = keras.ops
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, x.dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor(IMAGENET_MEAN_RGB, x.dtype)
            std = ops.convert_to_tensor(IMAGENET_STD_RGB, x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "scale_0_1":
            return x / 255.0
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The layer's config, with ``mode``."""
        config: dict[str, Any] = super().get_config()
        config["mode"] = self.mode
        return config
