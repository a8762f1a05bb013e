"""Test-time augmentation: policies (which views) and batched multi-view prediction.

>>> from food_recognition.tta import get_tta_policy
>>> get_tta_policy("flip").num_views
2

The plugin manager imports :mod:`food_recognition.tta.policies` at start-up, so
this package stays cheap to import: :mod:`food_recognition.tta.predict` (NumPy)
loads on first use of its names, TensorFlow only when views are made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from food_recognition.tta.policies import (
    TTAOptionError,
    TTAPolicy,
    View,
    ViewsPolicy,
    apply_views,
    get_tta_policy,
    list_tta_policies,
)

if TYPE_CHECKING:
    from food_recognition.tta.predict import PredictFn, TTAResult, merge_views, predict_with_tta

__all__ = [
    "PredictFn",
    "TTAOptionError",
    "TTAPolicy",
    "TTAResult",
    "View",
    "ViewsPolicy",
    "apply_views",
    "get_tta_policy",
    "list_tta_policies",
    "merge_views",
    "predict_with_tta",
]

_LAZY = {"PredictFn", "TTAResult", "merge_views", "predict_with_tta"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("food_recognition.tta.predict"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
