"""Configs: validation messages, dict/YAML round trips, dotted overrides."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from food_recognition.config import (
    AugmentConfig,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainingConfig,
    TTAConfig,
    field_paths,
    from_dict,
    load_yaml,
    save_yaml,
    to_dict,
    with_overrides,
)

ALL = (DataConfig, ModelConfig, AugmentConfig, TrainingConfig, TTAConfig, RunConfig)


def _non_default() -> RunConfig:
    return RunConfig(
        data=DataConfig(path="/data/food-101", layout="food101", batch_size=8, max_per_class=3),
        model=ModelConfig(
            backbone="efficientnetv2_b0",
            weights="imagenet",
            input_size=96,
            frozen_layers=-1,
            pooling="flatten",
            dense_blocks=2,
            batch_norm=True,
        ),
        augment=AugmentConfig(
            policy="reference", options={"rotation": 40, "flip": True}, mixup_alpha=0.2
        ),
        training=TrainingConfig(
            epochs=3,
            schedule="cosine",
            early_stopping_patience=None,
            tracking_uri="file:///tmp/mlruns",
        ),
        tta=TTAConfig(policy="ten_crop", threshold=0.6, merge="mean_logit"),
    )


@pytest.mark.parametrize("cls", ALL)
def test_defaults_round_trip_through_dict(cls: type) -> None:
    value = cls()
    assert from_dict(cls, to_dict(value)) == value


def test_non_default_values_round_trip_through_yaml(tmp_path: Path) -> None:
    config = _non_default()
    path = save_yaml(config, tmp_path / "run.yaml")
    loaded = load_yaml(RunConfig, path)
    assert loaded == config
    assert loaded.augment.options["rotation"] == 40
    assert loaded.model.weights == "imagenet" and loaded.training.early_stopping_patience is None


def test_configs_are_frozen_and_hashable() -> None:
    config = _non_default()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.model.backbone = "x"  # type: ignore[misc]
    assert hash(config) == hash(_non_default())
    assert attrs.evolve(config.training, epochs=4).epochs == 4


@pytest.mark.parametrize(
    ("cls", "kwargs", "fragments"),
    [
        (
            ModelConfig,
            {"pooling": "mean"},
            ["ModelConfig.pooling", "'mean'", "'avg', 'max', 'flatten'"],
        ),
        (TrainingConfig, {"epochs": 0}, ["TrainingConfig.epochs", "[1, inf)"]),
        (TrainingConfig, {"schedule": "step"}, ["'one_cycle', 'cosine', 'constant'"]),
        (DataConfig, {"validation_fraction": 1.5}, ["DataConfig.validation_fraction", "0.9]"]),
        (TTAConfig, {"threshold": 2}, ["TTAConfig.threshold"]),
        (AugmentConfig, {"options": {"rotation": [1, 2]}}, ["AugmentConfig.options['rotation']"]),
        (DataConfig, {"batch_size": "many"}, ["DataConfig.batch_size", "'many'", "number"]),
    ],
)
def test_bad_values_name_field_and_allowed(cls: type, kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_key_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match=r"no field 'epoch' \(did you mean 'epochs'\?\)"):
        from_dict(TrainingConfig, {"epoch": 3})


def test_bad_yaml_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  backbone: resnet50\n  poolng: avg\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(RunConfig, path)
    assert str(path) in str(info.value) and "pooling" in str(info.value)


def test_overrides_convert_strings_like_a_command_line() -> None:
    config = with_overrides(
        RunConfig(),
        {
            "training.epochs": "7",
            "training.learning_rate": "3e-4",
            "data.cache": "true",
            "model.weights": "none",
            "augment.options.rotation": "40",
            "augment.options.flip": "true",
        },
    )
    assert config.training.epochs == 7
    assert config.training.learning_rate == pytest.approx(3e-4)
    assert config.data.cache is True
    assert config.model.weights is None
    assert dict(config.augment.options) == {"rotation": 40, "flip": True}


def test_override_of_unknown_path_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'model\.backbone'"):
        with_overrides(RunConfig(), {"model.backbon": "x"})


def test_field_paths_cover_every_leaf() -> None:
    paths = field_paths(RunConfig)
    assert "model.backbone" in paths and "tta.threshold" in paths
    assert len(paths) == sum(len(attrs.fields(cls)) for cls in ALL[:-1])
