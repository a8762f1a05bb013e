"""Built-in plugin (placeholder until its issue lands)."""

from __future__ import annotations

from typing import Any

from food_recognition.plugins.spec import hookimpl


@hookimpl
def food_recognition_register_backbones(register: Any) -> None:
    """Register nothing yet."""
