"""The built-in backbone plugin: discovery, declared settings, cheap registration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from food_recognition.config import ModelConfig
from food_recognition.models import build, get_backbone, list_backbones

REQUIRED = {
    "resnet50": ("caffe", 224),
    "efficientnetv2_b0": ("torch", 224),
    "efficientnetv2_s": ("none", 384),
    "convnext_tiny": ("torch", 224),
    "mobilenet_v3_small": ("tf", 224),
}


def test_builtins_declare_preprocessing_and_input_size() -> None:
    for name, (mode, size) in REQUIRED.items():
        spec = get_backbone(name)
        assert (spec.preprocessing, spec.default_input_size) == (mode, size)


def test_discovery_by_pattern() -> None:
    assert list_backbones("efficientnet*") == ["efficientnetv2_b0", "efficientnetv2_s"]
    assert set(REQUIRED) <= set(list_backbones())
    assert list_backbones("nothing*") == []


def test_registering_backbones_does_not_import_tensorflow() -> None:
    code = (
        "import sys; from food_recognition.plugins import PluginManager; "
        "assert 'resnet50' in PluginManager(load_entry_points=False).backbones; "
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(list_backbones()))
def test_every_builtin_builds_and_predicts_at_32_px(name: str) -> None:
    model = build(ModelConfig(backbone=name, input_size=32, frozen_layers=10), 4)
    images = np.full((1, 32, 32, 3), 128.0, "float32")
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (1, 4)
    assert probabilities.sum() == pytest.approx(1.0, rel=1e-5)
