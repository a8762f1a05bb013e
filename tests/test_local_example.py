"""examples/local_end_to_end.py keeps its variants apart (issue 16, item 8).

Training resumes what it finds in its folder, so ``--quick``, the full run and
``--data`` sharing one folder gave back the quick run's untrained model, or
crashed on a class mismatch. Each variant now has its own default folder, and
a ``--workdir`` that another configuration trained in is refused before
anything is written. The full run itself is ``tests/test_demo.py``'s
(``--quick``, slow).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from food_recognition.config import RunConfig, load_yaml, with_overrides

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "local_end_to_end.py"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """The example's functions (``__name__`` is not ``__main__``, so nothing runs)."""
    return runpy.run_path(str(EXAMPLE))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=300,
    )


def test_each_variant_has_its_own_default_folder(example: dict[str, Any]) -> None:
    folders = {
        example["default_workdir"](None, True),
        example["default_workdir"](None, False),
        example["default_workdir"](Path("data/food-101"), True),
        example["default_workdir"](Path("data/food-101"), False),
    }
    assert len(folders) == 4
    assert all(folder.parent == Path("runs/local-example") for folder in folders)


def test_the_same_configuration_may_resume_its_folder(
    example: dict[str, Any], tmp_path: Path
) -> None:
    config = with_overrides(RunConfig(), {"training.epochs": 1})
    example["claim_workdir"](tmp_path / "w", config)
    example["claim_workdir"](tmp_path / "w", config)  # a rerun: no error
    assert load_yaml(RunConfig, tmp_path / "w" / "run.yaml") == config


def test_a_full_run_refuses_the_quick_runs_folder(example: dict[str, Any], tmp_path: Path) -> None:
    workdir = tmp_path / "shared"
    # What `--quick --workdir shared` records before it trains.
    quick = with_overrides(
        RunConfig(),
        {
            "data.path": str(workdir / "digits"),
            "data.max_per_class": 12,
            "model.backbone": "mobilenet_v3_small",
            "model.input_size": 48,
            "model.batch_norm_momentum": 0.9,
            "training.epochs": 1,
            "training.steps_per_epoch": 3,
            "training.early_stopping_patience": None,
            "tta.policy": "flip",
        },
    )
    example["claim_workdir"](workdir, quick)
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))

    result = _run("--workdir", str(workdir), cwd=tmp_path)  # the full run, same folder

    assert result.returncode == 2, result.stderr[-2000:]
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert f"{workdir} holds a run with other settings" in error
    assert "training.epochs: 1 -> 5" in error
    assert "pass another --workdir" in error
    # Refused before the sample was written or anything trained.
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before
