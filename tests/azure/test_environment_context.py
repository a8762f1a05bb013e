"""The build context of an environment that installs a run's plugins.

A wheel written here by hand stands for a plugin; the pip steps are checked by
running pip itself (``pip install --dry-run``, offline) in the context folder,
as the Dockerfile runs them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from food_recognition.azure.environment import conda_spec
from food_recognition.azure.environment.context import (
    CONSTRAINTS_FILE,
    DOCKERFILE,
    INDEX_FILE,
    PLUGINS_FILE,
    REQUIREMENTS_FILE,
    EnvironmentContextError,
    build_context_environment,
    plugin_build_context,
    write_build_context,
)
from food_recognition.azure.environment.images import DEFAULT_IMAGE, INFERENCE_IMAGE
from food_recognition.azure.environment.lock import lock_path, pinned_versions
from food_recognition.errors import CloudError
from food_recognition.plugins.resolve import PluginDistribution


def make_wheel(folder: Path, name: str, requires: list[str]) -> Path:
    """A minimal, valid pure-Python wheel of ``name`` 0.1.0 with ``Requires-Dist`` lines."""
    module = name.replace("-", "_")
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{module}-0.1.0-py3-none-any.whl"
    info = f"{module}-0.1.0.dist-info"
    metadata = "Metadata-Version: 2.1\nName: {}\nVersion: 0.1.0\n{}".format(
        name, "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    files = {
        f"{module}/__init__.py": "",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [f"{path},sha256=,{len(text)}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return wheel


def pip_dry_run(context: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pip (the wheel the interpreter bundles; no index, no config) in ``context``."""
    import ensurepip

    bundled = Path(ensurepip.__file__).parent / "_bundled"
    (pip_wheel,) = bundled.glob("pip-*.whl")
    command = [sys.executable, f"{pip_wheel}/pip", "install", "--isolated", "--no-index"]
    command += ["--dry-run", "--disable-pip-version-check", *args]
    return subprocess.run(command, cwd=context, capture_output=True, text=True, check=False)


def test_a_wheel_is_installed_by_its_sha256_in_hash_mode_and_a_changed_file_is_refused(
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", [])
    context = write_build_context(tmp_path / "env", wheels=[wheel])
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (context / PLUGINS_FILE).read_text() == (
        f"plugins/{wheel.name} --hash=sha256:{digest}\n"
    )
    dockerfile = (context / DOCKERFILE).read_text()
    assert f"FROM {DEFAULT_IMAGE}\n" in dockerfile
    assert f"--require-hashes --no-deps -r {PLUGINS_FILE}" in dockerfile
    # Nothing to fetch from an index: no unhashed step.
    assert not (context / REQUIREMENTS_FILE).exists() and not (context / INDEX_FILE).exists()
    assert INDEX_FILE not in dockerfile and REQUIREMENTS_FILE not in dockerfile

    # The Dockerfile's step, run by pip in the folder as the image build runs it.
    ok = pip_dry_run(context, "--require-hashes", "--no-deps", "-r", PLUGINS_FILE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "food-recognition-demo-0.1.0" in ok.stdout

    copy = context / "plugins" / wheel.name
    with zipfile.ZipFile(copy, "a") as archive:
        archive.writestr("food_recognition_demo/extra.py", "changed = True\n")
    refused = pip_dry_run(context, "--require-hashes", "--no-deps", "-r", PLUGINS_FILE)
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stderr


def test_the_conda_file_is_the_locked_one_with_every_pip_line_hashed(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", [])
    context = write_build_context(
        tmp_path / "env", wheels=[wheel], extra="cpu", image=INFERENCE_IMAGE
    )
    conda = yaml.safe_load((context / "conda.yaml").read_text())
    assert conda == conda_spec(extra="cpu")
    (pip,) = [item["pip"] for item in conda["dependencies"] if isinstance(item, dict)]
    assert pip and all("--hash=sha256:" in line for line in pip)
    assert f"FROM {INFERENCE_IMAGE}\n" in (context / DOCKERFILE).read_text()


def test_dependencies_the_lock_lacks_get_an_unhashed_step_constrained_by_the_lock(
    tmp_path: Path,
) -> None:
    pins = pinned_versions(lock_path("gpu"))
    requires = [
        f"numpy>={pins['numpy']}",  # locked: nothing to add
        "food-recognition>=0.1",  # the host: comes with the code folder
        "tinydep>=1.0",  # not locked: fetched, within the lock's pins
        'pywin32>=300; sys_platform == "win32"',  # not for the Linux image
    ]
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", requires)
    published = [PluginDistribution("food-recognition-other", "2.0")]
    context = write_build_context(tmp_path / "env", wheels=[wheel], from_index=published)
    assert (context / REQUIREMENTS_FILE).read_text() == "tinydep>=1.0\n"
    assert (context / INDEX_FILE).read_text() == "food-recognition-other==2.0\n"
    constraints = (context / CONSTRAINTS_FILE).read_text().splitlines()
    assert f"numpy=={pins['numpy']}" in constraints and all("--hash" not in c for c in constraints)
    steps = [
        line for line in (context / DOCKERFILE).read_text().splitlines() if "pip install" in line
    ]
    assert [s.split("--no-cache-dir ")[1] for s in steps] == [
        f"--require-hashes --no-deps -r {PLUGINS_FILE}",
        f"--no-deps -r {INDEX_FILE}",
        f"-c {CONSTRAINTS_FILE} -r {REQUIREMENTS_FILE}",
    ]


def test_a_plugin_needing_another_version_than_the_lock_pins_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    pins = pinned_versions(lock_path("gpu"))
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", [f"numpy<{pins['numpy']}"])
    with pytest.raises(EnvironmentContextError) as caught:
        write_build_context(tmp_path / "env", wheels=[wheel])
    message = str(caught.value)
    assert "\n" not in message and "numpy" in message and pins["numpy"] in message
    assert isinstance(caught.value, CloudError)


def test_the_same_plugins_give_the_same_folder_and_environment_version(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", ["tinydep>=1"])
    first = write_build_context(tmp_path / "a", wheels=[wheel])
    second = write_build_context(tmp_path / "b", wheels=[wheel])
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    one = build_context_environment(first, description="x")
    two = build_context_environment(second, description="x")
    assert one.version == two.version and one.build.dockerfile_path == DOCKERFILE
    other = write_build_context(tmp_path / "c", wheels=[make_wheel(tmp_path / "o", "food-x", [])])
    assert build_context_environment(other, description="x").version != one.version


def test_a_code_folder_without_plugins_needs_no_build_context(tmp_path: Path) -> None:
    assert (
        plugin_build_context(tmp_path, tmp_path / "env", extra="gpu", image=DEFAULT_IMAGE) is None
    )
    assert not (tmp_path / "env").exists()


def test_a_code_folder_missing_its_wheel_is_refused(tmp_path: Path) -> None:
    data = {"distributions": [{"name": "food-recognition-demo", "version": "0.1.0"}]}
    (tmp_path / "plugins.json").write_text(json.dumps(data))
    with pytest.raises(EnvironmentContextError, match="no wheel of plugin food-recognition-demo"):
        plugin_build_context(tmp_path, tmp_path / "env", extra="gpu", image=DEFAULT_IMAGE)


def test_writing_again_replaces_an_older_context(tmp_path: Path) -> None:
    old = make_wheel(tmp_path / "old", "food-recognition-old", [])
    write_build_context(tmp_path / "env", wheels=[old])
    new = make_wheel(tmp_path / "new", "food-recognition-demo", [])
    context = write_build_context(tmp_path / "env", wheels=[new])
    assert [p.name for p in (context / "plugins").iterdir()] == [new.name]
