"""The metric names training logs to MLflow: fixed, because sweeps refer to them.

A sweep's primary metric must be one of :data:`LOGGED_METRICS`; a sweep on a
name the training never logs is refused before it is submitted.
"""

from __future__ import annotations

#: Logged once per epoch (``step`` = epoch index).
EPOCH_METRICS = (
    "loss",
    "accuracy",
    "top5_accuracy",
    "val_loss",
    "val_accuracy",
    "val_top5_accuracy",
    "learning_rate",
)

#: Logged once, at the end of the run, on the test split.
FINAL_METRICS = (
    "best_val_accuracy",
    "test_loss",
    "test_accuracy",
    "test_top5_accuracy",
)

#: Every metric name a training run logs.
LOGGED_METRICS = EPOCH_METRICS + FINAL_METRICS

#: Whether a larger value is better, for a sweep's goal.
GOALS = {name: ("minimize" if name.endswith("loss") else "maximize") for name in LOGGED_METRICS}
