"""The environment locks match pyproject.toml, pin everything with hashes, and ship in the package.

When a requirement changes in pyproject.toml or conda.yaml and the locks are
not regenerated (``nox -s lock``), these tests fail: the cloud would install
versions nobody tested.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from food_recognition.azure.deploy import inference_conda
from food_recognition.azure.environment import CONDA_FILE, build_environment
from food_recognition.azure.environment.lock import (
    EXTRAS,
    inputs_digest,
    lock_inputs,
    lock_path,
    pinned_versions,
    pip_lines,
    read_digest,
)

ROOT = Path(__file__).parents[2]
PYPROJECT = ROOT / "pyproject.toml"


@pytest.mark.parametrize("extra", EXTRAS)
def test_the_lock_header_records_the_current_inputs(extra: str) -> None:
    inputs = lock_inputs(PYPROJECT, CONDA_FILE, extra)
    assert read_digest(lock_path(extra)) == inputs_digest(inputs), (
        f"{lock_path(extra).name} was resolved from other requirements than pyproject.toml "
        "and conda.yaml now declare: run `nox -s lock`"
    )


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_requirement_is_satisfied_by_a_pinned_line(extra: str) -> None:
    pins = pinned_versions(lock_path(extra))
    for line in lock_inputs(PYPROJECT, CONDA_FILE, extra):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{line}: not in {lock_path(extra).name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{line}: the lock pins {pins[name]}"
        )


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_line_is_pinned_and_hashed(extra: str) -> None:
    lines = pip_lines(lock_path(extra))
    assert len(lines) > 50
    for line in lines:
        requirement, _, hashes = line.partition(" --hash=sha256:")
        assert "==" in requirement and hashes, line
        assert not Requirement(requirement).marker, line  # resolved for one platform


def test_gpu_and_cpu_locks_differ_where_they_must() -> None:
    gpu, cpu = pinned_versions(lock_path("gpu")), pinned_versions(lock_path("cpu"))
    assert "tensorflow" in gpu and "tensorflow-cpu" not in gpu
    assert "tensorflow-cpu" in cpu and "tensorflow" not in cpu
    assert any(name.startswith("nvidia-") for name in gpu)
    assert not any(name.startswith("nvidia-") for name in cpu)
    # The same TensorFlow release on both sides: a model trained on one loads on the other.
    assert gpu["tensorflow"] == cpu["tensorflow-cpu"] and gpu["keras"] == cpu["keras"]


@pytest.mark.parametrize("name", ["keras", "tensorflow-cpu", "azureml-inference-server-http"])
def test_the_serving_lock_pins_what_the_tests_run(name: str) -> None:
    # The model format and the scoring server: what the endpoint runs is what ran here.
    assert pinned_versions(lock_path("cpu"))[name] == metadata.version(name), (
        f"{name} {metadata.version(name)} is installed here; the lock pins another: "
        "run `nox -s lock` (or reinstall the test environment)"
    )


def test_a_changed_requirement_changes_the_digest(tmp_path: Path) -> None:
    changed = tmp_path / "pyproject.toml"
    changed.write_text(PYPROJECT.read_text().replace('"numpy>=1.26"', '"numpy>=2.5"'))
    assert changed.read_text() != PYPROJECT.read_text()
    digest = inputs_digest(lock_inputs(changed, CONDA_FILE, "gpu"))
    assert digest != read_digest(lock_path("gpu"))


def test_every_azure_environment_installs_a_lock() -> None:
    training = build_environment().conda_file["dependencies"][-1]["pip"]
    serving = inference_conda()["dependencies"][-1]["pip"]
    assert training == pip_lines(lock_path("gpu"))
    assert serving == pip_lines(lock_path("cpu"))


def test_the_locks_ship_in_the_wheel(tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        [str(uv), "build", "--wheel", "--out-dir", str(tmp_path), "--quiet", str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for extra in EXTRAS:
        assert f"food_recognition/azure/environment/{lock_path(extra).name}" in names
    assert "food_recognition/azure/environment/conda.yaml" in names
