"""Evaluation: metrics, with and without test-time augmentation, and plots.

:func:`evaluate` scores a :class:`~food_recognition.package.ModelPackage` on a
split and returns an :class:`EvaluationReport`; :func:`compute_metrics` is the
NumPy core it uses, usable on any probabilities; :mod:`.plots` draws the PNGs.
"""

from food_recognition.evaluation.metrics import (
    ClassificationMetrics,
    ConfusedPair,
    compute_metrics,
    confusion_matrix,
)
from food_recognition.evaluation.plots import Mistake
from food_recognition.evaluation.report import (
    EvaluationError,
    EvaluationReport,
    evaluate,
    worst_mistakes,
    write_plots,
)

__all__ = [
    "ClassificationMetrics",
    "ConfusedPair",
    "EvaluationError",
    "EvaluationReport",
    "Mistake",
    "compute_metrics",
    "confusion_matrix",
    "evaluate",
    "worst_mistakes",
    "write_plots",
]
