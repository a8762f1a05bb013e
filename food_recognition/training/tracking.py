"""Metrics, parameters and artifacts of a training run, through MLflow.

Where they go (:func:`tracking_uri_for`): ``TrainingConfig.tracking_uri``, else
``MLFLOW_TRACKING_URI`` (Azure ML sets it for its jobs, with the
``azureml-mlflow`` plugin installed in the job's environment), else a local file
store in ``<output>/mlruns``. Metric names are the fixed ones of
:mod:`food_recognition.training.metric_names`.

>>> flatten_params({"training": {"epochs": 3}, "augment": {"options": {"rotation": 40}}})
{'training.epochs': '3', 'augment.options.rotation': '40'}
>>> epoch_metrics({"loss": 1.5, "compile_metrics": 0.0, "val_accuracy": 0.5})
{'loss': 1.5, 'val_accuracy': 0.5}
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from food_recognition.training.metric_names import EPOCH_METRICS, FINAL_METRICS

__all__ = ["Tracker", "epoch_metrics", "flatten_params", "tracking_uri_for"]

_log = logging.getLogger(__name__)
RUN_FILE = "mlflow_run.json"


def tracking_uri_for(configured: str | None, output_dir: Path, environ: Mapping[str, str]) -> str:
    """The MLflow tracking URI a run logs to.

    :param configured: ``TrainingConfig.tracking_uri``.
    :param output_dir: the run's output folder (the local store goes in ``mlruns/`` there).
    :param environ: the environment (``MLFLOW_TRACKING_URI``).
    :returns: a URI MLflow accepts.
    """
    if configured:
        return configured
    if environ.get("MLFLOW_TRACKING_URI"):
        return environ["MLFLOW_TRACKING_URI"]
    return (Path(output_dir).resolve() / "mlruns").as_uri()


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config dict as MLflow parameters by dotted path (values as strings)."""
    result: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            result.update(flatten_params(value, f"{prefix}{key}."))
        else:
            result[f"{prefix}{key}"] = str(value)
    return result


def epoch_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """The logged names among Keras's epoch logs, as floats (NaN and others left out)."""
    result = {}
    for name in EPOCH_METRICS:
        if name in logs:
            value = float(logs[name])
            if math.isfinite(value):
                result[name] = value
    return result


class Tracker:
    """One MLflow run for one training run; a no-op when ``enabled`` is false.

    It talks to the store through an ``MlflowClient`` bound to ``uri``, not
    through MLflow's process-wide state, so runs in one process (tests,
    notebooks, benchmarks) never log into each other's stores. A resumed
    training run continues the MLflow run it started (its id is kept in the
    output folder), unless the environment names one (``MLFLOW_RUN_ID``, as
    Azure ML jobs do; that run's lifecycle is then the job's).

    :param uri: the tracking URI (:func:`tracking_uri_for`).
    :param experiment: the experiment name.
    :param output_dir: where the run id is remembered.
    :param enabled: ``False`` on non-chief workers.
    """

    def __init__(self, uri: str, experiment: str, output_dir: Path, *, enabled: bool = True):
        self.uri = uri
        self.experiment = experiment
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self.run_id: str | None = None
        self._client: Any = None
        self._owns_run = True

    def start(self, params: Mapping[str, str], environ: Mapping[str, str]) -> None:
        """Start (or resume) the MLflow run and log the parameters."""
        if not self.enabled:
            return
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        if self.uri.startswith("file:"):
            # MLflow 3.7+ refuses the file store unless asked; it is the embedded default
            # here (mlflow-skinny has no SQL store without SQLAlchemy).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        client = MlflowClient(tracking_uri=self.uri)
        run_file = self.output_dir / RUN_FILE
        run_id = environ.get("MLFLOW_RUN_ID")
        self._owns_run = run_id is None
        if run_id is None and run_file.is_file():
            remembered = json.loads(run_file.read_text(encoding="utf-8"))
            if remembered.get("uri") == self.uri:
                run_id = remembered.get("run_id")
        if run_id is None:
            experiment = client.get_experiment_by_name(self.experiment)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(self.experiment)
            )
            run_id = client.create_run(experiment_id).info.run_id
        self._client, self.run_id = client, run_id
        self.output_dir.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps({"run_id": run_id, "uri": self.uri}), encoding="utf-8")
        items = [Param(key, value[:6000]) for key, value in params.items()]
        try:
            for start in range(0, len(items), 100):
                client.log_batch(run_id, params=items[start : start + 100])
        except Exception as error:  # a resumed run whose config changed
            _log.warning("MLflow: parameters not logged again: %s", error)
        _log.info("MLflow: run %s at %s", run_id, self.uri)

    def log_epoch(self, metrics: Mapping[str, float], epoch: int) -> None:
        """Log one epoch's metrics (step = the global epoch index)."""
        if self._client is not None and metrics:
            self._log_metrics(metrics, step=epoch)

    def log_final(self, metrics: Mapping[str, float]) -> None:
        """Log the end-of-run metrics (those of ``FINAL_METRICS`` present)."""
        chosen = {k: float(v) for k, v in metrics.items() if k in FINAL_METRICS}
        if self._client is not None and chosen:
            self._log_metrics(chosen, step=0)

    def log_artifacts(self, package_dir: Path) -> None:
        """Log the package's small files (config, labels, metrics, history, plots)."""
        if self._client is None:
            return
        for path in sorted(Path(package_dir).iterdir()):
            if path.is_file() and path.suffix in (".json", ".yaml"):
                self._client.log_artifact(self.run_id, str(path), artifact_path="package")
            elif path.is_dir() and path.name == "plots":
                self._client.log_artifacts(self.run_id, str(path), artifact_path="package/plots")

    def end(self, status: str = "FINISHED") -> None:
        """End the MLflow run (unless the environment's job owns it)."""
        if self._client is not None and self._owns_run:
            self._client.set_terminated(self.run_id, status=status)
        self._client = None

    def _log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        self._client.log_batch(self.run_id, metrics=items)
