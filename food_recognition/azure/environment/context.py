"""An environment that installs the run's plugins: a Docker build context beside the job.

A plugin reaches a job or an endpoint through its code folder
(:mod:`food_recognition.plugins.travel`), but the environment must install it
too, so that its own dependencies are there. An environment made of an image
and a conda file cannot do that with a wheel: Azure ML builds that image from
the conda file alone, so a pip line naming a local wheel has nothing to point
at (the image build does not see the job's code folder). A Docker build
context can carry files: Azure ML uploads the folder and builds its
``Dockerfile`` (``Environment(build=BuildContext(path=...))``,
https://learn.microsoft.com/azure/machine-learning/how-to-manage-environments-v2#create-an-environment-from-a-docker-build-context;
azure-ai-ml 1.35 ``entities/_assets/environment.py`` ``BuildContext``, uploaded by
``_artifacts/_artifact_utilities.py`` ``_check_and_upload_env_build_context``).

:func:`write_build_context` writes that folder:

- ``conda.yaml``: the same locked conda file the environment without plugins
  installs (:func:`~food_recognition.azure.environment.conda_spec`: every pip
  line hashed);
- ``plugins/<wheel>`` and ``plugins.txt``: one line per wheel,
  ``plugins/<wheel> --hash=sha256:<hex>`` (the SHA-256 of the file, computed
  here), installed with ``--require-hashes --no-deps``;
- ``plugins-index.txt``: ``name==version`` of each plugin the user says is
  published on an index (``--plugin-from-index``), installed with ``--no-deps``
  and without hashes;
- ``plugin-requirements.txt`` and ``constraints.txt``: the plugins' own
  dependencies that the lock does not already pin, installed from the index
  with the lock's versions as constraints, without hashes;
- ``Dockerfile``: the steps, in that order.

Why separate pip steps. pip's hash-checking mode is all or nothing: once one
requirement carries a hash, every requirement and every dependency must
(https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode).
The lock is hashed, and a wheel is hashed (its SHA-256 is known here), so
both go in hash mode. A requirement resolved from an index on the day of the
build has no hash we could know here without downloading it, so it gets its
own step without hashes, constrained by the lock so it cannot move a locked
package. A plugin that declares ``food-recognition`` as a dependency is
installed ``--no-deps``: the library itself comes with the job's code folder,
not from an index.

The folder's content depends only on the image, the lock and the plugins
(the wheels are reproducible), and Azure ML versions an anonymous
build-context environment by a hash of the folder (azure-ai-ml
``Environment._generate_anonymous_name_version(source="build")``), so the
same plugins give the same environment and Azure reuses its image.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import yaml

from food_recognition.azure.environment.images import DEFAULT_IMAGE
from food_recognition.azure.environment.lock import PYTHON_VERSION, lock_path, pinned_versions
from food_recognition.errors import CloudError
from food_recognition.plugins.resolve import PluginDistribution

__all__ = [
    "CONSTRAINTS_FILE",
    "DOCKERFILE",
    "ENV_PREFIX",
    "INDEX_FILE",
    "PLUGINS_FILE",
    "REQUIREMENTS_FILE",
    "EnvironmentContextError",
    "build_context_environment",
    "plugin_build_context",
    "wheel_line",
    "write_build_context",
]

#: The Dockerfile's name in a build context.
DOCKERFILE = "Dockerfile"
#: The hashed pip requirements of the plugin wheels.
PLUGINS_FILE = "plugins.txt"
#: ``name==version`` of the plugins published on an index.
INDEX_FILE = "plugins-index.txt"
#: The plugins' own dependencies the lock does not pin.
REQUIREMENTS_FILE = "plugin-requirements.txt"
#: The lock's pins, without hashes, as pip constraints for the unhashed steps.
CONSTRAINTS_FILE = "constraints.txt"
#: Where the image's conda environment goes (the prefix Azure ML's own
#: conda-file builds use: ``/azureml-envs/...``).
ENV_PREFIX = "/azureml-envs/food-recognition"

# The library itself: a plugin may depend on it, but it travels in the code folder.
_HOST = "food-recognition"
# The platform the environments run (the lock's): markers are evaluated for it.
_MARKERS = {
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


class EnvironmentContextError(CloudError):
    """An environment's build context cannot be written: a wheel is missing, or a plugin
    needs a version of a package other than the one the lock pins."""


def wheel_line(wheel: str | Path, folder: str = "plugins") -> str:
    """The hashed pip requirement of a wheel file: ``plugins/<name> --hash=sha256:<hex>``.

    pip checks the file's SHA-256 against the hash before it installs it
    (hash-checking mode, https://pip.pypa.io/en/stable/topics/secure-installs/).

    :param wheel: the wheel file.
    :param folder: its folder, relative to where pip runs.
    :returns: the line.
    """
    path = Path(wheel)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{folder}/{path.name} --hash=sha256:{digest}"


def write_build_context(
    dest: str | Path,
    *,
    wheels: Sequence[str | Path] = (),
    from_index: Iterable[PluginDistribution] = (),
    extra: str = "gpu",
    image: str = DEFAULT_IMAGE,
) -> Path:
    """Write a Docker build context whose image installs the lock and the plugins.

    :param dest: the folder to write (created; one from an earlier run is replaced,
        so no stale wheel changes the folder's hash).
    :param wheels: the plugin wheels (from a code folder's ``plugins/``).
    :param from_index: the plugins published on an index, installed by requirement.
    :param extra: whose lock: ``gpu`` (training) or ``cpu`` (serving).
    :param image: the base image (:data:`~food_recognition.azure.environment.DEFAULT_IMAGE`
        or :data:`~food_recognition.azure.environment.INFERENCE_IMAGE`).
    :returns: ``dest``.
    :raises EnvironmentContextError: a wheel does not exist.
    """
    from food_recognition.azure.environment import conda_spec

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "plugins").mkdir(parents=True)
    pins = pinned_versions(lock_path(extra))
    lines: list[str] = []
    needed: set[str] = set()
    for wheel in sorted((Path(w) for w in wheels), key=lambda p: p.name):
        if not wheel.is_file():
            raise EnvironmentContextError(f"plugin wheel {wheel} does not exist; submit again")
        copy = dest / "plugins" / wheel.name
        copy.write_bytes(wheel.read_bytes())
        lines.append(wheel_line(copy))
        needed.update(_unlocked(wheel.name, _wheel_requirements(copy), pins, extra))
    published = sorted(from_index)
    for dist in published:
        needed.update(_unlocked(dist.name, _installed_requirements(dist.name), pins, extra))
    conda = conda_spec(extra=extra)
    (dest / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False), encoding="utf-8")
    _write_lines(dest / PLUGINS_FILE, lines)
    _write_lines(dest / INDEX_FILE, [d.requirement for d in published])
    _write_lines(dest / REQUIREMENTS_FILE, sorted(needed))
    constraints = [f"{name}=={version}" for name, version in sorted(pins.items())]
    _write_lines(dest / CONSTRAINTS_FILE, constraints if (published or needed) else [])
    dockerfile = _dockerfile(image, bool(lines), bool(published), bool(needed))
    (dest / DOCKERFILE).write_text(dockerfile, encoding="utf-8")
    return dest


def plugin_build_context(
    code_dir: str | Path, dest: str | Path, *, extra: str, image: str
) -> Path | None:
    """The build context of an environment installing a code folder's plugins.

    :param code_dir: a job snapshot or a deployment's code folder; its
        ``plugins.json`` names the plugins (:func:`~food_recognition.plugins.travel.bundle`),
        its ``plugins/`` holds their wheels.
    :param dest: where to write the context.
    :param extra: ``gpu`` or ``cpu``.
    :param image: the base image.
    :returns: ``dest``, or ``None`` when the folder names no plugin (the
        environment without a build context does).
    :raises EnvironmentContextError: a wheel is missing from ``plugins/``.
    """
    from food_recognition.plugins.travel import (
        PLUGINS_DIR,
        index_distributions,
        read_plugins_file,
    )

    code_dir = Path(code_dir)
    distributions = read_plugins_file(code_dir)
    if not distributions:
        return None
    published = index_distributions(code_dir)
    from_index = [d for d in distributions if _normal(d.name) in published]
    wheels = []
    for dist in distributions:
        if _normal(dist.name) in published:
            continue
        prefix = f"{re.sub(r'[-_.]+', '_', dist.name)}-{dist.version}-"
        found = sorted(
            w
            for w in (code_dir / PLUGINS_DIR).glob("*.whl")
            if w.name.lower().startswith(prefix.lower())
        )
        if not found:
            raise EnvironmentContextError(
                f"{code_dir / PLUGINS_DIR} holds no wheel of plugin {dist.requirement}; "
                "write the code folder again"
            )
        wheels.append(found[0])
    return write_build_context(dest, wheels=wheels, from_index=from_index, extra=extra, image=image)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def build_context_environment(context: str | Path, *, description: str) -> Any:
    """The ``azure.ai.ml.entities.Environment`` built from a build context folder.

    Anonymous: Azure ML names it by a hash of the folder, so the same content
    is the same environment (and the same image).

    :param context: a folder from :func:`write_build_context`.
    :param description: the environment's description.
    :returns: the Environment.
    """
    from azure.ai.ml.entities import BuildContext, Environment

    build = BuildContext(path=str(context), dockerfile_path=DOCKERFILE)
    return Environment(build=build, description=description)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    if lines:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.exists():
        path.unlink()


def _dockerfile(image: str, wheels: bool, index: bool, requirements: bool) -> str:
    pip = f"{ENV_PREFIX}/bin/python -m pip install --no-cache-dir"
    steps = [
        "# Written by food_recognition (azure/environment/context.py); the same plugins",
        "# give the same folder, so Azure ML reuses the image.",
        f"FROM {image}",
        # As in the Dockerfile Azure ML writes for a conda-file environment: root
        # installs into /azureml-envs.
        "USER root",
        "WORKDIR /food-recognition-env",
        "COPY . .",
        # conda runs the pip list from a requirements file in the conda file's folder
        # (conda/env/installers/pip.py): the lock, every line hashed.
        f"RUN conda env create -p {ENV_PREFIX} -f conda.yaml && conda clean -aqy",
    ]
    if wheels:
        # Hash mode needs a hash on every requirement and dependency: --no-deps, and
        # the plugins' dependencies come from the lock or the steps below.
        steps.append(f"RUN {pip} --require-hashes --no-deps -r {PLUGINS_FILE}")
    if index:
        steps.append(f"RUN {pip} --no-deps -r {INDEX_FILE}")
    if requirements:
        steps.append(f"RUN {pip} -c {CONSTRAINTS_FILE} -r {REQUIREMENTS_FILE}")
    steps += [
        # What Azure ML's curated environments' Dockerfiles set (github.com/Azure/
        # azureml-assets, .../environments/*/context/Dockerfile): the env's python first.
        f"ENV PATH={ENV_PREFIX}/bin:$PATH AZUREML_CONDA_ENVIRONMENT_PATH={ENV_PREFIX}",
        "WORKDIR /",
    ]
    return "\n".join(steps) + "\n"


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode("utf-8")
    return _requirements(HeaderParser().parsestr(text).get_all("Requires-Dist") or [])


def _installed_requirements(name: str) -> list[str]:
    import importlib.metadata

    try:
        return _requirements(importlib.metadata.requires(name) or [])
    except importlib.metadata.PackageNotFoundError:
        return []


def _requirements(lines: Iterable[str]) -> list[str]:
    """The requirements that apply on the environment's platform, markers dropped."""
    from packaging.requirements import Requirement

    kept = []
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(_MARKERS):
            continue
        requirement.marker = None
        kept.append(str(requirement))
    return kept


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def _unlocked(
    plugin: str, requirements: Iterable[str], pins: dict[str, str], extra: str
) -> list[str]:
    """The requirements the lock does not pin (the library itself aside).

    :raises EnvironmentContextError: the lock pins a version the plugin does
        not accept (pip would fail the image build on the conflict).
    """
    from packaging.requirements import Requirement

    missing = []
    for requirement in requirements:
        name = _name(requirement)
        pinned = pins.get(name)
        if name == _HOST:
            continue
        if pinned is None:
            missing.append(requirement)
        elif not Requirement(requirement).specifier.contains(pinned, prereleases=True):
            raise EnvironmentContextError(
                f"plugin {plugin} needs {requirement}, but the {extra} environment's lock "
                f"pins {name}=={pinned}: widen the plugin's requirement, or pass "
                "--environment with an environment of your own"
            )
    return missing
