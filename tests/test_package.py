"""The model package: save, load in safe mode, same probabilities, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from food_recognition.config import RunConfig, with_overrides
from food_recognition.package import PackageError, load_package, save_package
from tests.models.tiny import build_tiny

CLASSES = ("apple_pie", "bibimbap", "caesar_salad")
IMAGES = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype("float32")


def _config() -> RunConfig:
    return with_overrides(
        RunConfig(),
        {"model.backbone": "tiny_cnn", "model.dense_blocks": "2", "tta.policy": "flip"},
    )


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, np.ndarray]:
    model = build_tiny(dense_blocks=2, dense_units=16, batch_norm=True)
    path = save_package(
        tmp_path / "package",
        model,
        CLASSES,
        ("Apple pie", "Bibimbap", "Caesar salad"),
        _config(),
        metrics={"test_accuracy": 0.5},
        history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
    )
    return path, model.predict(IMAGES, verbose=0)


def test_round_trip_gives_identical_probabilities(saved: tuple[Path, np.ndarray]) -> None:
    path, expected = saved
    package = load_package(path)
    np.testing.assert_array_equal(package.predict(IMAGES, batch_size=4), expected)
    assert package.classes == CLASSES
    assert package.human_labels == ("Apple pie", "Bibimbap", "Caesar salad")
    assert package.config == _config()
    assert package.config.tta.policy == "flip"
    assert package.input_size == 32
    assert package.metrics == {"test_accuracy": 0.5}
    assert package.history == {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}


def test_layout_and_no_optimizer_state(saved: tuple[Path, np.ndarray]) -> None:
    path, _ = saved
    assert {p.name for p in path.iterdir()} == {
        "model.keras",
        "labels.json",
        "config.yaml",
        "metrics.json",
        "history.json",
        "plugins.json",
    }
    labels = json.loads((path / "labels.json").read_text())
    assert labels["classes"] == list(CLASSES)
    with zipfile.ZipFile(path / "model.keras") as archive:
        config = archive.read("config.json").decode()
    assert '"class_name": "Lambda"' not in config
    assert "food_recognition>Preprocess" in config


def test_loads_in_a_fresh_process_without_the_backbone_plugin(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, expected = saved
    out = tmp_path / "probabilities.npy"
    code = (
        "import sys, numpy as np; from food_recognition.package import load_package; "
        f"p = load_package({str(path)!r}); "
        f"np.save({str(out)!r}, p.predict(np.load({str(tmp_path / 'images.npy')!r})))"
    )
    np.save(tmp_path / "images.npy", IMAGES)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-6, atol=1e-7)


def test_human_labels_derived_when_not_given(tmp_path: Path) -> None:
    path = save_package(tmp_path / "p", build_tiny(), CLASSES, None, RunConfig())
    assert json.loads((path / "labels.json").read_text())["human_labels"][2] == "Caesar salad"


def test_missing_model_file_is_a_clear_error(saved: tuple[Path, np.ndarray]) -> None:
    path, _ = saved
    (path / "model.keras").unlink()
    with pytest.raises(PackageError, match=f"not a model package: {path} has no model.keras"):
        load_package(path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"no model package at .*: no such folder"):
        load_package(tmp_path / "absent")


def test_labels_that_disagree_with_the_model(saved: tuple[Path, np.ndarray]) -> None:
    path, _ = saved
    (path / "labels.json").write_text(json.dumps({"classes": ["a", "b"]}))
    with pytest.raises(PackageError, match=r"the model has 3 outputs but labels\.json lists 2"):
        load_package(path)


def test_saving_with_the_wrong_class_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="3 outputs but 2 classes"):
        save_package(tmp_path / "p", build_tiny(), CLASSES[:2], None, RunConfig())


def test_predict_names_the_expected_shape(saved: tuple[Path, np.ndarray]) -> None:
    package = load_package(saved[0])
    with pytest.raises(ValueError, match=r"this model takes \[N, 32, 32, 3\]"):
        package.predict(np.zeros((2, 64, 64, 3), "float32"))


# -- classify: the one path from an image to top-k ------------------------------------


def _photo(tmp_path: Path) -> Path:
    from tests.fixtures.images import write_jpeg

    return write_jpeg(tmp_path / "photo.jpg", seed=3, size=(48, 40))


def test_classify_takes_a_path_bytes_a_pil_image_or_an_array_alike(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from PIL import Image

    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.datasets.pipeline import eval_transform

    package = load_package(saved[0])
    photo = _photo(tmp_path)
    pixels = load_image_bytes(photo.read_bytes())
    expected = package.predict(np.asarray(eval_transform(pixels, package.input_size))[None])[0]
    results = [
        package.classify(photo),
        package.classify(str(photo)),
        package.classify(photo.read_bytes()),
        package.classify(Image.open(photo)),
        package.classify(pixels),
    ]
    for result in results:
        np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, atol=1e-6)
        assert result.index == int(expected.argmax())
        assert result.class_name == CLASSES[result.index]
        assert result.label == package.human_labels[result.index]
        assert result.probability == pytest.approx(float(expected.max()))


def test_classify_many_top_k_and_printing(saved: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    package = load_package(saved[0])
    photo = _photo(tmp_path)
    many = package.classify([photo, photo.read_bytes()], top_k=2)
    assert isinstance(many, list) and len(many) == 2
    assert [s.index for s in many[0].top_k] == [s.index for s in many[1].top_k]
    first = many[0]
    assert len(first.top_k) == 2 and first.top_k[0].index == first.index
    assert first.top_k[0].probability >= first.top_k[1].probability
    assert len(package.classify(photo, top_k=50).top_k) == 3  # at most the classes
    batch = np.stack([np.zeros((40, 48, 3), np.uint8), np.full((40, 48, 3), 200, np.uint8)])
    assert len(package.classify(batch)) == 2
    text = str(first)
    assert text.count("%") == 2 and text.startswith(first.label)
    assert "array" not in repr(first)
    with pytest.raises(ValueError, match="top_k=0"):
        package.classify(photo, top_k=0)
    with pytest.raises(ValueError, match="batch_size=0"):
        package.classify(photo, batch_size=0)


def test_classify_with_tta_is_predict_with_tta(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from food_recognition.config import TTAConfig
    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.datasets.pipeline import eval_transform
    from food_recognition.tta import predict_with_tta

    package = load_package(saved[0])
    photo = _photo(tmp_path)
    image = np.asarray(eval_transform(load_image_bytes(photo.read_bytes()), 32))[None]
    expected = predict_with_tta(package, image, TTAConfig(policy="flip")).probabilities[0]
    for tta in ("flip", True, TTAConfig(policy="flip")):  # the package's own policy is flip
        result = package.classify(photo, tta=tta)
        np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5, atol=1e-6)
    plain = package.classify(photo, tta=False).probabilities
    assert not np.allclose(plain, expected)


def test_classify_names_the_file_it_cannot_read(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from food_recognition.datasets.images import ImageError

    package = load_package(saved[0])
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.jpg"):
        package.classify([_photo(tmp_path), bad])
    with pytest.raises(FileNotFoundError):
        package.classify(tmp_path / "missing.jpg")


def test_check_package_names_every_missing_file(saved: tuple[Path, np.ndarray]) -> None:
    from food_recognition.package import CONFIG_FILE, check_package, is_package

    path = saved[0]
    assert is_package(path) and check_package(path) == path
    (path / CONFIG_FILE).unlink()
    assert not is_package(path)
    with pytest.raises(PackageError, match=r"missing config\.yaml"):
        check_package(path)


def test_only_the_package_module_spells_the_package_file_names() -> None:
    from food_recognition.package import MODEL_FILE

    source = Path(__file__).resolve().parents[1] / "food_recognition"
    spelt = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if MODEL_FILE in path.read_text(encoding="utf-8") and path.name != "package.py"
    ]
    assert spelt == []


def test_a_package_naming_a_missing_plugin_is_refused_in_one_line(
    saved: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = saved
    plugins = {"distributions": [{"name": "food-recognition-absent", "version": "9.1"}]}
    (path / "plugins.json").write_text(json.dumps(plugins))
    with pytest.raises(PackageError) as info:
        load_package(path)
    message = str(info.value)
    assert "needs plugin distribution 'food-recognition-absent' (version 9.1)" in message
    assert "pip install food-recognition-absent==9.1" in message and "\n" not in message

    from food_recognition.cli import main

    assert main(["serve", str(path), "--port", "8123"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "'food-recognition-absent'" in err[0]

    dry = path.parent / "deploy"
    assert main(["azure", "deploy", str(path), "--endpoint", "food", "--dry-run", str(dry)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "'food-recognition-absent'" in err[0]
    assert not dry.exists()


def test_the_package_records_no_plugin_for_built_in_names(saved: tuple[Path, np.ndarray]) -> None:
    path, _ = saved
    assert json.loads((path / "plugins.json").read_text()) == {"distributions": []}


def test_the_scorer_the_cli_and_evaluation_run_the_packages_own_forward_pass(
    saved: tuple[Path, np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One path from an image to its top-k: every caller ends in ModelPackage.forward.
    import food_recognition.package as package_module
    from food_recognition.cli import main
    from food_recognition.datasets.splits import Split
    from food_recognition.evaluation import evaluate
    from food_recognition.serving.scoring import Scorer

    traced = package_module._traced_forward
    passes: list[int] = []

    def recording(model: object, size: int) -> object:
        forward = traced(model, size)

        def call(images: np.ndarray) -> np.ndarray:
            passes.append(len(images))
            return forward(images)

        return call

    monkeypatch.setattr(package_module, "_traced_forward", recording)
    path = saved[0]
    photo = _photo(tmp_path)
    flipped = load_package(path).classify(photo, top_k=2, tta="flip")
    single = load_package(path).classify(photo, top_k=2)

    passes.clear()
    answer = Scorer(load_package(path)).handle(photo.read_bytes(), None, {"top_k": "2"})
    assert passes == [2]  # the package's own policy, flip: both views in one pass
    assert [p["class"] for p in answer["predictions"]] == [s.name for s in flipped.top_k]
    assert [p["probability"] for p in answer["predictions"]] == pytest.approx(
        [s.probability for s in flipped.top_k], abs=1e-6
    )
    assert answer["tta"] == {"policy": "flip", "threshold": None, "views": 2, "extra_views": True}

    passes.clear()
    assert main(["predict", str(path), str(photo), "--top-k", "2", "--json"]) == 0
    assert passes == [1]
    row = json.loads(capsys.readouterr().out)
    assert [p["class"] for p in row["predictions"]] == [s.name for s in single.top_k]

    passes.clear()
    split = Split([str(photo)] * 3, [0, 1, 2], CLASSES)
    report = evaluate(load_package(path), split, batch_size=2)
    assert passes[-2:] == [2, 1]  # the split's two batches, after the warm-up passes
    assert report.final.accuracy == pytest.approx(1 / 3)


def test_deploy_refuses_a_package_without_its_config(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    # init() on the endpoint reads config.yaml: a folder without it must not deploy.
    from food_recognition.azure.deploy import (
        DeployError,
        DeploymentSpec,
        EndpointSpec,
        write_yaml,
    )

    path = saved[0]
    (path / "config.yaml").unlink()
    endpoint = EndpointSpec(name="food", compute="aks")
    deployment = DeploymentSpec(endpoint_name="food", model=str(path))
    with pytest.raises(DeployError, match=r"not a model package .*missing config\.yaml"):
        write_yaml(endpoint, deployment, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_guides_name_top_1_accuracy_one_way() -> None:
    # metrics.top1 is the field; every page shows the one name, accuracy.
    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.rst"))]
    assert [page.name for page in pages if ".top1" in page.read_text(encoding="utf-8")] == []


def test_prepare_is_the_evaluation_transform_and_predictions_say_their_views(
    saved: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from food_recognition.config import TTAConfig
    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.datasets.pipeline import eval_transform

    package = load_package(saved[0])
    photo = _photo(tmp_path)
    pixels = load_image_bytes(photo.read_bytes())
    prepared = package.prepare(photo)
    np.testing.assert_allclose(prepared, np.asarray(eval_transform(pixels, 32)), atol=1e-4)
    np.testing.assert_array_equal(package.prepare(pixels), prepared)
    np.testing.assert_allclose(package.forward(prepared[None]), package.predict(prepared[None]))
    single = package.classify(photo)
    assert (single.views, single.extra_views) == (1, False)
    sure = package.classify(photo, tta=TTAConfig(policy="flip", threshold=0.0))
    assert (sure.views, sure.extra_views) == (2, False)  # adaptive: the plain pass sufficed
    np.testing.assert_allclose(sure.probabilities, single.probabilities, rtol=1e-6)
    unsure = package.classify(photo, tta=TTAConfig(policy="flip", threshold=1.0))
    assert (unsure.views, unsure.extra_views) == (2, True)
