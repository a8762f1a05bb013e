"""Every bad input is one line on stderr and exit code 2: the error family, command by command.

The walks read the commands from the argument parser itself, so a command
added later is covered without editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import food_recognition
from food_recognition.cli import build_parser, main
from food_recognition.errors import FoodRecognitionError

REPO = Path(__file__).resolve().parents[2]


def leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable command: ``(("azure", "deploy"), its parser)``."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
        return
    for group in groups:
        for name, child in group.choices.items():
            yield from leaf_commands(child, (*path, name))


COMMANDS = dict(leaf_commands(build_parser()))


def required_arguments(parser: argparse.ArgumentParser, missing: Path) -> list[str]:
    """Values for a command's required positionals and options: paths that do not exist."""
    argv: list[str] = []
    for action in parser._actions:
        if action.option_strings:
            if action.required:
                argv += [action.option_strings[-1], str(missing / action.dest)]
        elif action.nargs not in ("?", "*", argparse.SUPPRESS) and not isinstance(
            action, argparse._SubParsersAction
        ):
            argv.append(str(missing / action.dest))
    return argv


def has_required_arguments(parser: argparse.ArgumentParser) -> bool:
    return bool(required_arguments(parser, Path("x")))


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and no Azure settings: nothing to fall back on."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("AZURE_", "AZUREML_", "FOOD_RECOGNITION_ENDPOINT")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FOOD_RECOGNITION_CACHE", str(tmp_path / "cache"))
    return tmp_path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def test_the_walk_finds_the_commands() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"train", "data download", "azure deploy", "serve", "predict"} <= names
    assert len(names) >= 20


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_an_unknown_option_is_one_line(
    command: tuple[str, ...], clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--no-such-option"])
    assert info.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--no-such-option" in line or "required" in line


@pytest.mark.parametrize(
    "command",
    sorted(c for c, parser in COMMANDS.items() if has_required_arguments(parser)),
    ids=" ".join,
)
def test_inputs_that_do_not_exist_are_one_line(
    command: tuple[str, ...], clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The handler runs: each missing file, folder, package, job or workspace must
    # come back as one line naming it, before anything expensive starts.
    argv = [*command, *required_arguments(COMMANDS[command], clean_env / "missing")]
    assert main(argv) == 2, argv
    one_error_line(capsys.readouterr().err)


def library_modules() -> Iterator[str]:
    for info in pkgutil.walk_packages(food_recognition.__path__, "food_recognition."):
        if not info.name.endswith("__main__"):
            yield info.name


def test_every_library_exception_belongs_to_the_family() -> None:
    outside = []
    for name in library_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not issubclass(value, FoodRecognitionError)
            ):
                outside.append(f"{name}.{value.__name__}")
    assert outside == []


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZUREML_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "food_recognition", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("case", ["missing", "a file", "empty config"])
def test_train_with_no_data_set_is_one_line_on_the_console(tmp_path: Path, case: str) -> None:
    (tmp_path / "notes.txt").write_text("not a data set")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    args = {
        "missing": ["--data.path", str(tmp_path / "food-101")],
        "a file": ["--data.path", str(tmp_path / "notes.txt")],
        "empty config": ["--config", str(tmp_path / "empty.yaml")],
    }[case]
    result = run_cli("train", "--output", str(tmp_path / "out"), *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    expected = {"missing": "not a folder", "a file": "not a folder", "empty config": "empty"}
    assert expected[case] in line
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--training.learning_rate", "nan"], "learning_rate=nan must be a finite number"),
        (["--set", "training.learning_rate=inf"], "learning_rate=inf must be a finite number"),
        (["--training.epochs", "1.5"], "epochs='1.5' must be a whole number"),
        (["--data.batch_size", "true"], "batch_size='true' must be a number"),
        (["--set", "augment.options.rotation=.nan"], "must be a finite number"),
    ],
)
def test_non_finite_and_fractional_numbers_are_refused_before_training(
    tmp_path: Path, option: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--output", str(tmp_path / "out"), *option])
    assert code == 2
    assert fragment in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_yaml_nan_learning_rate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("training:\n  learning_rate: .nan\n  epochs: 2\n")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"error: {config}: TrainingConfig.learning_rate=nan must be a finite number")


@pytest.fixture
def nan_package(tmp_path: Path) -> Path:
    """What a NaN learning rate leaves behind: a package whose every weight is NaN."""
    import numpy as np

    from food_recognition.config import RunConfig
    from food_recognition.package import save_package
    from tests.models.tiny import build_tiny

    model = build_tiny(num_classes=3)
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    return save_package(tmp_path / "package", model, CLASSES, None, RunConfig())


CLASSES = ("apple_pie", "bibimbap", "caesar_salad")


def strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        pytest.fail(f"{name} printed as JSON")

    return json.loads(text, parse_constant=refuse)


def test_predict_json_never_prints_nan(
    nan_package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.images import write_jpeg

    image = write_jpeg(tmp_path / "photo.jpg")
    code = main(["predict", str(nan_package), str(image), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "non-finite probabilities" in one_error_line(err)
    for line in out.splitlines():  # whatever was printed is strict JSON
        strict_json(line)


def test_evaluate_json_maps_non_finite_metrics_to_null(
    nan_package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.images import make_food101

    data = make_food101(tmp_path / "food-101", CLASSES, train_per_class=1, test_per_class=2)
    args = ["evaluate", str(nan_package), "--data", str(data), "--json", "--no-save", "--no-tta"]
    assert main(args) == 0
    report = strict_json(capsys.readouterr().out)
    assert isinstance(report, dict) and report["metrics"]["log_loss"] is None
