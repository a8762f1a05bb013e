"""Compute targets: where a training job runs, behind one small protocol.

A :class:`TrainingJob` describes a run once; a :class:`ComputeTarget` chosen by
name (:func:`get_target`) runs it: ``local`` (a subprocess here, the embedded
default), ``azureml`` (an Azure ML cluster, from :mod:`food_recognition.azure`),
or a third-party plugin's. This package is core: it never imports ``azure``.
"""

from food_recognition.compute.job import (
    CONFIG_FILE,
    DATA_KINDS,
    ENTRY_POINT_MODULE,
    IDENTITIES,
    PACKAGE_DIR,
    DataLocation,
    JobSpecError,
    TrainingJob,
    join_command,
    write_snapshot,
)
from food_recognition.compute.target import (
    FINAL_STATES,
    JOB_STATES,
    ComputeTarget,
    JobFailedError,
    JobHandle,
    JobStatus,
    JobTimeoutError,
    get_target,
    poll_until_done,
)

__all__ = [
    "CONFIG_FILE",
    "DATA_KINDS",
    "ENTRY_POINT_MODULE",
    "FINAL_STATES",
    "IDENTITIES",
    "JOB_STATES",
    "PACKAGE_DIR",
    "ComputeTarget",
    "DataLocation",
    "JobFailedError",
    "JobHandle",
    "JobSpecError",
    "JobStatus",
    "JobTimeoutError",
    "TrainingJob",
    "get_target",
    "join_command",
    "poll_until_done",
    "write_snapshot",
]
