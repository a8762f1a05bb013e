"""examples/datasets_tour.py (included in docs/datasets.rst) runs and says what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_datasets_tour_runs_against_azurite(azurite: str, scan_cache: Path) -> None:
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "datasets_tour.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "layout: class_folders, classes: apple_pie, ramen" in out
    assert "validation: 4 images {'apple_pie': 2, 'ramen': 2}" in out
    assert "test: 6 images" in out
    assert "skipped broken.jpg: truncated or corrupt JPEG" in out
    assert "normalized sideways.jpg: EXIF orientation 6" in out
    assert "uploaded 28, skipped 0" in out
    assert "rerun: uploaded 0, skipped 28" in out
    assert "downloaded 28 files" in out
