"""The environment locks: every package an Azure ML environment installs, pinned and hashed.

Without a lock the cloud resolves the library's ranges on the day it builds
the image, so a job or a deployment can run other versions than the ones the
tests ran. ``nox -s lock`` (this module run as a script, ``--write``)
resolves, for linux x86_64 and Python 3.11, the library's runtime
requirements plus one extra (``gpu`` for training, ``cpu`` for serving) plus
what ``conda.yaml`` adds (``azureml-mlflow``), with ``uv pip compile
--generate-hashes``, and writes ``requirements-<extra>.lock`` beside this
module, shipped in the wheel. Each lock's header records a digest of its
inputs (:func:`inputs_digest`), so a test finds a lock that no longer
matches ``pyproject.toml``. A lock is generated, never edited by hand.

The environments install a lock's entries in pip's hash-checking mode
(:func:`pip_lines`): a file that differs from the one resolved here is refused.

This module needs only the standard library and PyYAML, so the ``lock``
session runs it without installing the package.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

import yaml

__all__ = [
    "EXTRAS",
    "PLATFORM",
    "PYTHON_VERSION",
    "inputs_digest",
    "lock_inputs",
    "lock_path",
    "pinned_versions",
    "pip_lines",
    "read_digest",
    "write_locks",
]

HERE = Path(__file__).resolve().parent

#: The extras a lock is made for: ``gpu`` (training), ``cpu`` (serving).
EXTRAS = ("gpu", "cpu")
#: The platform and Python the Azure ML images run (Ubuntu 22.04, glibc 2.35).
PLATFORM = "x86_64-manylinux_2_28"
PYTHON_VERSION = "3.11"

_DIGEST = re.compile(r"^# inputs-sha256: (?P<digest>[0-9a-f]{64})$", re.MULTILINE)
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def lock_path(extra: str) -> Path:
    """The lock file shipped for ``extra``: ``requirements-<extra>.lock`` beside this module."""
    return HERE / f"requirements-{extra}.lock"


def lock_inputs(pyproject: str | Path, conda_file: str | Path, extra: str) -> list[str]:
    """What a lock resolves: runtime requirements, ``extra``'s, and the conda file's pip list.

    :param pyproject: the project's ``pyproject.toml``.
    :param conda_file: the environment's conda file (its ``pip:`` entries are added).
    :param extra: ``gpu`` or ``cpu``.
    :returns: requirement lines, sorted.
    :raises KeyError: ``pyproject`` declares no such extra.
    """
    project = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"]) + list(project["optional-dependencies"][extra])
    conda = yaml.safe_load(Path(conda_file).read_text(encoding="utf-8"))
    for item in conda.get("dependencies", []):
        if isinstance(item, dict):
            lines += [str(line) for line in item.get("pip", [])]
    return sorted({line.strip() for line in lines})


def inputs_digest(lines: Sequence[str]) -> str:
    """The SHA-256 of a lock's inputs, with the platform and Python it was resolved for."""
    text = "\n".join([f"platform={PLATFORM}", f"python={PYTHON_VERSION}", *sorted(lines)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_digest(lock: str | Path) -> str | None:
    """The inputs digest a lock's header records, or ``None`` if it has none."""
    match = _DIGEST.search(Path(lock).read_text(encoding="utf-8"))
    return match["digest"] if match else None


def pip_lines(lock: str | Path, *, hashes: bool = True) -> list[str]:
    """A lock's entries as pip requirement lines, one package per line.

    ``name==version --hash=sha256:... --hash=sha256:...``: pip reads a conda
    file's ``pip:`` list as a requirements file, where a requirement may carry
    its hashes, and a hash on every line turns on hash-checking mode.

    :param lock: the lock file.
    :param hashes: keep the hashes (``False``: ``name==version`` only).
    :returns: the lines, in the lock's order.
    """
    entries: list[str] = []
    current = ""
    for raw in Path(lock).read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        current = f"{current} {line.rstrip(chr(92)).strip()}".strip()
        if not line.endswith("\\"):
            entries.append(current)
            current = ""
    if current:
        entries.append(current)
    if not hashes:
        entries = [entry.split(" --hash", 1)[0] for entry in entries]
    return entries


def pinned_versions(lock: str | Path) -> dict[str, str]:
    """Package name (normalised) to pinned version, for every entry of a lock."""
    pins = {}
    for entry in pip_lines(lock, hashes=False):
        match = _PIN.match(entry)
        if match:
            pins[_normalise(match["name"])] = match["version"]
    return pins


def write_locks(
    pyproject: str | Path, conda_file: str | Path, *, uv: str = "uv", extras: Sequence[str] = EXTRAS
) -> list[Path]:
    """Resolve and write the lock of each extra (what ``nox -s lock`` runs).

    :param pyproject: the project's ``pyproject.toml``.
    :param conda_file: the environment's conda file.
    :param uv: the ``uv`` executable.
    :param extras: the extras to lock.
    :returns: the files written.
    :raises subprocess.CalledProcessError: ``uv`` could not resolve the inputs.
    """
    written = []
    for extra in extras:
        inputs = lock_inputs(pyproject, conda_file, extra)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / f"{extra}.in"
            source.write_text("\n".join(inputs) + "\n", encoding="utf-8")
            resolved = subprocess.run(
                [uv, "pip", "compile", str(source), "--python-platform", PLATFORM,
                 "--python-version", PYTHON_VERSION, "--generate-hashes", "--no-header",
                 "--no-annotate", "--quiet"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
        header = [
            f"# The {extra} environment of food_recognition on Azure ML: linux x86_64, "
            f"Python {PYTHON_VERSION}.",
            "# Generated by `nox -s lock` from pyproject.toml and conda.yaml; never edit by hand.",
            f"# inputs-sha256: {inputs_digest(inputs)}",
            *(f"# input: {line}" for line in inputs),
        ]
        path = lock_path(extra)
        path.write_text("\n".join(header) + "\n" + resolved, encoding="utf-8")
        written.append(path)
    return written


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: Sequence[str] | None = None) -> int:
    """``python lock.py --pyproject pyproject.toml [--uv PATH]``: write both locks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    parser.add_argument("--uv", default="uv")
    args = parser.parse_args(argv)
    for path in write_locks(args.pyproject, HERE / "conda.yaml", uv=args.uv):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
