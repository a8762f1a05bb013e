"""``food-recognition evaluate``, ``predict`` and ``backbones`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from food_recognition.cli import main
from food_recognition.config import RunConfig
from food_recognition.package import save_package
from tests.fixtures.images import make_food101, write_jpeg
from tests.models.tiny import build_tiny

CLASSES = ("apple_pie", "bibimbap", "caesar_salad")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    model = build_tiny(num_classes=3)
    return save_package(root / "package", model, CLASSES, None, RunConfig())


def test_predict_prints_top_k_and_one_error_line_per_bad_image(
    package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_jpeg(tmp_path / "good.jpg", size=(50, 40))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(good.read_bytes()[:200])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    code = main(
        ["predict", str(package), str(good), str(corrupt), str(text), str(missing), "--top-k", "2"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0] == str(good)
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 2
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"error: {corrupt}: ")
    assert lines[1].startswith(f"error: {text}: ")
    assert lines[2] == f"error: {missing}: No such file or directory"
    assert "Traceback" not in err


def test_predict_json(package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_jpeg(tmp_path / "good.jpg")
    assert main(["predict", str(package), str(good), "--json", "--top-k", "9"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert [p["class"] for p in row["predictions"]] != []
    assert len(row["predictions"]) == 3  # capped at the class count
    assert sum(p["probability"] for p in row["predictions"]) == pytest.approx(1.0, rel=1e-5)


def test_not_a_package_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tmp_path), "x.jpg"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: not a model package: {tmp_path} has no model.keras"
    )


def test_evaluate_writes_into_the_package(
    package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_food101(tmp_path / "food-101", CLASSES, train_per_class=2, test_per_class=3)
    code = main(["evaluate", str(package), "--data", str(data), "--tta", "flip"])
    out = capsys.readouterr().out
    assert code == 0
    assert "test: 9 images" in out and "TTA flip" in out
    report = json.loads((package / "evaluation.json").read_text())
    assert report["tta"]["policy"] == "flip"
    assert (package / "plots" / "confusion_matrix.png").is_file()


def test_backbones_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backbones", "resnet*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "input", "preprocessing", "plugin"]
    assert lines[1].split()[:4] == ["resnet50", "224", "caffe", "built-in"]
    assert main(["backbones", "nothing*"]) == 1


@pytest.mark.parametrize("terminal", [True, False])
def test_evaluate_shows_progress_on_a_terminal_only(
    package: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
) -> None:
    import sys

    data = make_food101(tmp_path / "food-101", CLASSES, train_per_class=2, test_per_class=3)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    code = main(["evaluate", str(package), "--data", str(data), "--no-save", "--batch-size", "4"])
    err = capsys.readouterr().err
    assert code == 0
    if terminal:
        # One redraw per batch of 4, ending on the whole split.
        assert err.count("\revaluating: ") == 3
        assert "\revaluating: 9/9 images (100%)\n" in err
    else:
        assert "evaluating" not in err
