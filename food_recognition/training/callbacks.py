"""The Keras callbacks of a training run.

- :class:`CyclicalMomentum`: the one-cycle momentum, set before every step.
- :class:`RunStateCallback`: per-epoch history, early stopping on the
  validation loss with the best weights kept, step and epoch checkpoints, and
  the MLflow epoch metrics, in that order, from one place so a resumed run
  picks all of them up together.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import attrs
import keras
import numpy as np
import tensorflow as tf

from food_recognition.errors import TrainingError
from food_recognition.training.checkpoint import CheckpointStore, RunState
from food_recognition.training.metric_names import EPOCH_METRICS
from food_recognition.training.schedules import one_cycle_momentum
from food_recognition.training.tracking import Tracker, epoch_metrics

__all__ = [
    "CyclicalMomentum",
    "RunStateCallback",
    "TrainingDataError",
    "inner_optimizer",
    "model_weights",
]

_log = logging.getLogger(__name__)


class TrainingDataError(TrainingError, ValueError):
    """The training data ran out: not one image of the split could be loaded."""


def inner_optimizer(optimizer: Any) -> Any:
    """The optimizer that updates the variables (unwraps mixed precision's loss scaling)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


class _ScheduledMomentum:
    """A momentum value the train step reads from a variable at every step.

    Keras's optimizers bake a float ``beta_1`` / ``momentum`` into the traced
    train step; this stands in for the float, converts to the variable's value
    inside the graph, and keeps SGD's ``momentum != 0`` test a Python bool.
    """

    def __init__(self, variable: tf.Variable) -> None:
        self.variable = variable

    def __ne__(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __rsub__(self, other: Any) -> Any:
        return other - self.variable

    def __sub__(self, other: Any) -> Any:
        return self.variable - other

    def __mul__(self, other: Any) -> Any:
        return self.variable * other

    __rmul__ = __mul__

    def __float__(self) -> float:
        return float(self.variable.numpy())


def _convert_scheduled(
    value: _ScheduledMomentum, dtype: Any = None, name: Any = None, as_ref: bool = False
) -> Any:
    tensor = value.variable.read_value()
    return tensor if dtype is None else tf.cast(tensor, dtype)


tf.register_tensor_conversion_function(_ScheduledMomentum, _convert_scheduled)


#: The optimizer attribute that holds the scheduled momentum's variable.
_MOMENTUM_VARIABLE = "_food_recognition_momentum"


class CyclicalMomentum(keras.callbacks.Callback):  # type: ignore[misc]
    """Set the optimizer's momentum (Adam's ``beta_1``, SGD's ``momentum``) each step.

    The optimizer's float is swapped for a variable while training and put back
    (the last value) when training ends, so the saved optimizer config stays plain.

    :param total_steps: optimizer steps of the cycle (the phase).
    :param warmup_fraction: share of the steps the learning rate rises.
    :param momentum_max: momentum at the start and the end.
    :param momentum_min: momentum at the learning-rate peak.
    """

    def __init__(
        self, total_steps: int, warmup_fraction: float, momentum_max: float, momentum_min: float
    ) -> None:
        super().__init__()
        self.total_steps = total_steps
        self.warmup_fraction = warmup_fraction
        self.momentum_max = momentum_max
        self.momentum_min = momentum_min
        self._variable: tf.Variable | None = None
        self._attribute = ""
        self._step = 0

    def momentum_at(self, step: int) -> float:
        """The momentum for optimizer step ``step``."""
        return one_cycle_momentum(
            step, self.total_steps, self.warmup_fraction, self.momentum_max, self.momentum_min
        )

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Put the optimizer's momentum under this schedule, from its current step."""
        optimizer = inner_optimizer(self.model.optimizer)
        self._attribute = "momentum" if hasattr(optimizer, "nesterov") else "beta_1"
        self._step = int(optimizer.iterations.numpy())
        # One variable per optimizer, kept across fit() calls: a second fit() (a
        # resumed epoch's rest, then whole epochs) reuses the train step traced in
        # the first, which reads the variable it was traced with.
        variable = getattr(optimizer, _MOMENTUM_VARIABLE, None)
        if variable is None:
            variable = tf.Variable(
                self.momentum_at(self._step), trainable=False, dtype="float32", name="momentum"
            )
            setattr(optimizer, _MOMENTUM_VARIABLE, variable)
        variable.assign(self.momentum_at(self._step))
        self._variable = variable
        setattr(optimizer, self._attribute, _ScheduledMomentum(variable))

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Set the optimizer's momentum for the step about to run."""
        assert self._variable is not None
        self._variable.assign(self.momentum_at(self._step))
        self._step += 1

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Leave the optimizer a plain momentum value: the last one scheduled."""
        if self._variable is not None:
            optimizer = inner_optimizer(self.model.optimizer)
            setattr(optimizer, self._attribute, float(self._variable.numpy()))
            self._variable = None


def model_weights(model: Any) -> list[np.ndarray]:
    """The model's weights, with the EMA values in place of the trainable ones when on."""
    weights = [np.asarray(w) for w in model.get_weights()]
    optimizer = inner_optimizer(model.optimizer)
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    if not getattr(optimizer, "use_ema", False) or not averages:
        return weights
    by_path = {
        var.path: avg for var, avg in zip(optimizer._trainable_variables, averages, strict=False)
    }
    return [
        np.asarray(by_path[var.path]) if var.path in by_path else value
        for var, value in zip(model.weights, weights, strict=True)
    ]


class RunStateCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """History, early stopping, checkpoints and MLflow epoch metrics for one phase.

    Epoch numbers Keras passes are counted within the phase; ``epoch_offset``
    turns them into global epochs (a head phase before the main one).

    :param store: where checkpoints go.
    :param state: the run state this ``fit`` starts from.
    :param steps_per_epoch: optimizer steps of a whole epoch.
    :param epoch_offset: the global index of the phase's first epoch.
    :param patience: early-stopping patience in epochs; ``None`` never stops.
    :param checkpoint_every_steps: also checkpoint every N optimizer steps (0: epoch ends only).
    :param tracker: the MLflow run.
    :param may_stop: whether running out of patience stops the phase; when not
        (an annealing schedule), the best epoch's weights are still kept.
    """

    def __init__(
        self,
        store: CheckpointStore,
        state: RunState,
        *,
        steps_per_epoch: int,
        epoch_offset: int,
        patience: int | None,
        checkpoint_every_steps: int,
        tracker: Tracker,
        may_stop: bool = True,
    ) -> None:
        super().__init__()
        self.may_stop = may_stop
        self.store = store
        self.state = state
        self.steps_per_epoch = steps_per_epoch
        self.epoch_offset = epoch_offset
        self.patience = patience
        self.checkpoint_every_steps = checkpoint_every_steps
        self.tracker = tracker
        self.stopped_early = False
        self.live_weights: list[np.ndarray] | None = None
        self.best_weights: list[np.ndarray] | None = None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Count the step; checkpoint every ``checkpoint_every_steps`` inside an epoch."""
        # Counted in Python: reading optimizer.iterations would sync the device every step.
        self.state = attrs.evolve(
            self.state,
            step_in_epoch=self.state.step_in_epoch + 1,
            global_step=self.state.global_step + 1,
        )
        every = self.checkpoint_every_steps
        # The epoch's last step is checkpointed by on_epoch_end, after validation.
        inside_epoch = self.state.step_in_epoch < self.steps_per_epoch
        if every and self.state.global_step % every == 0 and inside_epoch:
            self.state = self.store.save(self.model, self.state)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Refuse an epoch whose data ran dry; else log it, track the best, checkpoint."""
        if self.state.step_in_epoch < self.steps_per_epoch:
            # The pipeline repeats forever and skips images it cannot decode, so it
            # only runs dry when every image fails; Keras would only warn and save
            # an untrained model.
            raise TrainingDataError(
                f"the training data ran out after {self.state.step_in_epoch} of "
                f"{self.steps_per_epoch} steps of epoch {self.epoch_offset + epoch + 1}: no "
                "image of the training split could be loaded (the decoder's messages are "
                "above). Find the files with "
                "food_recognition.datasets.pipeline.find_undecodable, or, if the images are "
                "fine, check the augmentation policy"
            )
        logs = dict(logs or {})
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        metrics = epoch_metrics(logs)
        history = {name: list(values) for name, values in self.state.history.items()}
        for name in EPOCH_METRICS:
            if name in logs:
                # NaN too, so every list keeps one entry per epoch.
                history.setdefault(name, []).append(float(logs[name]))
        global_epoch = self.epoch_offset + epoch
        best_value, best_epoch, wait = self.state.best_value, self.state.best_epoch, self.state.wait
        monitored = float(logs.get("val_loss", logs.get("loss", math.nan)))
        if math.isfinite(monitored) and (best_value is None or monitored < best_value):
            best_value, best_epoch, wait = monitored, global_epoch, 0
            if self.patience is not None:
                self.best_weights = model_weights(self.model)
                self.store.save_best(self.best_weights)
        else:
            wait += 1
        if self.may_stop and self.patience is not None and wait >= self.patience:
            self.model.stop_training = True
            self.stopped_early = True
            _log.info("early stopping after epoch %d: best epoch %s", global_epoch + 1, best_epoch)
        self.state = attrs.evolve(
            self.state,
            epoch=global_epoch + 1,
            step_in_epoch=0,
            history=history,
            best_value=best_value,
            best_epoch=best_epoch,
            wait=wait,
        )
        self.tracker.log_epoch(metrics, global_epoch)
        self.state = self.store.save(self.model, self.state)
        if getattr(inner_optimizer(optimizer), "use_ema", False):
            # fit() swaps the EMA values in when it returns; keep the live ones to go on from.
            self.live_weights = [np.asarray(w) for w in self.model.get_weights()]

    def best_weights_or_none(self) -> list[np.ndarray] | None:
        """The best epoch's weights of this phase (memory, else the checkpoint folder)."""
        return self.best_weights if self.best_weights is not None else self.store.load_best()
