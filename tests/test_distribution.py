"""The distributions ``nox -s build`` publishes: what the wheel and sdist hold, and their metadata.

The wheel is what a user installs (``pip install "dist/...whl[cpu]"``): every
module and every file the package reads at run time (the Azure ML conda file
and locks, the scoring script, ``py.typed``) must be inside it, and its
metadata must carry the extras and the console script. Installing it into a
fresh environment and training from it is the nox session's job (too slow for
the suite).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from food_recognition import __version__

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "food_recognition"

pytestmark = pytest.mark.slow

#: Files the library opens by path at run time (beside the modules).
RUNTIME_FILES = (
    "food_recognition/py.typed",
    "food_recognition/azure/environment/conda.yaml",
    "food_recognition/azure/environment/requirements-cpu.lock",
    "food_recognition/azure/environment/requirements-gpu.lock",
    "food_recognition/serving/score.py",
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build both distributions the way the nox session does (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def _source_files() -> set[str]:
    """Every file of the package in the checkout, as a wheel path (no bytecode)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _wheel(dist: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(dist / f"food_recognition-{__version__}-py3-none-any.whl")


def _metadata(dist: Path) -> Message:
    with _wheel(dist) as wheel:
        text = wheel.read(f"food_recognition-{__version__}.dist-info/METADATA").decode()
    return Parser().parsestr(text)


def test_wheel_holds_every_module_and_runtime_file(dist: Path) -> None:
    with _wheel(dist) as wheel:
        names = set(wheel.namelist())
    package_files = {name for name in names if name.startswith("food_recognition/")}
    assert package_files == _source_files()
    assert set(RUNTIME_FILES) <= package_files
    # Nothing but the package and its metadata: no tests, docs or build leftovers.
    assert names - package_files == {
        name for name in names if name.startswith(f"food_recognition-{__version__}.dist-info/")
    }


def test_wheel_metadata_names_the_extras_and_requirements(dist: Path) -> None:
    metadata = _metadata(dist)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Name"] == "food-recognition"
    assert metadata["Version"] == __version__
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Description-Content-Type"] == "text/markdown"
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"cpu", "gpu", "demo", "export"} <= extras
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    unconditional = {str(r) for r in requires if r.marker is None}
    assert unconditional == {str(Requirement(r)) for r in project["dependencies"]}

    def names_for(extra: str) -> set[str]:
        return {r.name for r in requires if r.marker and r.marker.evaluate({"extra": extra})}

    assert "tensorflow-cpu" in names_for("cpu")
    assert "tensorflow" in names_for("gpu")
    assert [r.extras for r in requires if r.name == "tensorflow"] == [{"and-cuda"}]
    assert "scikit-learn" in names_for("demo")
    # TensorFlow is never a requirement of the bare package: an extra picks the build,
    # and no extra a user installs pulls both builds.
    assert not {"tensorflow", "tensorflow-cpu"} & {r.name for r in requires if r.marker is None}
    assert "tensorflow" not in names_for("cpu")
    assert "tensorflow-cpu" not in names_for("gpu")


def test_wheel_installs_the_console_script(dist: Path) -> None:
    with _wheel(dist) as wheel:
        text = wheel.read(f"food_recognition-{__version__}.dist-info/entry_points.txt").decode()
    assert "[console_scripts]" in text
    assert "food-recognition = food_recognition.cli:main" in text


def test_sdist_rebuilds_the_package(dist: Path) -> None:
    prefix = f"food_recognition-{__version__}/"
    with tarfile.open(dist / f"food_recognition-{__version__}.tar.gz") as sdist:
        names = {name.removeprefix(prefix) for name in sdist.getnames()}
    assert {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"} <= names
    assert _source_files() <= names
