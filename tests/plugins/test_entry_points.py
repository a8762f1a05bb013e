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


_BROKEN_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "food-recognition-broken"
version = "0.2.0"

[project.entry-points.food_recognition]
misspelt = "food_recognition_broken.misspelt"
bad_spec = "food_recognition_broken.bad_spec"
missing = "food_recognition_broken.missing"

[tool.hatch.build.targets.wheel]
packages = ["food_recognition_broken"]
"""

_MISSPELT = """\
from food_recognition.plugins import hookimpl

@hookimpl
def food_recognition_register_backbone(register):
    pass
"""

_BAD_SPEC = """\
from food_recognition.plugins import BackboneSpec, hookimpl

@hookimpl
def food_recognition_register_backbones(register):
    register.add(BackboneSpec("twisted", print, "imagenet", 64))
"""


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory, installed_plugin: Path) -> Path:
    """The example plugin plus a distribution with three broken plugins, installed for real."""
    source = tmp_path_factory.mktemp("broken")
    (source / "pyproject.toml").write_text(_BROKEN_PYPROJECT)
    package = source / "food_recognition_broken"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "misspelt.py").write_text(_MISSPELT)
    (package / "bad_spec.py").write_text(_BAD_SPEC)
    installer = _installer()
    assert installer is not None
    command = [*installer, "--quiet", "--no-deps", "--target", str(installed_plugin), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return installed_plugin


def test_plugins_lists_everything_and_marks_each_broken_one_with_its_reason(
    broken_site: Path,
) -> None:
    result = _run(["plugins", "--json"], broken_site)
    assert result.returncode == 0, result.stderr
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    assert rows["tiny_backbone"]["contributes"] == {"backbone": ["tiny_cnn"]}
    assert "broken" not in rows["tiny_backbone"]
    assert rows["misspelt"]["origin"] == "food-recognition-broken 0.2.0"
    assert "did you mean 'food_recognition_register_backbones'" in rows["misspelt"]["broken"]
    assert "preprocessing='imagenet' is not allowed" in rows["bad_spec"]["broken"]
    assert "does not import" in rows["missing"]["broken"]
    # Each broken plugin is one warning line naming it and its distribution; no traceback.
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 3, result.stderr
    assert all("(food-recognition-broken 0.2.0) is broken and skipped" in w for w in warnings)
    assert "Traceback" not in result.stderr

    table = _run(["plugins"], broken_site)
    assert table.returncode == 0, table.stderr
    assert "misspelt  (food-recognition-broken 0.2.0)  BROKEN" in table.stdout
    assert "augmentation policies: default, none, randaugment, reference" in table.stdout
    assert "TTA policies: " in table.stdout and "policys" not in table.stdout


def test_a_command_that_does_not_need_the_broken_plugin_still_works(broken_site: Path) -> None:
    result = _run(["backbones"], broken_site)
    assert result.returncode == 0, result.stderr
    assert "tiny_cnn" in result.stdout and "resnet50" in result.stdout
