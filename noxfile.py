"""Developer sessions: ``nox -s demo``, ``tests``, ``lint``, ``typecheck``, ``docs``, ``bench``,
``lock``.

Each session builds its own virtual environment with uv (fast, cached), so the
README's two commands work on a machine with only Python 3.11, Node.js and npm.
Sessions that need Azurite install it from package.json into node_modules/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "docs"]

ROOT = Path(__file__).parent
PYTHON = "3.11"


def _install_azurite(session: nox.Session) -> None:
    """Put Azurite (Blob Storage emulator) in node_modules/.bin, once."""
    if (ROOT / "node_modules" / ".bin" / "azurite-blob").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        session.error("npm is needed for Azurite (the local Blob Storage): install Node.js 18+")
    lock = (ROOT / "package-lock.json").exists()
    session.run(npm, "ci" if lock else "install", "--no-audit", "--no-fund", external=True)


def _quiet_tensorflow(session: nox.Session) -> dict[str, str]:
    return {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The whole mission on one machine: data, Blob upload, training, TTA, serving."""
    session.install("-e", ".[cpu,demo]")
    _install_azurite(session)
    session.run("food-recognition", "demo", *session.posargs, env=_quiet_tensorflow(session))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite against real local components (Azurite, azmlinfsrv, MLflow)."""
    session.install("-e", ".[dev,export]")
    _install_azurite(session)
    args = session.posargs or ["-q"]
    session.run("pytest", *args, env=_quiet_tensorflow(session))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev,export]")
    session.run("mypy", "--strict", "food_recognition")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Sphinx HTML (warnings are errors), then the doctests in the pages and docstrings."""
    session.install("-e", ".[docs]")
    env = _quiet_tensorflow(session)
    build = ROOT / "docs" / "_build"
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-W",
            "--keep-going",
            "-b",
            builder,
            "docs",
            str(build / builder),
            env=env,
        )
    session.log(f"open {build / 'html' / 'index.html'}")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark under benchmarks/ (pass --quick for a smoke run)."""
    session.install("-e", ".[dev,export]")
    env = _quiet_tensorflow(session)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.log(f"== {script.name}")
        session.run("python", str(script), *session.posargs, env=env)
    if os.environ.get("CI"):
        session.log("benchmarks ran on a CI machine: compare ratios, not absolute times")


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Regenerate the Azure ML environment locks (food_recognition/azure/environment/*.lock).

    Run it after changing a requirement in pyproject.toml or conda.yaml; the
    tests fail while a lock no longer matches them.
    """
    session.install("uv>=0.4", "pyyaml>=6")
    uv = str(Path(session.bin) / "uv")
    script = ROOT / "food_recognition" / "azure" / "environment" / "lock.py"
    session.run("python", str(script), "--pyproject", str(ROOT / "pyproject.toml"), "--uv", uv)
