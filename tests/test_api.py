"""The facade: what ``import food_recognition`` gives a user, and that it stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import food_recognition as fr
from food_recognition.config import ConfigError, RunConfig, TTAConfig, save_yaml
from food_recognition.datasets import load_dataset
from food_recognition.package import ModelPackage, load_package, save_package
from tests.fixtures.images import make_food101
from tests.models.tiny import build_tiny

CLASSES = ("apple_pie", "bibimbap", "caesar_salad")


def test_import_is_lazy_and_exports_the_calls() -> None:
    code = (
        "import sys, food_recognition as fr\n"
        "names = [fr.train, fr.evaluate, fr.load_package, fr.ModelPackage, fr.Prediction,"
        " fr.RunConfig, fr.resolve_config]\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "none"
    for name in fr.__all__:
        assert getattr(fr, name) is not None
    assert set(fr.__all__) <= set(dir(fr))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        fr.trian  # noqa: B018


def test_resolve_config_applies_keywords_over_a_config_or_a_yaml_file(tmp_path: Path) -> None:
    base = RunConfig(model=RunConfig().model.__class__(backbone="resnet50", weights="imagenet"))
    run = fr.resolve_config(
        base,
        data=tmp_path,
        backbone="mobilenet_v3_small",
        input_size=64,
        epochs=3,
        batch_size=8,
        learning_rate=0.01,
        overrides={"augment.options.horizontal_flip": False},
    )
    assert run.data.path == str(tmp_path)
    assert (run.model.backbone, run.model.input_size) == ("mobilenet_v3_small", 64)
    assert (run.training.epochs, run.data.batch_size, run.training.learning_rate) == (3, 8, 0.01)
    assert run.augment.options["horizontal_flip"] is False
    assert run.model.weights == "imagenet"  # not given: the config's value stays
    assert fr.resolve_config(base, weights=None).model.weights is None
    assert fr.resolve_config(base, weights=tmp_path / "w.h5").model.weights == str(
        tmp_path / "w.h5"
    )
    path = save_yaml(base, tmp_path / "run.yaml")
    assert fr.resolve_config(path, epochs=2).model.weights == "imagenet"
    assert fr.resolve_config() == RunConfig()


def test_resolve_config_refuses_an_unknown_field() -> None:
    with pytest.raises(ConfigError, match=r"training\.epoch"):
        fr.resolve_config(overrides={"training.epoch": 3})


def test_train_refuses_a_data_folder_without_a_data_set_before_training(tmp_path: Path) -> None:
    from food_recognition.datasets import DatasetLayoutError

    with pytest.raises(DatasetLayoutError):
        fr.train(data=tmp_path / "missing", backbone="tiny_cnn", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelPackage, Path]:
    root = tmp_path_factory.mktemp("api")
    tree = make_food101(root / "food-101", CLASSES, train_per_class=2, test_per_class=4)
    model = build_tiny(num_classes=len(CLASSES), dropout=0.0)
    config = RunConfig(tta=TTAConfig(policy="flip"))
    path = save_package(root / "package", model, CLASSES, None, config)
    return load_package(path), tree


def test_evaluate_takes_a_folder_or_a_package_and_a_path_or_a_split(
    case: tuple[ModelPackage, Path],
) -> None:
    package, tree = case
    by_path = fr.evaluate(package.path, tree, tta="flip")
    split = load_dataset(tree).test
    by_split = fr.evaluate(package, split)
    assert by_path.num_images == by_split.num_images == len(split) == 12
    np.testing.assert_allclose(
        by_path.metrics.probabilities, by_split.metrics.probabilities, rtol=1e-5
    )
    assert by_path.tta is not None and by_path.tta.policy == "flip"
    assert by_split.tta is None
    own = fr.evaluate(package, split, tta=True)
    assert own.tta == package.config.tta
    with pytest.raises(ValueError, match="split='tset'"):
        fr.evaluate(package, tree, split="tset")


def test_evaluate_reports_progress_to_the_end(case: tuple[ModelPackage, Path]) -> None:
    package, tree = case
    seen: list[tuple[int, ...]] = []
    fr.evaluate(
        package, tree, batch_size=5, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(5, 12), (10, 12), (12, 12)]


def test_report_prints_its_summary_not_its_arrays(case: tuple[ModelPackage, Path]) -> None:
    package, tree = case
    report = fr.evaluate(package, tree, tta="flip")
    assert str(report) == report.summary()
    assert "top-1 accuracy" in str(report) and "TTA flip" in str(report)
    text = repr(report)
    assert text.startswith("EvaluationReport(split='test', num_images=12, accuracy=")
    assert "tta='flip'" in text and "array" not in text and len(text) < 200
    assert "array" not in repr(report.metrics) and len(repr(report.metrics)) < 200
    assert report.metrics.accuracy == report.metrics.top1
