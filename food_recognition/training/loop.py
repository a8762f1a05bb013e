"""Train a model from a :class:`~food_recognition.config.RunConfig` and write its package.

:func:`train` is the training entry point every compute target runs
(``food-recognition train --config run.yaml --output DIR``). It

1. picks the distribution strategy from the environment
   (:mod:`~food_recognition.training.distribute`),
2. reads the data set (:func:`food_recognition.datasets.load_dataset_from_config`)
   and makes the input pipelines, pixels in ``[0, 255]``, labels one-hot,
3. builds the model (:func:`food_recognition.models.build`; the backbone's
   preprocessing is its first layer) and, with ``augment.on_device``, trains it
   behind the policy's Keras layers (:func:`food_recognition.augment.device_augmenter`;
   the package holds the model alone),
4. fits it, the head alone first when ``training.head_epochs`` asks for it,
   then everything, the backbone at discriminative rates when it starts from
   pretrained weights (:attr:`~food_recognition.config.TrainingConfig.backbone_lr_ratio`),
   checkpointing as it goes and resuming from ``DIR/checkpoints`` when it finds
   one there,
5. evaluates it on the test split and writes the model package to ``DIR/package``,
6. logs parameters, per-epoch and final metrics and the package's files to MLflow.

:func:`run_training` is steps 4-6 for data a caller prepared (benchmarks, tests).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from food_recognition.config import RunConfig, to_dict
from food_recognition.plugins.resolve import resolve
from food_recognition.training.checkpoint import CheckpointStore, RunState
from food_recognition.training.distribute import (
    WorkerRole,
    patch_multi_worker_build,
    strategy_from_environment,
)
from food_recognition.training.tracking import Tracker, flatten_params, tracking_uri_for

__all__ = [
    "PACKAGE_DIR",
    "PhaseRates",
    "TrainingData",
    "phase_rates",
    "run_training",
    "train",
    "training_model",
]

_log = logging.getLogger(__name__)

#: The model package's folder inside the output folder.
PACKAGE_DIR = "package"
#: The checkpoints' folder inside the output folder.
CHECKPOINT_DIR = "checkpoints"


def _strings(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


@attrs.define(frozen=True)
class TrainingData:
    """The input pipelines of a run and what the package needs to know about them.

    :param classes: class names, in output order.
    :param human_labels: readable names, one per class.
    :param train: one pass over the training split (images ``[B, S, S, 3]`` in
        ``[0, 255]``, labels one-hot ``[B, C]``); repeated here as needed.
    :param train_size: images in the training split (sets the steps per epoch).
    :param validation: the validation pipeline, or ``None``.
    :param test: the test pipeline, or ``None``.
    :param test_split: the test :class:`~food_recognition.datasets.Split` for
        the evaluation report and plots, or ``None``.
    :param validation_batches: how many batches ``validation`` gives, when Keras
        cannot count them (a pipeline that skips undecodable images, or reads
        TFRecords, has an unknown length); ``None`` leaves it to Keras.
    :param test_batches: the same for ``test``.
    """

    classes: tuple[str, ...] = attrs.field(converter=_strings)
    human_labels: tuple[str, ...] | None
    train: Any
    train_size: int
    validation: Any = None
    test: Any = None
    test_split: Any = None
    validation_batches: int | None = None
    test_batches: int | None = None


def train(run_config: RunConfig, output_dir: Path | str) -> Path:
    """Train the model ``run_config`` describes and write its package.

    Running it again with the same ``output_dir`` resumes from the last
    checkpoint (and returns at once when the package was already written).
    Under a multi-worker ``TF_CONFIG`` only the chief writes ``output_dir``;
    the other workers write to a scratch folder.

    :param run_config: the run.
    :param output_dir: the output folder (package, checkpoints, local MLflow store).
    :returns: the model package folder (``output_dir/package`` on the chief).
    :raises food_recognition.config.ConfigError: a config the data or model refuses.
    :raises food_recognition.plugins.UnknownNameError: an unknown backbone or policy
        (checked first, before the data scan).
    """
    resolve(run_config)
    strategy, role = strategy_from_environment()
    from food_recognition.models import input_size_for

    image_size = input_size_for(run_config.model)
    global_batch = run_config.data.batch_size * strategy.num_replicas_in_sync
    data = load_training_data(run_config, image_size=image_size, batch_size=global_batch)
    return run_training(run_config, output_dir, data, strategy=strategy, role=role)


def load_training_data(run_config: RunConfig, *, image_size: int, batch_size: int) -> TrainingData:
    """Read the data set and make the pipelines (:func:`train`'s step 2).

    :param run_config: the run (its ``data`` and ``augment`` sections).
    :param image_size: the model's input size.
    :param batch_size: the global batch size.
    :returns: the pipelines.
    """
    from food_recognition.datasets import load_dataset_from_config
    from food_recognition.datasets.pipeline import eval_dataset, train_dataset

    data_config = run_config.data

    def training(source: Any) -> Any:
        return train_dataset(
            source,
            image_size=image_size,
            batch_size=batch_size,
            augment=run_config.augment,
            seed=data_config.seed,
            deterministic=data_config.deterministic,
            cache=data_config.cache,
        )

    def evaluation(source: Any) -> Any:
        if source is None or len(source) == 0:
            return None
        return eval_dataset(
            source,
            image_size=image_size,
            batch_size=batch_size,
            cache=data_config.cache,
            skip_undecodable=True,  # metrics only: no prediction is matched to a file
        )

    def batches(source: Any) -> int | None:
        # Skipping undecodable images leaves the pipeline's length unknown to Keras,
        # which then reads it until it ends and warns "Your input ran out of data".
        return None if source is None or len(source) == 0 else math.ceil(len(source) / batch_size)

    if data_config.tfrecords:
        return _tfrecord_data(data_config.tfrecords, training, evaluation, batches)
    dataset = load_dataset_from_config(data_config)
    if len(dataset.train) == 0:
        raise ValueError(f"data set {dataset.root} has no training images")
    _log.info(
        "data: %d classes; %d train, %d validation, %d test images (%d skipped)",
        len(dataset.classes),
        len(dataset.train),
        len(dataset.validation),
        len(dataset.test),
        len(dataset.skipped),
    )
    return TrainingData(
        classes=dataset.classes,
        human_labels=dataset.human_labels,
        train=training(dataset.train),
        train_size=len(dataset.train),
        validation=evaluation(dataset.validation),
        test=evaluation(dataset.test),
        test_split=dataset.test if len(dataset.test) else None,
        validation_batches=batches(dataset.validation),
        test_batches=batches(dataset.test),
    )


def _tfrecord_data(
    folder: str,
    training: Callable[[Any], Any],
    evaluation: Callable[[Any], Any],
    batches: Callable[[Any], int | None],
) -> TrainingData:
    # DataConfig.tfrecords: shards written by datasets.tfrecords.write_dataset.
    from food_recognition.datasets.tfrecords import open_shards

    train = open_shards(folder, "train")
    others = {
        name: open_shards(folder, name) if (Path(folder) / f"{name}.json").is_file() else None
        for name in ("validation", "test")
    }
    _log.info("data: %d classes; %d train records in %s", len(train.classes), len(train), folder)
    return TrainingData(
        classes=train.classes,
        human_labels=None,
        train=training(train),
        train_size=len(train),
        validation=evaluation(others["validation"]),
        test=evaluation(others["test"]),
        validation_batches=batches(others["validation"]),
        test_batches=batches(others["test"]),
    )


def run_training(
    run_config: RunConfig,
    output_dir: Path | str,
    data: TrainingData,
    *,
    strategy: Any = None,
    role: WorkerRole | None = None,
    build_model: Callable[[Any, int], Any] | None = None,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Fit, evaluate and package a model on prepared data (:func:`train`'s steps 3-6).

    :param run_config: the run.
    :param output_dir: the output folder.
    :param data: the pipelines.
    :param strategy: a ``tf.distribute`` strategy; the default one when ``None``.
    :param role: this worker's role; a lone chief when ``None``.
    :param build_model: ``build_model(model_config, num_classes)``;
        :func:`food_recognition.models.build` by default.
    :param callbacks: more Keras callbacks for every ``fit`` (after the run's own).
    :returns: the model package folder.
    """
    import keras
    import tensorflow as tf

    from food_recognition.training.recipe import precision_policy, progress_verbosity

    output_dir = Path(output_dir)
    role = role or WorkerRole()
    strategy = strategy or tf.distribute.get_strategy()
    if build_model is None:
        from food_recognition.models import build

        build_model = build
    training = run_config.training

    store = CheckpointStore(output_dir / CHECKPOINT_DIR, writable=role.is_chief)
    work_dir = (
        output_dir if role.is_chief else Path(tempfile.mkdtemp(prefix="food-recognition-worker-"))
    )
    package_dir = work_dir / PACKAGE_DIR
    state = store.load_state()
    if state is not None and state.finished:
        from food_recognition.package import is_package

        if is_package(package_dir):
            _log.info("the run in %s already finished; its package is %s", output_dir, package_dir)
            return package_dir
        _log.info("the run in %s finished but its package is gone: training again", output_dir)
        state = None

    uri = tracking_uri_for(training.tracking_uri, output_dir, os.environ)
    tracker = Tracker(uri, training.experiment_name, work_dir, enabled=role.is_chief)
    tracker.start(flatten_params(to_dict(run_config)), os.environ)
    status = "FAILED"
    try:
        keras.utils.set_random_seed(training.seed)
        with precision_policy(training):
            with strategy.scope():
                model = build_model(run_config.model, len(data.classes))
                trained = training_model(model, run_config)
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                patch_multi_worker_build(trained, strategy)
            fitter = _Fitter(
                run_config,
                data,
                trained,
                strategy,
                store,
                tracker,
                progress_verbosity(),
                callbacks,
                inner=model,
            )
            final_state = fitter.fit(state)
        metrics = _final_metrics(trained, data, final_state, fitter.kept_epoch)
        _write_package(
            package_dir,
            model,
            data,
            run_config,
            metrics,
            final_state.history,
            evaluate=role.is_chief,
        )
        tracker.log_final(metrics)
        tracker.log_artifacts(package_dir)
        store.save_state(attrs.evolve(final_state, finished=True))
        store.clear_weights()
        status = "FINISHED"
    finally:
        store.close()
        tracker.end(status)
    if not role.is_chief:
        _log.info("worker %d: package written to scratch %s", role.task_index, package_dir)
    return package_dir


def training_model(model: Any, run_config: RunConfig) -> Any:
    """The model that is fitted: ``model`` itself, or behind the device augmenter.

    With ``augment.on_device`` the pipeline only crops
    (:func:`~food_recognition.datasets.pipeline.train_dataset`); the rest of the
    policy runs as Keras layers in front of the model, on the accelerator. The
    two share their weights, and the layers are identity at inference, so the
    package saves ``model`` alone.

    :param model: a model from :func:`food_recognition.models.build`.
    :param run_config: the run (its ``augment`` section).
    :returns: the model to compile and fit.
    """
    if not run_config.augment.on_device:
        return model
    import keras

    from food_recognition.augment import device_augmenter

    inputs = keras.Input(model.input_shape[1:], dtype="float32", name="image")
    augmented = device_augmenter(run_config.augment)(inputs)
    return keras.Model(inputs, model(augmented), name=f"{model.name}_augmented")


class _Fitter:
    """Runs the phases of a fit, resuming from a run state.

    ``model`` is what is compiled and fitted; ``inner`` the classifier inside
    it (the same model unless the augmentation runs on the device).
    """

    def __init__(
        self,
        run_config: RunConfig,
        data: TrainingData,
        model: Any,
        strategy: Any,
        store: CheckpointStore,
        tracker: Tracker,
        verbose: int,
        extra_callbacks: Sequence[Any] = (),
        *,
        inner: Any = None,
    ) -> None:
        self.extra_callbacks = list(extra_callbacks)
        self.inner = model if inner is None else inner
        #: The global epoch whose weights the model ends with (None: the last one).
        self.kept_epoch: int | None = None
        self.config = run_config
        self.training = run_config.training
        self.data = data
        self.model = model
        self.strategy = strategy
        self.store = store
        self.tracker = tracker
        self.verbose = verbose
        batch = run_config.data.batch_size * strategy.num_replicas_in_sync
        self.steps_per_epoch = self.training.steps_per_epoch or max(
            1, math.ceil(data.train_size / batch)
        )
        self.train_ds = data.train.repeat()

    def phases(self) -> list[tuple[str, int, int]]:
        """``(phase, epochs, global epoch offset)`` in order."""
        head = self.training.head_epochs
        result = [("head", head, 0)] if head else []
        return [*result, ("main", self.training.epochs, head)]

    def fit(self, state: RunState | None) -> RunState:
        phases = self.phases()
        names = [name for name, _, _ in phases]
        if state is None:
            state = RunState(phase=names[0])
        start = names.index(state.phase) if state.phase in names else 0
        for index, (phase, epochs, offset) in enumerate(phases):
            if index < start:
                continue
            resuming = index == start and self.store.weights_path(state) is not None
            if index > start:
                state = attrs.evolve(
                    state,
                    phase=phase,
                    epoch=offset,
                    step_in_epoch=0,
                    best_value=None,
                    best_epoch=None,
                    wait=0,
                )
            state = self._fit_phase(phase, epochs, offset, state, resuming)
        return state

    def _compile(self, phase: str, epochs: int) -> None:
        from food_recognition.models import freeze_backbone
        from food_recognition.training.recipe import compile_model
        from food_recognition.training.schedules import make_schedule

        training = self.training
        with self.strategy.scope():
            if training.head_epochs:
                # Not trainable also puts batch norm in inference mode (Keras 3), so the
                # backbone's statistics stay put while only the head trains.
                freeze_backbone(
                    self.inner, -1 if phase == "head" else self.config.model.frozen_layers
                )
            rates = phase_rates(self.config, phase)
            schedule = make_schedule(
                attrs.evolve(training, learning_rate=rates.peak), epochs * self.steps_per_epoch
            )
            factors = self._backbone_factors(rates.backbone_ratio)
            compile_model(self.model, training, schedule, len(self.data.classes), factors)
            self.model.optimizer.build(self.model.trainable_variables)

    def _backbone_factors(self, ratio: float) -> dict[int, float]:
        from food_recognition.models import backbone_of
        from food_recognition.training.optimizers import discriminative_factors

        if ratio == 1.0:
            return {}
        return discriminative_factors(backbone_of(self.inner).trainable_variables, ratio)

    def _fit_phase(
        self, phase: str, epochs: int, offset: int, state: RunState, resuming: bool
    ) -> RunState:
        from food_recognition.training.callbacks import CyclicalMomentum, RunStateCallback

        self._compile(phase, epochs)
        if resuming:
            path = self.store.weights_path(state)
            _log.info(
                "resuming %s phase at epoch %d, step %d (global step %d) from %s",
                phase,
                state.epoch + 1,
                state.step_in_epoch,
                state.global_step,
                path,
            )
            self.store.restore(self.model, state)
        else:
            # A checkpoint of the fresh phase, so a resume finds optimizer state of this phase.
            state = self.store.save(self.model, state)
        done_epochs = state.epoch - offset
        if done_epochs >= epochs:
            self._restore_best(state, self.store.load_best())
            return state
        run_state = RunStateCallback(
            self.store,
            state,
            steps_per_epoch=self.steps_per_epoch,
            epoch_offset=offset,
            patience=self.training.early_stopping_patience,
            checkpoint_every_steps=self.training.checkpoint_every_steps,
            tracker=self.tracker,
            # An annealing schedule is not cut short: its low-rate tail is where the
            # model settles, and the rising part makes the validation loss jumpy.
            may_stop=self.training.schedule == "constant",
        )
        callbacks: list[Any] = [run_state]
        if self.training.schedule == "one_cycle":
            callbacks.insert(
                0,
                CyclicalMomentum(
                    epochs * self.steps_per_epoch,
                    self.training.warmup_fraction,
                    self.training.momentum_max,
                    self.training.momentum_min,
                ),
            )
        if self.training.ema:
            import keras

            callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=False))
        callbacks.extend(self.extra_callbacks)
        if state.step_in_epoch:
            # Finish the interrupted epoch, then go on with whole ones.
            steps = self.steps_per_epoch - state.step_in_epoch
            self._segment(callbacks, run_state, done_epochs, done_epochs + 1, steps, epochs)
            done_epochs += 1
        if done_epochs < epochs and not run_state.stopped_early:
            self._segment(callbacks, run_state, done_epochs, epochs, self.steps_per_epoch, epochs)
        self._restore_best(run_state.state, run_state.best_weights_or_none())
        return run_state.state

    def _segment(
        self,
        callbacks: list[Any],
        run_state: Any,
        initial_epoch: int,
        epochs: int,
        steps: int,
        phase_epochs: int,
    ) -> None:
        self.model.fit(
            self.train_ds,
            validation_data=self.data.validation,
            validation_steps=self.data.validation_batches,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=self.verbose,
            # The pipeline shuffles (seeded, resumable); fit's own flag does not apply.
            shuffle=False,
        )
        if (
            run_state.live_weights is not None
            and epochs < phase_epochs
            and not run_state.stopped_early
        ):
            # fit() swapped the EMA values into the model; train on from the live ones.
            self.model.set_weights(run_state.live_weights)

    def _restore_best(self, state: RunState, best: list[Any] | None) -> None:
        self.kept_epoch = None
        if self.training.early_stopping_patience is None or best is None:
            return
        if state.best_epoch is None or state.best_epoch == state.epoch - 1:
            return
        _log.info("restoring the weights of epoch %d (best validation loss)", state.best_epoch + 1)
        self.model.set_weights(best)
        self.kept_epoch = state.best_epoch


@attrs.define(frozen=True)
class PhaseRates:
    """The learning rates of one phase of a run.

    :param peak: the peak rate of the schedule (the head's).
    :param backbone_ratio: the first half of the backbone's share of ``peak``
        (the second half gets its square root); 1 for one rate everywhere.
    """

    peak: float
    backbone_ratio: float


def phase_rates(run_config: RunConfig, phase: str) -> PhaseRates:
    """The rates a phase trains at (fastai's ``fine_tune``, in our config's terms).

    The head phase trains the head alone at ``learning_rate``. The main phase
    after a head phase peaks at ``learning_rate * fine_tune_lr_factor``; from
    pretrained ``model.weights`` its backbone trains at ``backbone_lr_ratio``
    of that (first half) and its square root (second half).

    >>> from food_recognition.config import with_overrides
    >>> fine_tune = {"model.weights": "imagenet", "training.head_epochs": 1}
    >>> config = with_overrides(RunConfig(), fine_tune)
    >>> phase_rates(config, "main")
    PhaseRates(peak=0.0005, backbone_ratio=0.01)
    >>> phase_rates(RunConfig(), "main")
    PhaseRates(peak=0.001, backbone_ratio=1.0)

    :param run_config: the run.
    :param phase: ``"head"`` or ``"main"``.
    :returns: the phase's rates.
    """
    training = run_config.training
    if phase == "head":
        return PhaseRates(training.learning_rate, 1.0)
    factor = training.fine_tune_lr_factor if training.head_epochs else 1.0
    pretrained = run_config.model.weights is not None
    ratio = training.backbone_lr_ratio if pretrained else 1.0
    return PhaseRates(training.learning_rate * factor, ratio)


def _final_metrics(
    model: Any, data: TrainingData, state: RunState, kept_epoch: int | None = None
) -> dict[str, float]:
    metrics: dict[str, float] = {}
    val_accuracy = state.history.get("val_accuracy")
    if val_accuracy:
        # The accuracy of the weights the package holds, not the best of any epoch.
        index = kept_epoch if kept_epoch is not None and kept_epoch < len(val_accuracy) else -1
        metrics["best_val_accuracy"] = val_accuracy[index]
    if data.test is not None:
        results = model.evaluate(data.test, steps=data.test_batches, return_dict=True, verbose=0)
        for name in ("loss", "accuracy", "top5_accuracy"):
            if name in results:
                metrics[f"test_{name}"] = float(results[name])
    metrics["optimizer_steps"] = float(state.global_step)
    return metrics


def _write_package(
    package_dir: Path,
    model: Any,
    data: TrainingData,
    run_config: RunConfig,
    metrics: dict[str, float],
    history: dict[str, list[float]],
    *,
    evaluate: bool,
) -> None:
    from food_recognition.package import PLOTS_DIR, load_package, save_package
    from food_recognition.tta.training import match_training, tta_warnings

    # The package evaluates and serves with TTA that matches the training augmentation.
    run_config = attrs.evolve(run_config, tta=match_training(run_config.tta, run_config.augment))
    for warning in tta_warnings(run_config.tta, run_config.augment):
        _log.warning("%s", warning)
    if package_dir.exists():
        shutil.rmtree(package_dir)
    save_package(
        package_dir,
        model,
        data.classes,
        data.human_labels,
        run_config,
        metrics=metrics,
        history=history,
    )
    _log.info("model package written to %s", package_dir)
    if not evaluate:
        return
    # The report and plots are extras: a failure there must not cost the trained model.
    try:
        from food_recognition.datasets import Split
        from food_recognition.evaluation import evaluate as evaluate_package
        from food_recognition.evaluation.plots import plot_training_curves

        if isinstance(data.test_split, Split):
            tta = run_config.tta if run_config.tta.policy != "identity" else None
            evaluate_package(
                load_package(package_dir),
                data.test_split,
                batch_size=run_config.data.batch_size,
                tta=tta,
                save=True,
            )
            _log.info("evaluation report and plots written to %s", package_dir)
        elif history:
            plot_training_curves(history, package_dir / PLOTS_DIR / "training_curves.png")
    except Exception:
        _log.warning("the package is written, but its evaluation failed", exc_info=True)
