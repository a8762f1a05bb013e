"""Run nox from a private tool environment, creating it on first use.

``python3.11 scripts/nox.py [nox arguments]`` works on a fresh machine with
only Python 3.11: it makes ``.venv-tools/`` (nox and uv, from PyPI) without
touching the system Python, which may refuse ``pip install`` (PEP 668), then
runs nox with the arguments given. With no arguments nox runs the default
sessions: lint, typecheck, tests, docs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".venv-tools"
REQUIREMENTS = ("nox>=2024.4", "uv>=0.4")


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older Python
        sys.exit(f"food_recognition needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    bindir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    marker = TOOLS / ".ready"
    if not marker.exists():
        print(f"creating {TOOLS.name}/ with {', '.join(REQUIREMENTS)}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        marker.write_text("ok\n")
    env = dict(os.environ)
    # nox finds uv on PATH for its fast virtual environments.
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    os.chdir(ROOT)
    return subprocess.call([str(python), "-m", "nox", *sys.argv[1:]], env=env)


if __name__ == "__main__":
    raise SystemExit(main())
