"""The Preprocess layer matches Keras's own preprocessing, mode by mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from food_recognition.config import ModelConfig
from food_recognition.models import backbone_of, build, get_backbone
from food_recognition.models.layers import Preprocess
from food_recognition.models.preprocessing import PREPROCESSING_MODES, preprocess_array

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 6, 5, 3)).astype("float32")


def _keras_reference(mode: str, pixels: np.ndarray) -> np.ndarray:
    imagenet_utils = keras.applications.imagenet_utils
    if mode == "caffe":
        return keras.applications.resnet50.preprocess_input(pixels.copy())
    if mode in ("torch", "tf"):
        return imagenet_utils.preprocess_input(pixels.copy(), mode=mode)
    if mode == "scale_0_1":
        return np.asarray(keras.layers.Rescaling(1 / 255)(pixels))
    return pixels


@pytest.mark.parametrize("mode", PREPROCESSING_MODES)
def test_layer_matches_keras_preprocessing(mode: str) -> None:
    ours = np.asarray(Preprocess(mode)(PIXELS))
    np.testing.assert_allclose(ours, _keras_reference(mode, PIXELS), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours, preprocess_array(PIXELS, mode), rtol=1e-5, atol=1e-4)


def test_caffe_swaps_channels_to_bgr() -> None:
    red = np.zeros((1, 1, 1, 3), "float32")
    red[..., 0] = 255.0
    out = np.asarray(Preprocess("caffe")(red))[0, 0, 0]
    # Red lands in the last (R of BGR) channel.
    assert out.tolist() == pytest.approx([-103.939, -116.779, 255.0 - 123.68])


def test_unknown_mode_lists_the_allowed() -> None:
    with pytest.raises(ValueError, match="'caffe', 'torch'"):
        Preprocess("bgr")


def test_config_round_trip() -> None:
    layer = Preprocess("torch", name="preprocess")
    copy = Preprocess.from_config(layer.get_config())
    assert (copy.mode, copy.name) == ("torch", "preprocess")


def _keras_built_in(name: str) -> keras.Model:
    constructors = {
        "mobilenet_v3_small": keras.applications.MobileNetV3Small,
        "efficientnetv2_b0": keras.applications.EfficientNetV2B0,
        "convnext_tiny": keras.applications.ConvNeXtTiny,
    }
    return constructors[name](
        include_top=False, weights=None, input_shape=(32, 32, 3), include_preprocessing=True
    )


@pytest.mark.parametrize(
    "name",
    [
        "mobilenet_v3_small",
        pytest.param("efficientnetv2_b0", marks=pytest.mark.slow),
        pytest.param("convnext_tiny", marks=pytest.mark.slow),
    ],
)
def test_declared_mode_equals_the_applications_own_preprocessing(name: str) -> None:
    """Our Preprocess + the backbone without preprocessing == Keras with its preprocessing."""
    model = build(ModelConfig(backbone=name, input_size=32), 3)
    features = keras.Model(model.input, model.get_layer("pool").input)
    reference = _keras_built_in(name)
    # Layer names carry global counters, so pair the weighted layers by position;
    # the reference's extra preprocessing layers are the only difference.
    ours = [layer for layer in backbone_of(model).layers if layer.weights]
    theirs = [
        layer
        for layer in reference.layers
        if layer.weights and not isinstance(layer, keras.layers.Normalization)
    ]
    assert len(ours) == len(theirs)
    for mine, source in zip(ours, theirs, strict=True):
        mine.set_weights(source.get_weights())
    assert get_backbone(name).preprocessing != "none"
    images = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(features(images)), np.asarray(reference(images)), rtol=1e-4, atol=1e-4
    )
