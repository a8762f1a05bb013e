"""Pixel preprocessing modes as data: the constants and a NumPy reference.

Every model takes float32 pixels in ``[0, 255]``; its first layer
(:class:`food_recognition.models.layers.Preprocess`) turns them into what the
backbone expects. The modes are the ones Keras applications use:

========== =================================================================
mode       what happens to an RGB pixel ``x`` in ``[0, 255]``
========== =================================================================
caffe      RGB -> BGR, then minus the ImageNet mean in BGR order (ResNet50)
torch      ``x / 255``, then minus the ImageNet mean, divided by its std
tf         ``x / 127.5 - 1``, so ``[-1, 1]``
scale_0_1  ``x / 255``
none       unchanged (the backbone preprocesses itself)
========== =================================================================

This module needs only NumPy, so it can be read (and tested) without TensorFlow.

>>> import numpy as np
>>> print(preprocess_array(np.array([[255.0, 0.0, 127.5]]), "tf"))
[[ 1. -1.  0.]]
>>> print(preprocess_array(np.array([[0.0, 0.0, 0.0]]), "caffe").round(3))
[[-103.939 -116.779 -123.68 ]]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from food_recognition.plugins.registry import PREPROCESSING_MODES

__all__ = [
    "CAFFE_MEAN_BGR",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "PREPROCESSING_MODES",
    "check_mode",
    "preprocess_array",
]

#: ImageNet channel means in BGR order on the ``[0, 255]`` scale (caffe mode).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: ImageNet channel means in RGB order on the ``[0, 1]`` scale (torch mode).
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviations in RGB order on the ``[0, 1]`` scale (torch mode).
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`PREPROCESSING_MODES`.

    :param mode: a preprocessing mode name.
    :returns: the same name.
    :raises ValueError: an unknown mode; the message lists the allowed ones.
    """
    if mode not in PREPROCESSING_MODES:
        raise ValueError(
            f"unknown preprocessing mode {mode!r}; choose one of "
            f"{', '.join(map(repr, PREPROCESSING_MODES))}"
        )
    return mode


def preprocess_array(images: npt.ArrayLike, mode: str) -> npt.NDArray[np.float32]:
    """Apply a preprocessing mode to RGB pixels in ``[0, 255]`` with NumPy.

    The reference the Keras layer is tested against; the last axis is the channel.

    :param images: an array whose last axis holds R, G, B in ``[0, 255]``.
    :param mode: one of :data:`PREPROCESSING_MODES`.
    :returns: a float32 array of the same shape.
    :raises ValueError: an unknown mode.
    """
    check_mode(mode)
    x = np.asarray(images, dtype=np.float32)
    if mode == "caffe":
        return (x[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, np.float32)).astype(np.float32)
    if mode == "torch":
        mean = np.asarray(IMAGENET_MEAN_RGB, np.float32)
        std = np.asarray(IMAGENET_STD_RGB, np.float32)
        return ((x / 255.0 - mean) / std).astype(np.float32)
    if mode == "tf":
        return (x / 127.5 - 1.0).astype(np.float32)
    if mode == "scale_0_1":
        return (x / 255.0).astype(np.float32)
    return x
