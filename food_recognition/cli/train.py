"""``food-recognition train``: placeholder until its issue lands."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``train`` subcommand (nothing yet)."""
