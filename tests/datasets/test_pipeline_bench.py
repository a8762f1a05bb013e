"""The input-pipeline benchmark still runs (``--quick``); no timings are asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_pipeline_quick_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_pipeline.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in (
        "decode only",
        "decode + resize 224",
        "ours: reference set",
        "keras: dir + 4 layers",
        "ours: default policy",
        "ours reference set (bilinear) / keras path",
        "ours default policy / decode + resize",
    ):
        assert row in result.stdout, result.stdout
