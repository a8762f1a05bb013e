"""A plugin installed for real is found through its entry point, without touching our code.

The example plugin package (examples/tiny_backbone_plugin) is installed with pip
into a temporary folder, which then goes on PYTHONPATH of a fresh interpreter:
exactly what a user's ``pip install`` gives, minus the virtual environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tiny_backbone_plugin"


def _installer() -> list[str] | None:
    """The command prefix of an installer for this interpreter: uv if present, else pip."""
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "pip", "install", "--python", sys.executable]
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "install"]
    return None


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    installer = _installer()
    if installer is None:
        if os.environ.get("CI"):
            pytest.fail("neither uv nor pip is available to install the example plugin")
        pytest.skip("neither uv nor pip is available in this environment")
    target = tmp_path_factory.mktemp("site")
    command = [*installer, "--quiet", "--no-deps", "--target", str(target), str(EXAMPLE)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert list(target.glob("food_recognition_tiny_backbone-*.dist-info/entry_points.txt"))
    return target


def _run(args: list[str], site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "food_recognition", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )


def test_cli_lists_the_installed_plugin_and_its_backbone(installed_plugin: Path) -> None:
    result = _run(["plugins", "--json"], installed_plugin)
    assert result.returncode == 0, result.stderr
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    plugin = rows["tiny_backbone"]
    assert plugin["origin"] == "food-recognition-tiny-backbone 0.1.0"
    assert plugin["contributes"] == {"backbone": ["tiny_cnn"]}


def test_without_the_install_the_backbone_is_absent(tmp_path: Path) -> None:
    result = _run(["plugins", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "tiny_backbone" not in {row["plugin"] for row in json.loads(result.stdout)}
