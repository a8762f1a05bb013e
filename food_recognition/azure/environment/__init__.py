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

A run that uses plugins gets an environment that installs them as well: a
Docker build context around this conda file
(:mod:`food_recognition.azure.environment.context`).
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
]

#: The conda file shipped with the package.
CONDA_FILE = Path(__file__).with_name("conda.yaml")

#: A name to register the environment under, when a named one is wanted.
ENVIRONMENT_NAME = "food-recognition-gpu"


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
