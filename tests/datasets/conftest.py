"""Keep the index scan's cache (normalized copies, scan results) inside each test's tmp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def scan_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``FOOD_RECOGNITION_CACHE`` at a fresh folder for the test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FOOD_RECOGNITION_CACHE", str(folder))
    return folder
