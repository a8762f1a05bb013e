"""The built-in augmentation policies, registered as a plugin like a third party's.

A thin module: the policies live in :mod:`food_recognition.augment.policies`,
which knows nothing of the plugin system.
"""

from __future__ import annotations

from food_recognition.augment.policies import (
    DefaultPolicy,
    NoAugmentPolicy,
    RandAugmentPolicy,
    ReferencePolicy,
)
from food_recognition.plugins.registry import PolicySpec, Register
from food_recognition.plugins.spec import hookimpl

__all__ = ["food_recognition_register_augment_policies"]


@hookimpl
def food_recognition_register_augment_policies(register: Register[PolicySpec]) -> None:
    """Register ``reference``, ``default``, ``randaugment`` and ``none``."""
    register.add(
        PolicySpec(
            "reference",
            ReferencePolicy,
            "the reference project's rotation 40, zoom 0.2, shift 0.2, horizontal flip",
        )
    )
    register.add(
        PolicySpec(
            "default", DefaultPolicy, "random-resized-crop, horizontal flip, light colour jitter"
        )
    )
    register.add(
        PolicySpec("randaugment", RandAugmentPolicy, "random-resized-crop, flip, RandAugment")
    )
    register.add(PolicySpec("none", NoAugmentPolicy, "no augmentation: centre crop and resize"))
