"""Training: fit a model from a RunConfig, checkpoint and resume, log to MLflow.

>>> from food_recognition.training import LOGGED_METRICS
>>> "val_accuracy" in LOGGED_METRICS
True

:func:`train` (and :func:`find_learning_rate`) import TensorFlow when first
used, so importing this package (the sweep code reads the metric names) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from food_recognition.training.metric_names import EPOCH_METRICS, FINAL_METRICS, LOGGED_METRICS

if TYPE_CHECKING:
    from food_recognition.training.distribute import clean_tf_config
    from food_recognition.training.loop import TrainingData, run_training, train
    from food_recognition.training.lr_finder import LRFinderResult, find_learning_rate

__all__ = [
    "EPOCH_METRICS",
    "FINAL_METRICS",
    "LOGGED_METRICS",
    "LRFinderResult",
    "TrainingData",
    "clean_tf_config",
    "find_learning_rate",
    "run_training",
    "train",
]

_LAZY = {
    "train": "food_recognition.training.loop",
    "run_training": "food_recognition.training.loop",
    "TrainingData": "food_recognition.training.loop",
    "find_learning_rate": "food_recognition.training.lr_finder",
    "LRFinderResult": "food_recognition.training.lr_finder",
    "clean_tf_config": "food_recognition.training.distribute",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
