"""A run killed mid-epoch (SIGKILL) resumes from its checkpoint and ends with the same steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from food_recognition.training.checkpoint import CheckpointStore

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# 3 classes x 100 images / batch 4 = 75 steps an epoch.
ARGS = ["--per-class", "100", "--epochs", "3", "--every", "5"]


def _child(output: Path, result: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.training.child", str(output), str(result), *ARGS],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_mid_epoch(process: subprocess.Popen[str], store: CheckpointStore) -> None:
    """SIGKILL the run once a checkpoint inside the second epoch exists."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = store.load_state()
        if state is not None and state.epoch >= 1 and state.step_in_epoch > 0:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            return
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        output = process.stdout.read() if process.stdout else ""
        pytest.fail(f"the run ended before a mid-epoch checkpoint was seen:\n{output[-3000:]}")
    process.kill()
    pytest.fail("no mid-epoch checkpoint within the deadline")


def test_killed_run_resumes_with_the_same_number_of_steps(tmp_path: Path) -> None:
    output = tmp_path / "killed"
    store = CheckpointStore(output / "checkpoints")
    first = _child(output, tmp_path / "first.json")
    _kill_mid_epoch(first, store)
    assert first.returncode == -signal.SIGKILL
    killed_at = store.load_state()
    assert killed_at is not None and 0 < killed_at.step_in_epoch < 75
    assert not (tmp_path / "first.json").exists()

    second = _child(output, tmp_path / "resumed.json")
    log, _ = second.communicate(timeout=600)
    assert second.returncode == 0, log[-3000:]
    assert f"at epoch {killed_at.epoch + 1}, step {killed_at.step_in_epoch}" in log
    resumed = json.loads((tmp_path / "resumed.json").read_text())

    whole = _child(tmp_path / "whole", tmp_path / "whole.json")
    log, _ = whole.communicate(timeout=600)
    assert whole.returncode == 0, log[-3000:]
    uninterrupted = json.loads((tmp_path / "whole.json").read_text())

    assert uninterrupted["iterations"] == 3 * 75
    assert resumed["iterations"] == uninterrupted["iterations"]
    history = json.loads((output / "package" / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert json.loads((output / "package" / "metrics.json").read_text())["optimizer_steps"] == 225
