"""The distribution strategy a training run uses, chosen from the environment.

- ``TF_CONFIG`` describes a cluster of more than one task:
  ``MultiWorkerMirroredStrategy`` (what Azure ML's TensorFlow distribution sets up).
- Several local GPUs: ``MirroredStrategy``.
- Otherwise TensorFlow's default strategy (one device).

Azure ML may write an empty parameter-server list (``"ps": []``) into
``TF_CONFIG``, which TensorFlow 2.13 and later reject; :func:`clean_tf_config`
drops it before the strategy reads the variable.

>>> clean_tf_config({"cluster": {"worker": ["a:1", "b:2"], "ps": []},
...                  "task": {"type": "worker", "index": 1}})
{'cluster': {'worker': ['a:1', 'b:2']}, 'task': {'type': 'worker', 'index': 1}}
>>> role_from_tf_config({"cluster": {"worker": ["a:1", "b:2"]},
...                      "task": {"type": "worker", "index": 0}}).is_chief
True
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

import attrs

__all__ = ["WorkerRole", "clean_tf_config", "role_from_tf_config", "strategy_from_environment"]

_log = logging.getLogger(__name__)


@attrs.define(frozen=True)
class WorkerRole:
    """Which task of a training cluster this process is.

    :param task_type: ``"chief"``, ``"worker"`` (or another TF task type).
    :param task_index: the index among tasks of that type.
    :param num_workers: tasks that train (chief plus workers); 1 without a cluster.
    """

    task_type: str = "worker"
    task_index: int = 0
    num_workers: int = 1
    has_chief_task: bool = False

    @property
    def is_chief(self) -> bool:
        """Whether this task writes the outputs (the chief, or worker 0 without one)."""
        if self.has_chief_task:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0


def clean_tf_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``TF_CONFIG`` without empty task lists in its cluster (Azure ML's ``"ps": []``).

    :param config: the parsed ``TF_CONFIG``.
    :returns: a copy; the input is not changed.
    :raises ValueError: ``cluster`` is present but not a mapping.
    """
    result = copy.deepcopy(dict(config))
    cluster = result.get("cluster")
    if cluster is None:
        return result
    if not isinstance(cluster, Mapping):
        raise ValueError(
            f"TF_CONFIG 'cluster' must be a mapping of task type to addresses: {cluster!r}"
        )
    result["cluster"] = {name: tasks for name, tasks in cluster.items() if tasks}
    return result


def role_from_tf_config(config: Mapping[str, Any] | None) -> WorkerRole:
    """This process's role from a (cleaned) ``TF_CONFIG``; a lone worker without one.

    :param config: the parsed ``TF_CONFIG`` or ``None``.
    :returns: the role.
    """
    if not config:
        return WorkerRole()
    cluster = config.get("cluster", {})
    task = config.get("task", {})
    workers = len(cluster.get("worker", ())) + len(cluster.get("chief", ()))
    return WorkerRole(
        task_type=str(task.get("type", "worker")),
        task_index=int(task.get("index", 0)),
        num_workers=max(1, workers),
        has_chief_task=bool(cluster.get("chief")),
    )


def read_tf_config(environ: MutableMapping[str, str]) -> dict[str, Any] | None:
    """Parse, clean and write back ``TF_CONFIG`` (TensorFlow reads it from the environment).

    :param environ: the environment (``os.environ``).
    :returns: the cleaned config, or ``None`` when unset.
    :raises ValueError: ``TF_CONFIG`` is not JSON.
    """
    raw = environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {raw[:200]!r}") from error
    cleaned = clean_tf_config(parsed)
    if cleaned != parsed:
        _log.info(
            "TF_CONFIG: dropped empty task lists %s",
            sorted(set(parsed["cluster"]) - set(cleaned["cluster"])),
        )
    environ["TF_CONFIG"] = json.dumps(cleaned)
    return cleaned


def strategy_from_environment(
    environ: MutableMapping[str, str] | None = None,
) -> tuple[Any, WorkerRole]:
    """The ``tf.distribute`` strategy for this process, and its role.

    Call it before any other TensorFlow work: a multi-worker strategy must be
    created first in the program.

    :param environ: the environment; ``os.environ`` by default.
    :returns: ``(strategy, role)``.
    """
    import tensorflow as tf

    environ = os.environ if environ is None else environ
    config = read_tf_config(environ)
    role = role_from_tf_config(config)
    if config and role.num_workers > 1:
        strategy: Any = tf.distribute.MultiWorkerMirroredStrategy()
        _log.info(
            "MultiWorkerMirroredStrategy: %s %d of %d workers, %d replicas",
            role.task_type,
            role.task_index,
            role.num_workers,
            strategy.num_replicas_in_sync,
        )
        return strategy, role
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        _log.info("MirroredStrategy over %d GPUs", len(gpus))
        return strategy, role
    return tf.distribute.get_strategy(), role


def patch_multi_worker_build(model: Any, strategy: Any) -> None:
    """Let Keras 3 build ``model`` under ``MultiWorkerMirroredStrategy``.

    Keras's ``fit``/``evaluate`` take one batch to build the model symbolically
    and, under a strategy, average its per-replica values with
    ``strategy.reduce``, which ``MultiWorkerMirroredStrategy`` cannot do for
    such values (keras-team/keras#20585). Shapes are all that build needs, so
    this takes the first local replica's values instead. The train and test
    steps' scalar logs then meet the same ``reduce("MEAN", axis=0)``, which
    needs an axis: the steps here return them as one-element vectors. Only
    ``model`` changes.

    :param model: a model created under ``strategy.scope()``.
    :param strategy: the multi-worker strategy.
    """
    import tensorflow as tf

    def symbolic_build(iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda value: (
                        strategy.experimental_local_results(value)[0]
                        if isinstance(value, tf.distribute.DistributedValues)
                        else value
                    ),
                    batch,
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def with_axis(step: Any) -> Any:
        def wrapped(data: Any) -> Any:
            return tf.nest.map_structure(
                lambda value: tf.reshape(value, [1]) if value.shape.rank == 0 else value,
                step(data),
            )

        return wrapped

    model._maybe_symbolic_build = symbolic_build
    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)
