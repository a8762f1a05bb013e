"""Developer sessions: ``nox -s demo``, ``tests``, ``lint``, ``typecheck``, ``docs``, ``bench``,
``lock``, ``build``.

Each session builds its own virtual environment with uv (fast, cached), so the
README's two commands work on a machine with only Python 3.11, Node.js and npm.
Sessions that need Azurite install it from package.json into node_modules/.
"""

from __future__ import annotations

import os
import re
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
        session.error("npm is needed for Azurite (the local Blob Storage): install Node.js 22+")
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
    """Sphinx HTML, then the doctests in the pages and docstrings.

    Nitpicky (``-n``) with warnings as errors (``-W``): every reference must
    resolve. After the HTML build, docs/_ext/apicheck.py fails it on a page
    that renders an error box and on a promised module without its page.
    """
    session.install("-e", ".[docs]")
    env = _quiet_tensorflow(session)
    build = ROOT / "docs" / "_build"
    # autosummary writes docs/_api afresh; a page left from a renamed module would
    # fail the build ("not included in any toctree"), so start from none.
    shutil.rmtree(ROOT / "docs" / "_api", ignore_errors=True)
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-n",
            "-W",
            "--keep-going",
            # One environment for both builders: the doctest run reuses the pages
            # the HTML run read (about 600 API pages) instead of reading them again.
            "-d",
            str(build / "doctrees"),
            "-b",
            builder,
            "docs",
            str(build / builder),
            env=env,
        )
    session.log(f"open {build / 'html' / 'index.html'}")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Every benchmark under benchmarks/ (``-- --quick`` for a smoke run), or one by name.

    ``nox -s bench -- bench_tta.py --quick`` runs only ``benchmarks/bench_tta.py``
    (``learning_check.py`` too), passing it the arguments after its name.
    """
    args = list(session.posargs)
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if args and args[0].endswith(".py"):
        chosen = ROOT / "benchmarks" / Path(args.pop(0)).name
        if not chosen.is_file():
            known = ", ".join(p.name for p in sorted((ROOT / "benchmarks").glob("*.py")))
            session.error(f"no benchmark {chosen.name} in benchmarks/: pick one of {known}")
        scripts = [chosen]
    session.install("-e", ".[dev,export]")
    env = _quiet_tensorflow(session)
    for script in scripts:
        session.log(f"== {script.name}")
        session.run("python", str(script), *args, env=env)
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


#: What the installed wheel must do, run from a folder outside the checkout so
#: that ``import food_recognition`` can only find the installed copy. The data
#: files are read the way the library reads them at run time.
_SMOKE_IMPORT = """
import sys
from pathlib import Path
import food_recognition
from food_recognition.azure.environment import CONDA_FILE, conda_spec
from food_recognition.serving.server import SCORE_SCRIPT
here = Path(food_recognition.__file__).parent
assert "site-packages" in here.parts, here
assert (here / "py.typed").is_file(), "py.typed is missing"
assert CONDA_FILE.is_file(), CONDA_FILE
for extra in ("cpu", "gpu"):
    assert conda_spec(extra=extra)["dependencies"], extra
assert SCORE_SCRIPT.is_file(), SCORE_SCRIPT
print("installed", food_recognition.__version__, "from", here)
"""

#: Write a tiny sample with the library's own function (10 classes x 6 images).
_SMOKE_SAMPLE = """
import sys
from food_recognition.datasets.sample import write_digits_sample
print(write_digits_sample(sys.argv[1], size=32, per_class=6))
"""


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/, check them, install the wheel fresh and smoke-test it.

    The wheel is built from the sdist (``uv build``), so a file the sdist
    forgets fails here. The install goes into a new virtual environment with
    the ``cpu`` extra only, outside the checkout, as a user's would.
    """
    session.install("uv>=0.4", "twine>=6.1")
    uv = str(Path(session.bin) / "uv")
    dist = ROOT / "dist"
    for old in dist.glob("food_recognition-*"):
        old.unlink()
    session.run(uv, "build", "--out-dir", str(dist), str(ROOT))
    version = _version()
    wheel = dist / f"food_recognition-{version}-py3-none-any.whl"
    sdist = dist / f"food_recognition-{version}.tar.gz"
    for artifact in (wheel, sdist):
        if not artifact.is_file():
            session.error(f"{artifact.name} was not built")
    session.run("twine", "check", "--strict", str(wheel), str(sdist))

    work = Path(session.create_tmp()).resolve() / "smoke"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    venv = work / "venv"
    session.run(uv, "venv", "--quiet", "--python", PYTHON, str(venv))
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    cli = str(Path(python).with_name("food-recognition"))
    # The README's install line, with the wheel's path filled in.
    session.run(uv, "pip", "install", "--python", python, f"{wheel}[cpu]")
    env = _quiet_tensorflow(session)
    session.chdir(work)
    session.run(python, "-c", _SMOKE_IMPORT, external=True, env=env)
    printed = session.run(cli, "--version", external=True, env=env, silent=True)
    if not isinstance(printed, str) or version not in printed:
        session.error(f"food-recognition --version printed {printed!r}, not {version}")
    session.log(printed.strip())
    session.run(cli, "plugins", external=True, env=env)
    # The sample data comes from scikit-learn: the `demo` extra, added on top.
    session.run(uv, "pip", "install", "--python", python, f"{wheel}[cpu,demo]")
    session.run(python, "-c", _SMOKE_SAMPLE, "sample", external=True, env=env)
    session.run(
        cli,
        "train",
        "--output",
        "run",
        "--data.path",
        "sample",
        "--model.backbone",
        "mobilenet_v3_small_minimalistic",
        "--model.input_size",
        "32",
        "--data.batch_size",
        "16",
        "--training.epochs",
        "1",
        external=True,
        env=env,
    )
    if not (work / "run" / "package" / "model.keras").is_file():
        session.error("the smoke training wrote no run/package/model.keras")
    session.log(f"built, checked and smoke-tested {wheel.relative_to(ROOT)}")


def _version() -> str:
    """The package's version, read from the source as hatchling reads it."""
    text = (ROOT / "food_recognition" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("food_recognition/__init__.py defines no __version__")
    return match.group(1)
