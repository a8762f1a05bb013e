"""The command line's shell: help, version, subcommands, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from food_recognition import __version__
from food_recognition.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"food-recognition {__version__}"


def test_help_lists_a_subcommand_per_capability(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "data", "train", "evaluate", "predict", "serve", "azure", "plugins"):
        assert f"    {command}" in out, command


def test_plugins_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "food_recognition.models.backbones  (built-in)" in out
    assert "backbones: " in out and "resnet50" in out
    assert "compute targets: local" in out


def test_console_script_runs_without_importing_tensorflow() -> None:
    # `food-recognition --help` must stay fast: nothing at start-up imports TensorFlow.
    code = (
        "import sys; from food_recognition.cli import build_parser; build_parser();"
        "from food_recognition.plugins import get_plugin_manager as g; g().contributions();"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_demo_azure_without_an_account_url_stops_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    workdir = tmp_path / "demo"
    code = main(["demo", "--azure", "--workdir", str(workdir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "error: --azure needs AZURE_STORAGE_ACCOUNT_URL=https://<account>.blob.core.windows.net "
        "(signed in with `az login`), and a workspace config.json"
    ]
    assert not workdir.exists()  # checked before the sample data is written
