"""The Azure ML environment the training job runs in: a base GPU image plus a pinned conda file.

The default is :data:`DEFAULT_IMAGE` (Azure ML's OpenMPI + CUDA Ubuntu image;
TensorFlow brings its own CUDA libraries through the ``gpu`` extra) and the
``conda.yaml`` beside this module: Python, this package with the ``gpu`` extra
at the version submitting the job, and ``azureml-mlflow`` so the MLflow
metrics training logs reach the workspace (a sweep reads its primary metric
from them). Curated environment names come and go between SDK releases, so
none is used.

The job's code snapshot carries a copy of this package and runs from it, so
the code that runs is the code that was submitted even where the installed
version differs; until ``food-recognition`` is on the index the nodes install
from, pass ``package=`` a wheel URL or a private index requirement.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from food_recognition import __version__

__all__ = [
    "CONDA_FILE",
    "DEFAULT_IMAGE",
    "ENVIRONMENT_NAME",
    "build_environment",
    "conda_spec",
]

#: The base image: Ubuntu 22.04 with OpenMPI and the CUDA user-space the NVIDIA driver needs.
#: Pin a dated tag from Azure ML's base-image release notes for byte-identical rebuilds.
DEFAULT_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04"

#: The conda file shipped with the package.
CONDA_FILE = Path(__file__).with_name("conda.yaml")

#: A name to register the environment under, when a named one is wanted.
ENVIRONMENT_NAME = "food-recognition-gpu"

_PACKAGE = "food-recognition"


def conda_spec(package: str | None = None, extra_pip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The conda specification, with this package pinned to the running version.

    :param package: the pip requirement for this package; ``None`` gives
        ``food-recognition[gpu]==<this version>``.
    :param extra_pip: more pip requirements to add (pin them).
    :returns: the conda file's content as a dict.
    """
    spec: dict[str, Any] = yaml.safe_load(CONDA_FILE.read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    requirement = package or f"{_PACKAGE}[gpu]=={__version__}"
    for item in spec["dependencies"]:
        if isinstance(item, dict) and "pip" in item:
            pip = [r for r in item["pip"] if not str(r).startswith(_PACKAGE)]
            item["pip"] = [requirement, *pip, *extra_pip]
    return spec


def build_environment(
    *,
    image: str = DEFAULT_IMAGE,
    conda_file: str | Path | None = None,
    package: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> Any:
    """The ``azure.ai.ml.entities.Environment`` a training job runs in.

    :param image: the base Docker image.
    :param conda_file: a conda file to use instead of the built-in one.
    :param package: the pip requirement for this package (see :func:`conda_spec`).
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
