"""The README's Python block, run exactly as written (in a scratch folder, without a network)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def readme_python_block() -> str:
    """The first ```python block under "## Use it from Python" in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README.md has no ```python block under 'Use it from Python'"
    return match.group(1)


def test_the_block_is_at_most_eight_lines() -> None:
    lines = [line for line in readme_python_block().splitlines() if line.strip()]
    assert len(lines) <= 8


def test_the_quickstart_shows_the_same_block() -> None:
    page = (ROOT / "docs" / "quickstart.rst").read_text(encoding="utf-8")
    for line in readme_python_block().splitlines():
        assert line.strip() in page, line


def test_the_readme_block_trains_evaluates_with_tta_loads_and_predicts(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    # No network: Keras would fetch ImageNet weights from here; the block must not.
    env["KERAS_HOME"] = str(tmp_path / "keras-home")
    result = subprocess.run(
        [sys.executable, "-c", readme_python_block()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "top-1 accuracy" in out and "TTA five_crop" in out
    assert (tmp_path / "runs" / "train" / "package" / "model.keras").is_file()
    last = out.strip().splitlines()[-1]
    # The prediction prints as "Digit 3 97.1%, Digit 8 1.2%, Digit 5 0.6%": three classes.
    assert re.fullmatch(r"(Digit \d [\d.]+%, ){2}Digit \d [\d.]+%", last), last
    assert not (tmp_path / "keras-home" / "models").exists()
