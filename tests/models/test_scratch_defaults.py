"""From random weights the defaults learn: the batch-norm momentum the library chooses."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from food_recognition.config import ModelConfig


def _momenta(model: object) -> set[float]:
    import keras

    from food_recognition.models import backbone_of

    return {
        float(layer.momentum)
        for layer in backbone_of(model)._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def test_random_weights_get_a_momentum_that_learns_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from food_recognition.models import build
    from food_recognition.models.factory import SCRATCH_BATCH_NORM_MOMENTUM

    config = ModelConfig(backbone="mobilenet_v3_small", input_size=32)
    with caplog.at_level(logging.INFO, logger="food_recognition.models.factory"):
        model = build(config, 3)
    assert _momenta(model) == {SCRATCH_BATCH_NORM_MOMENTUM} == {0.9}
    assert "batch-norm momentum 0.9" in caplog.text
    chosen = build(
        ModelConfig(backbone="mobilenet_v3_small", input_size=32, batch_norm_momentum=0.5), 3
    )
    assert _momenta(chosen) == {0.5}


def test_pretrained_weights_keep_the_backbones_own_momentum(tmp_path: Path) -> None:
    from food_recognition.models import build, save_backbone_weights

    config = ModelConfig(backbone="mobilenet_v3_small", input_size=32)
    weights = save_backbone_weights(build(config, 3), tmp_path / "backbone.weights.h5")
    model = build(
        ModelConfig(backbone="mobilenet_v3_small", input_size=32, weights=str(weights)), 3
    )
    assert 0.9 not in _momenta(model)


@pytest.mark.slow
def test_from_scratch_with_only_backbone_size_and_epochs_beats_chance(tmp_path: Path) -> None:
    import food_recognition as fr
    from food_recognition.datasets.sample import write_digits_sample

    data = write_digits_sample(tmp_path / "digits", size=64)
    package = fr.train(
        data=data,
        backbone="mobilenet_v3_small",
        input_size=64,
        epochs=10,
        out=tmp_path / "run",
        # Digits are not mirror-symmetric: a flipped 2 is not a 2.
        overrides={"augment.options.horizontal_flip": False},
    )
    report = fr.evaluate(package, data)
    assert report.metrics.accuracy > 0.8, report.summary()
