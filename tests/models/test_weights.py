"""Weights: ImageNet, a backbone weights file, or a trained model with the head reset."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pytest

from food_recognition.config import ModelConfig, RunConfig
from food_recognition.models import WeightsError, backbone_of, build, save_backbone_weights
from food_recognition.package import save_package
from tests.models.tiny import build_tiny

IMAGES = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")


def _same(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


def test_missing_weights_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "backbone.weights.h5"
    with pytest.raises(WeightsError, match=f"weights file {missing} does not exist"):
        build_tiny(weights=str(missing))


def test_folder_that_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="is not a model package"):
        build_tiny(weights=str(tmp_path))


def test_imagenet_without_network_is_one_clear_error() -> None:
    with pytest.raises(WeightsError, match="could not get ImageNet weights for backbone"):
        build_tiny(weights="imagenet")


def test_backbone_weights_file_round_trip(tmp_path: Path) -> None:
    source = build_tiny()
    path = save_backbone_weights(source, tmp_path / "tiny.weights.h5")
    model = build_tiny(num_classes=7, weights=str(path))
    assert _same(backbone_of(model), backbone_of(source))


def test_weights_of_another_backbone_are_refused(tmp_path: Path) -> None:
    other = build(ModelConfig(backbone="mobilenet_v3_small", input_size=32), 3)
    path = save_backbone_weights(other, tmp_path / "mobilenet.weights.h5")
    with pytest.raises(WeightsError, match=r"could not load .* into backbone 'tiny_cnn'"):
        build_tiny(weights=str(path))


def _package(tmp_path: Path, num_classes: int, **changes: object) -> tuple[keras.Model, Path]:
    model = build_tiny(num_classes=num_classes, dense_blocks=1, dense_units=16, **changes)
    classes = [f"class_{i}" for i in range(num_classes)]
    path = save_package(tmp_path / "package", model, classes, None, RunConfig())
    return model, path


def test_same_classes_start_from_the_whole_model(tmp_path: Path) -> None:
    source, path = _package(tmp_path, 3)
    model = build_tiny(num_classes=3, dense_blocks=1, dense_units=16, weights=str(path))
    np.testing.assert_array_equal(
        model.predict(IMAGES, verbose=0), source.predict(IMAGES, verbose=0)
    )


def test_other_class_count_resets_only_the_output_layer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, path = _package(tmp_path, 3)
    with caplog.at_level(logging.INFO, logger="food_recognition.models.factory"):
        model = build_tiny(
            num_classes=5, dense_blocks=1, dense_units=16, weights=str(path / "model.keras")
        )
    assert model.output_shape == (None, 5)
    assert _same(backbone_of(model), backbone_of(source))
    assert _same(model.get_layer("head_dense_0"), source.get_layer("head_dense_0"))
    assert "head layers logits start fresh (source outputs 3 classes, this model 5)" in caplog.text


def test_a_different_backbone_is_refused(tmp_path: Path) -> None:
    _, path = _package(tmp_path, 3)
    config = ModelConfig(backbone="mobilenet_v3_small", input_size=32, weights=str(path))
    with pytest.raises(WeightsError, match="does not fit this model's backbone"):
        build(config, 3)
