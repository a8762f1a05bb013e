"""``food-recognition evaluate``: placeholder until its issue lands."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand (nothing yet)."""
