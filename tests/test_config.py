"""Configs: validation messages, dict/YAML round trips, dotted overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import hypothesis.strategies as st
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

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
    from_yaml_text,
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


# -- numbers that make no sense, files that hold no config (issue 14, items 5-7) ------------


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "1e999"]
)
@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (TrainingConfig, "learning_rate"),
        (TrainingConfig, "weight_decay"),
        (AugmentConfig, "mixup_alpha"),
        (ModelConfig, "batch_norm_momentum"),
        (TTAConfig, "threshold"),
    ],
)
def test_non_finite_floats_are_refused(cls: type, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.{name}=.* must be a finite number$"):
        cls(**{name: value})


@pytest.mark.parametrize("value", [1.5, "1.5", "2e-1", True, False, float("nan"), "inf"])
@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (TrainingConfig, "epochs"),
        (TrainingConfig, "steps_per_epoch"),
        (DataConfig, "batch_size"),
        (DataConfig, "max_per_class"),
        (ModelConfig, "input_size"),
        (TTAConfig, "seed"),
    ],
)
def test_integer_fields_refuse_fractions_and_booleans(cls: type, name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.{name}=.* must be a "):
        cls(**{name: value})


@pytest.mark.parametrize(("value", "expected"), [(3.0, 3), ("3", 3), ("3.0", 3), ("1e2", 100)])
def test_integer_fields_take_whole_numbers_in_any_spelling(value: object, expected: int) -> None:
    assert TrainingConfig(epochs=value).epochs == expected  # type: ignore[arg-type]


def test_options_refuse_non_finite_numbers() -> None:
    with pytest.raises(ConfigError, match=r"AugmentConfig.options\['rotation'\]=nan"):
        with_overrides(RunConfig(), {"augment.options.rotation": ".nan"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("training:\n  learning_rate: .nan\n", "TrainingConfig.learning_rate=nan must be a finite"),
        ("training:\n  epochs: 1.5\n", "TrainingConfig.epochs=1.5 must be a whole number"),
        ("training:\n  epochs: true\n", "epochs=True must be a whole number, not true or false"),
        ("training: [1, 2]\n", "TrainingConfig must be a mapping, got list"),
        ("data:\n  path: 7\n", "DataConfig.path=7 must be a non-empty string"),
        ("model: {backbone: [\n", "not valid YAML: "),
        (f"training:\n  epochs: {'9' * 5000}\n", "more than 4,300 digits"),
        ("training: !!python/object:os.system {}\n", "not valid YAML: could not determine"),
    ],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(RunConfig, path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and fragment in message
    assert "\n" not in message and len(message) < 400


def test_a_data_path_may_be_a_path_object(tmp_path: Path) -> None:
    assert DataConfig(path=tmp_path).path == str(tmp_path)  # type: ignore[arg-type]


def test_an_empty_section_keeps_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("training:\nmodel:\n  backbone: mobilenet_v3_small\n")
    config = load_yaml(RunConfig, path)
    assert config.training == TrainingConfig() and config.model.backbone == "mobilenet_v3_small"


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
def test_a_config_file_that_cannot_be_read_is_a_config_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "run.yaml"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=rf"^{path}: "):
        load_yaml(RunConfig, path)


# -- fuzz: generated YAML and --set overrides never escape as anything but a ConfigError -----

PATHS = [*sorted(field_paths(RunConfig)), "augment.options.rotation", "tta.options.passes"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**4299, max_value=10**4400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["nan", ".inf", "1.5", "3", "-1", "none", "true", "", "[", "{a: 1}"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def nested(paths_and_values: dict[str, object]) -> dict[str, object]:
    """``{"training.epochs": 3}`` as ``{"training": {"epochs": 3}}``."""
    tree: dict[str, object] = {}
    for path, value in paths_and_values.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[leaf] = value
    return tree


def assert_config_or_one_line(build: Callable[[], object]) -> None:
    try:
        config = build()
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message, message
        assert "Traceback" not in message
    else:
        assert isinstance(config, RunConfig)
        assert from_dict(RunConfig, to_dict(config)) == config  # a valid config round-trips


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(PATHS) | st.text(max_size=12), VALUES, max_size=5))
def test_fuzz_yaml_documents(fields: dict[str, object]) -> None:
    try:
        text = yaml.safe_dump(nested(fields), allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return  # not representable as YAML (an int past the int-string limit)
    assert_config_or_one_line(lambda: from_yaml_text(RunConfig, text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_yaml_text(text: str) -> None:
    assert_config_or_one_line(lambda: from_yaml_text(RunConfig, text))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS) | st.text(max_size=20), st.text(max_size=30)), max_size=4
    )
)
def test_fuzz_set_overrides(pairs: list[tuple[str, str]]) -> None:
    # What ``--set PATH=VALUE`` and ``--section.field VALUE`` hand over: strings.
    assert_config_or_one_line(lambda: with_overrides(RunConfig(), dict(pairs)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40) | st.sampled_from([f"{p}=nan" for p in PATHS]), max_size=3))
def test_fuzz_the_set_option_as_the_command_line_parses_it(items: list[str]) -> None:
    import argparse

    from food_recognition.cli.config_args import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args([f"--set={item}" for item in items])
    assert_config_or_one_line(lambda: config_from_args(args))
