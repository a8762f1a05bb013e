"""The README's first command, end to end on tiny settings, and the local example.

One test drives every real component in sequence, exactly as a user's first
run does: the digits sample, Azurite (upload, skip on re-upload, read back),
the ``local`` compute target running the training entry point in a
subprocess, evaluation with TTA, and azmlinfsrv answering over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from food_recognition.demo import DemoOptions, run_demo

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_mission(tmp_path: Path, azurite: str) -> None:
    lines: list[str] = []
    options = DemoOptions(
        workdir=tmp_path / "demo",
        image_size=32,
        epochs=1,
        batch_size=16,
        max_per_class=8,
    )
    result = run_demo(options, echo=lines.append)

    text = "\n".join(lines)
    for step in range(1, 7):
        assert f"[{step}/6]" in text
    # The second upload found every blob already there with the same content.
    assert "upload again: 0 sent" in text
    # What the training node read back is the sample, byte for byte.
    sample = tmp_path / "demo" / "sample-data"
    original = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    mounted = sorted(
        p.relative_to(result.data_root) for p in result.data_root.rglob("*") if p.is_file()
    )
    assert original == mounted
    assert (sample / original[0]).read_bytes() == (result.data_root / original[0]).read_bytes()

    package = result.package_dir
    assert (package / "model.keras").is_file()
    labels = json.loads((package / "labels.json").read_text())
    assert labels["classes"] == [f"digit_{d}" for d in range(10)]
    assert {p.name for p in (package / "plots").glob("*.png")} >= {
        "confusion_matrix.png",
        "training_curves.png",
        "worst_mistakes.png",
    }
    assert result.report.tta_metrics is not None  # the side-by-side TTA column
    assert result.report.num_images > 0

    assert result.prediction is not None
    top = result.prediction.top
    assert top.class_name in labels["classes"]
    assert 0.0 <= top.probability <= 1.0
    assert f"prediction:     {top.label}" in text


def test_local_example_runs(tmp_path: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "local_end_to_end.py"),
            "--quick",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "top-1" in result.stdout
    assert "-> Digit" in result.stdout
