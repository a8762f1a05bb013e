"""evaluate(): metrics equal NumPy's on a fixed model; TTA column; files in the package."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import numpy as np
import pytest

from food_recognition.config import RunConfig, TTAConfig
from food_recognition.datasets import Split, load_dataset
from food_recognition.datasets.pipeline import eval_dataset
from food_recognition.evaluation import EvaluationError, evaluate
from food_recognition.package import ModelPackage, load_package, save_package
from tests.datasets.odd_images import bogus_huffman_jpeg, write
from tests.fixtures.images import make_food101
from tests.models.tiny import build_tiny

CLASSES = ("apple_pie", "bibimbap", "caesar_salad", "donuts")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelPackage, Split]:
    root = tmp_path_factory.mktemp("eval")
    tree = make_food101(root / "food-101", CLASSES, train_per_class=2, test_per_class=5)
    dataset = load_dataset(tree)
    model = build_tiny(num_classes=len(CLASSES), dropout=0.0)
    history = {"loss": [1.5, 1.0], "val_loss": [1.6, 1.2], "accuracy": [0.3, 0.5]}
    path = save_package(root / "package", model, CLASSES, None, RunConfig(), history=history)
    return load_package(path), dataset.test


def _expected(package: ModelPackage, split: Split) -> tuple[np.ndarray, np.ndarray]:
    batches = eval_dataset(split, image_size=package.input_size, batch_size=7)
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    return package.predict(images), np.asarray(split.labels)


def test_metrics_equal_numpy_on_a_fixed_model(case: tuple[ModelPackage, Split]) -> None:
    package, split = case
    report = evaluate(package, split, batch_size=3)
    probabilities, labels = _expected(package, split)
    assert report.num_images == len(labels) == 20
    assert report.metrics.top1 == pytest.approx(float((probabilities.argmax(1) == labels).mean()))
    picked = probabilities[np.arange(len(labels)), labels]
    assert report.metrics.log_loss == pytest.approx(float(-np.log(picked).mean()), rel=1e-5)
    assert report.metrics.top5 == 1.0  # four classes
    assert report.seconds_per_image > 0
    assert report.tta_metrics is None
    wrong = int((probabilities.argmax(1) != labels).sum())
    assert len(report.worst_mistakes) == min(wrong, 16)


def test_identity_tta_equals_single_view_and_flip_differs(
    case: tuple[ModelPackage, Split],
) -> None:
    package, split = case
    same = evaluate(package, split, tta=TTAConfig(policy="identity"))
    assert same.tta_metrics is not None
    np.testing.assert_allclose(
        same.tta_metrics.probabilities, same.metrics.probabilities, rtol=1e-5, atol=1e-6
    )
    flip = evaluate(package, split, tta=TTAConfig(policy="flip"))
    assert flip.tta_metrics is not None and flip.tta_extra_view_images == 20
    assert not np.allclose(flip.tta_metrics.probabilities, flip.metrics.probabilities)
    assert "TTA flip" in flip.summary()


def test_save_writes_report_and_plots_into_the_package(
    case: tuple[ModelPackage, Split],
) -> None:
    package, split = case
    report = evaluate(package, split, save=True)
    saved = json.loads((package.path / "evaluation.json").read_text())
    assert saved["metrics"]["top1"] == pytest.approx(report.metrics.top1)
    assert saved["split"] == "test"
    plots = package.path / "plots"
    names = {p.name for p in plots.glob("*.png")}
    assert names == {
        "confusion_matrix.png",
        "most_confused.png",
        "per_class_accuracy.png",
        "worst_mistakes.png",
        "training_curves.png",
    }
    for png in plots.glob("*.png"):
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_split_classes_are_mapped_by_name(case: tuple[ModelPackage, Split]) -> None:
    package, split = case
    reordered = tuple(reversed(CLASSES))
    remapped = attrs.evolve(
        split,
        labels=tuple(reordered.index(CLASSES[label]) for label in split.labels),
        classes=reordered,
    )
    plain = evaluate(package, split)
    mapped = evaluate(package, remapped)
    assert mapped.metrics.top1 == plain.metrics.top1
    np.testing.assert_array_equal(mapped.metrics.confusion, plain.metrics.confusion)


def test_unknown_classes_are_refused(case: tuple[ModelPackage, Split], tmp_path: Path) -> None:
    package, split = case
    stranger = attrs.evolve(split, classes=("pho", *CLASSES[1:]))
    with pytest.raises(EvaluationError, match="1 classes the package does not know \\(pho\\)"):
        evaluate(package, stranger)


def test_an_image_tensorflow_cannot_decode_is_left_out_and_reported(
    case: tuple[ModelPackage, Split], tmp_path: Path
) -> None:
    package, split = case
    bad = write(tmp_path / "bad.jpg", bogus_huffman_jpeg())
    with_bad = Split((str(bad), *split.paths), (0, *split.labels), split.classes)
    report = evaluate(package, with_bad, batch_size=3)
    plain = evaluate(package, split, batch_size=3)
    assert report.num_images == plain.num_images == 20
    assert report.metrics.top1 == plain.metrics.top1
    [(path, reason)] = report.undecodable
    assert path == str(bad) and reason
    assert report.to_dict()["undecodable"] == [{"path": str(bad), "reason": reason}]
    assert "left out 1 image(s) TensorFlow cannot decode" in report.summary()


class _Clock:
    """A clock that only the model moves: one tick per image, 100 per graph trace."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class _TracingModel:
    """A forward pass that costs what a traced Keras call costs, on a fake clock.

    The worst case of the two traced calls in play: Keras's predict function is a
    ``tf.function(reduce_retracing=True)``: it traces at the first batch size,
    again at the second, and that second trace (with an unknown batch size) then
    serves every size (keras/src/backend/tensorflow/trainer.py,
    ``make_predict_function``); the package's forward pass traces once.
    """

    def __init__(self, model: object, clock: _Clock) -> None:
        # Not ``.model``: predict_with_tta would unwrap it and bypass the clock.
        self.inner, self.clock, self.sizes = model, clock, set[int]()

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        if len(self.sizes) < 2 and len(batch) not in self.sizes:
            self.sizes.add(len(batch))
            self.clock.now += 100.0
        self.clock.now += len(batch)
        return np.asarray(self.inner.predict_on_batch(batch))  # type: ignore[attr-defined]


def test_tta_time_per_image_counts_its_views_and_no_tracing(
    case: tuple[ModelPackage, Split], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import types

    # By name: the package's ``evaluate`` attribute is the function, not the module.
    evaluate_module = importlib.import_module("food_recognition.evaluation.report")
    tta_predict = importlib.import_module("food_recognition.tta.predict")

    package, split = case
    clock = _Clock()
    fake_time = types.SimpleNamespace(perf_counter=clock.perf_counter)
    monkeypatch.setattr(evaluate_module, "time", fake_time)
    monkeypatch.setattr(tta_predict, "time", fake_time)
    package_module = importlib.import_module("food_recognition.package")
    # The package's forward pass is this model's, so the fake clock sees every pass.
    monkeypatch.setattr(
        package_module, "_traced_forward", lambda model, size: model.predict_on_batch
    )
    timed = attrs.evolve(package, model=_TracingModel(package.model, clock))
    # 20 images in batches of 8: flip sends 8 views a pass, so only the last batch
    # (4 images) meets a new size, which the warm-up must have traced.
    report = evaluate(timed, split, batch_size=8, tta=TTAConfig(policy="flip"))
    assert report.seconds_per_image == pytest.approx(1.0)  # one tick per image, no trace
    assert report.tta_seconds_per_image == pytest.approx(2.0)  # two views per image
    assert report.tta_views_per_image == pytest.approx(2.0)
    rows = {line[:18].strip(): line[18:].split() for line in report.summary().splitlines()}
    assert rows["views per image"] == ["1.00", "2.00"]
    assert rows["ms per image"] == ["1000.00", "2000.00"]
