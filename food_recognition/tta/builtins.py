"""The built-in TTA policies, registered as a plugin like a third party's.

A thin module: the policies live in :mod:`food_recognition.tta.policies`.
"""

from __future__ import annotations

from food_recognition.plugins.registry import PolicySpec, Register
from food_recognition.plugins.spec import hookimpl
from food_recognition.tta.policies import builtin_policies

__all__ = ["food_recognition_register_tta_policies"]


@hookimpl
def food_recognition_register_tta_policies(register: Register[PolicySpec]) -> None:
    """Register ``identity``, ``flip``, ``five_crop``, ``ten_crop``, ``multi_scale``, ``random``."""
    for spec in builtin_policies():
        register.add(spec)
