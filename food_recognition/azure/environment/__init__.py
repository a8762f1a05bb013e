"""The Azure ML environments: a base image at a dated tag plus a locked conda file.

Training runs on :data:`DEFAULT_IMAGE` (Azure ML's OpenMPI + CUDA 12 Ubuntu
22.04 image; TensorFlow brings its own CUDA libraries through the ``gpu``
extra), serving on :data:`INFERENCE_IMAGE` (no CUDA). Both install the
``conda.yaml`` beside this module: Python 3.11 and, as its pip list, the
lock of their extra (:mod:`food_recognition.azure.environment.lock`):
every package pinned to the version resolved and tested here, with its
hashes, ``azureml-mlflow`` included (so the MLflow metrics training logs reach
the workspace; a sweep reads its primary metric from them). Curated
environment names come and go between SDK releases, so none is used.

The job's code snapshot carries a copy of this package and runs from it, so
the code that runs is the code that was submitted, and the environment needs
only the package's requirements, not the package. Nothing needs publishing
first. ``package=`` installs the package itself as well (a wheel URL, or a
requirement your private index resolves); the lock's versions still apply,
without hash checking, as pip cannot check a requirement that has no hash.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from food_recognition import __version__
from food_recognition.azure.environment.images import DEFAULT_IMAGE, INFERENCE_IMAGE
from food_recognition.azure.environment.lock import lock_path, pip_lines

__all__ = [
    "CONDA_FILE",
    "DEFAULT_IMAGE",
    "ENVIRONMENT_NAME",
    "INFERENCE_IMAGE",
    "build_environment",
    "conda_spec",
    "requirements",
]

#: The conda file shipped with the package.
CONDA_FILE = Path(__file__).with_name("conda.yaml")

#: A name to register the environment under, when a named one is wanted.
ENVIRONMENT_NAME = "food-recognition-gpu"

_PACKAGE = "food-recognition"


def conda_spec(
    package: str | None = None, extra_pip: tuple[str, ...] = (), *, extra: str = "gpu"
) -> dict[str, Any]:
    """The conda specification: the lock of ``extra`` as its pip list.

    :param package: a pip requirement that installs this package as well (a
        wheel URL, ``food-recognition[gpu]==1.2`` from a private index);
        ``None``: the code snapshot brings the package.
    :param extra_pip: more pip requirements to add (pin them).
    :param extra: whose lock is installed: ``gpu`` (``tensorflow[and-cuda]``)
        for training, ``cpu`` for serving.
    :returns: the conda file's content as a dict. With nothing added, every pip
        line carries its hashes (pip's hash-checking mode); with ``package`` or
        ``extra_pip``, the lock's lines are pinned versions without hashes.
    """
    spec: dict[str, Any] = yaml.safe_load(CONDA_FILE.read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    first = [package] if package else []
    locked = pip_lines(lock_path(extra), hashes=not (first or extra_pip))
    for item in spec["dependencies"]:
        if isinstance(item, dict) and "pip" in item:
            item["pip"] = [*first, *locked, *extra_pip]
    return spec


def requirements(extra: str = "gpu") -> list[str]:
    """This package's runtime requirements and those of ``extra``, as pip lines.

    TensorFlow and Keras, which decide whether a model package written on one
    side loads on the other, are pinned to the versions installed here (for
    ``tensorflow[and-cuda]``, the same release as a local ``tensorflow-cpu``).
    The rest keep the package's ranges, so that pip can settle them with the
    environment's other packages (``azureml-mlflow`` caps ``mlflow-skinny`` and
    ``azure-storage-blob`` below the newest releases).

    >>> any(line.startswith("keras==") for line in requirements("gpu"))
    True
    >>> pinned = [line for line in requirements("gpu") if "==" in line]
    >>> [line.split("==")[0] for line in pinned]
    ['keras', 'tensorflow[and-cuda]']

    :param extra: ``gpu`` or ``cpu``.
    :returns: pip requirement lines, in the package metadata's order.
    :raises LookupError: the package is not installed (its metadata lists the
        requirements): ``pip install -e .``, or pass ``package=``.
    """
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    try:
        declared = metadata.requires(_PACKAGE) or []
    except metadata.PackageNotFoundError as error:
        raise LookupError(
            f"{_PACKAGE} is not installed, so its requirements are unknown: install it "
            "(`pip install -e .` in a checkout), or pass package= a requirement that installs it"
        ) from error
    lines = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        requirement.marker = None
        installed = _installed_version(requirement.name)
        if requirement.name in _PINNED and installed is not None:
            requirement.specifier = SpecifierSet(f"=={installed}")
        line = str(requirement)
        if line not in lines:
            lines.append(line)
    return lines


#: The requirements pinned to the local version: what a saved model depends on.
_PINNED = ("keras", "tensorflow", "tensorflow-cpu")


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    # The CPU and GPU wheels of TensorFlow are the same release under two names.
    for candidate in (name, "tensorflow-cpu") if name == "tensorflow" else (name,):
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            continue
    return None


def build_environment(
    *,
    image: str = DEFAULT_IMAGE,
    conda_file: str | Path | None = None,
    package: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> Any:
    """The ``azure.ai.ml.entities.Environment`` a training job runs in: the image plus the GPU lock.

    :param image: the base Docker image.
    :param conda_file: a conda file to use instead of the built-in one.
    :param package: a pip requirement that installs this package (see :func:`conda_spec`);
        ``None`` lists its requirements instead.
    :param name: a name to register it under (e.g. :data:`ENVIRONMENT_NAME`);
        ``None`` registers it anonymously, versioned by a hash of its content,
        so the same image and packages reuse one built image and a change
        never collides with an existing version.
    :param version: its version when named; ``None`` uses this package's version.
    :returns: the Environment (registered when the first job using it is submitted).
    :raises FileNotFoundError: ``conda_file`` does not exist.
    """
    from azure.ai.ml.entities import Environment

    if conda_file is not None:
        path = Path(conda_file)
        if not path.is_file():
            raise FileNotFoundError(f"conda file {path} does not exist")
        conda: Any = str(path)
    else:
        conda = conda_spec(package)
    named: dict[str, Any] = {}
    if name is not None:
        named = {"name": name, "version": version or __version__}
    return Environment(
        **named,
        image=image,
        conda_file=conda,
        description="food_recognition training on GPU (TensorFlow/Keras)",
    )
