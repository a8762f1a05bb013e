"""The ``azureml`` compute target, and the one explicit call that creates a GPU cluster.

:class:`AzureMLTarget` submits a :class:`~food_recognition.compute.TrainingJob`
as an Azure ML v2 command job (or, with :meth:`AzureMLTarget.submit_sweep`,
a sweep job) through ``MLClient.jobs.create_or_update``, follows it, and
downloads its ``model`` output: the same model package folder the ``local``
target leaves. :func:`create_cluster` creates or updates an AmlCompute
cluster, with a managed identity that reads the data; submitting never
creates one as a side effect. A Blob account URL is read through a
datastore registered for its container when the job is submitted
(:func:`~food_recognition.azure.jobs.ensure_datastore`).
"""

from __future__ import annotations

import io
import logging
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from food_recognition.azure.jobs.build import (
    ENVIRONMENT_DIR,
    MODEL_OUTPUT,
    build_command,
    build_sweep,
    job_environment,
)
from food_recognition.azure.jobs.data import ensure_datastore
from food_recognition.azure.jobs.sweep import SweepSpec
from food_recognition.azure.jobs.vm_sizes import DEFAULT_VM_SIZE, check_vm_size
from food_recognition.compute.job import PACKAGE_DIR, TrainingJob, write_snapshot
from food_recognition.compute.target import (
    JobFailedError,
    JobHandle,
    JobStatus,
    poll_until_done,
)

__all__ = ["AzureMLTarget", "cluster_entity", "create_cluster", "service_state_to_job_state"]

_log = logging.getLogger(__name__)

_STATES = {
    "notstarted": "queued",
    "queued": "queued",
    "preparing": "preparing",
    "provisioning": "preparing",
    "starting": "preparing",
    "running": "running",
    "finalizing": "running",
    "cancelrequested": "running",
    "completed": "completed",
    "finished": "completed",
    "failed": "failed",
    "notresponding": "failed",
    "canceled": "canceled",
}


def service_state_to_job_state(state: str | None) -> str:
    """Azure ML's job status (``Completed``, ``NotStarted``, ...) as one of our job states."""
    return _STATES.get((state or "").replace("_", "").lower(), "running")


class AzureMLTarget:
    """Training jobs on an Azure ML workspace.

    :param ml_client: an ``MLClient``; ``None`` builds one with
        :func:`food_recognition.azure.workspace.get_ml_client` from ``workspace``.
    :param environment: an ``Environment`` entity or an ``azureml:`` reference
        used when a job names none; ``None``: the library's default GPU environment.
    :param workspace: ``subscription_id``, ``resource_group``, ``workspace_name``,
        ``config_path``, ``credential`` for :func:`~food_recognition.azure.workspace.get_ml_client`.
    """

    name = "azureml"

    #: Seconds between status reads while streaming.
    poll_seconds = 10.0

    def __init__(self, ml_client: Any = None, environment: Any = None, **workspace: Any) -> None:
        if ml_client is None:
            from food_recognition.azure.workspace import get_ml_client

            ml_client = get_ml_client(**workspace)
        self.ml_client = ml_client
        self.environment = environment

    def submit(self, job: TrainingJob) -> JobHandle:
        """Submit ``job`` as a command job.

        :returns: the handle (``details["studio_url"]`` links to the run).
        """
        datastore = self._datastore(job)
        with tempfile.TemporaryDirectory(prefix="food-recognition-code-") as tmp:
            code = write_snapshot(job, Path(tmp) / "code")
            env = self._environment(job, code, Path(tmp) / ENVIRONMENT_DIR)
            node = build_command(job, code, environment=env, datastore=datastore)
            created = self.ml_client.jobs.create_or_update(
                node, experiment_name=job.experiment_name
            )
        return self._handle(created, "command")

    def submit_sweep(self, job: TrainingJob, sweep: SweepSpec) -> JobHandle:
        """Submit a sweep whose trials run ``job`` with the swept fields set.

        :raises food_recognition.azure.jobs.SweepError: before anything is sent,
            if the sweep does not fit ``job.config``.
        """
        sweep.check(job.config)
        datastore = self._datastore(job)
        with tempfile.TemporaryDirectory(prefix="food-recognition-code-") as tmp:
            code = write_snapshot(job, Path(tmp) / "code")
            env = self._environment(job, code, Path(tmp) / ENVIRONMENT_DIR)
            node = build_sweep(job, sweep, code, environment=env, datastore=datastore)
            created = self.ml_client.jobs.create_or_update(
                node, experiment_name=job.experiment_name
            )
        return self._handle(created, "sweep")

    def status(self, handle: JobHandle) -> JobStatus:
        """The job's state, from the service."""
        raw = self.ml_client.jobs.get(handle.job_id).status
        state = str(getattr(raw, "value", raw) or "")
        return JobStatus(service_state_to_job_state(state), state, state)

    def stream_logs(self, handle: JobHandle) -> Iterator[str]:
        """Yield the job's driver log as Azure ML writes it, then its final state.

        The log is what ``ml_client.jobs.stream`` prints (the run's
        ``user_logs/std_log.txt``, then an execution summary), line by line.
        Where run history cannot be read, a line at each change of the job's
        state instead.
        """
        from azure.ai.ml.exceptions import JobException
        from azure.core.exceptions import HttpResponseError

        url = handle.details.get("studio_url")
        if url:
            yield f"{handle.job_id}: {url}\n"
        try:
            yield from _printed_lines(lambda: self.ml_client.jobs.stream(handle.job_id))
        except JobException as error:  # the job failed: its state line follows
            _log.debug("%s: %s", handle.job_id, error)
        except HttpResponseError as error:
            _log.warning("%s: no log to stream (%s); following its state", handle.job_id, error)
        last = ""
        while True:
            status = self.status(handle)
            if status.service_state != last:
                last = status.service_state
                yield f"{handle.job_id}: {last}\n"
            if status.done:
                return
            time.sleep(self.poll_seconds)

    def download_outputs(self, handle: JobHandle, dest: str | Path) -> Path:
        """Download the model package (for a sweep: the best trial's).

        :returns: the package folder, ``dest/named-outputs/model/package``.
        :raises JobFailedError: the job has not completed, or it left no package.
        """
        status = self.status(handle)
        if not status.succeeded:
            raise JobFailedError(
                f"Azure ML job {handle.job_id} is {status.service_state}; there is no model "
                f"package to download ({handle.details.get('studio_url', '')})"
            )
        name = handle.job_id
        kind = handle.details.get("kind") or getattr(self.ml_client.jobs.get(name), "type", "")
        if kind == "sweep":
            name = self.best_trial(handle)
        dest = Path(dest)
        self.ml_client.jobs.download(name, download_path=str(dest), output_name=MODEL_OUTPUT)
        package = dest / "named-outputs" / MODEL_OUTPUT / PACKAGE_DIR
        # The SDK only logs (at debug level) when an output is missing or empty.
        if not package.is_dir():
            raise JobFailedError(
                f"Azure ML job {name} completed, but its {MODEL_OUTPUT!r} output holds no "
                f"{PACKAGE_DIR}/ folder (nothing was written to {package}). Look at the job's "
                f"outputs in the studio ({handle.details.get('studio_url', 'ml.azure.com')}); "
                "the training command must write the package into the output folder"
            )
        return package

    def wait(self, handle: JobHandle, *, timeout: float | None = None) -> JobStatus:
        """Poll the service until the job ends.

        :raises food_recognition.compute.JobTimeoutError: not done after ``timeout`` seconds.
        """
        return poll_until_done(
            lambda: self.status(handle), timeout=timeout, interval=5.0, max_interval=60.0
        )

    def best_trial(self, handle: JobHandle) -> str:
        """The name of a finished sweep's best trial.

        :raises JobFailedError: the service has not named one (the sweep is
            not finished, or no trial logged the primary metric).
        """
        sweep = self.ml_client.jobs.get(handle.job_id)
        properties = getattr(sweep, "properties", None) or {}
        best = properties.get("best_child_run_id")
        if not best:
            raise JobFailedError(
                f"sweep {handle.job_id} names no best trial yet; wait for it to finish, and "
                "check that its trials log the primary metric"
            )
        return str(best)

    def _environment(self, job: TrainingJob, code: Path, context: Path) -> Any:
        # The job's own, this target's, or the library's (installing the run's plugins).
        return job.environment or self.environment or job_environment(job, code, context)

    def _datastore(self, job: TrainingJob) -> str | None:
        location = job.data_location
        return ensure_datastore(self.ml_client, location) if location.kind == "blob" else None

    def _handle(self, created: Any, kind: str) -> JobHandle:
        details = {"kind": kind}
        url = getattr(created, "studio_url", None)
        if url:
            details["studio_url"] = str(url)
        return JobHandle(self.name, str(created.name), details)


def _printed_lines(call: Callable[[], object]) -> Iterator[str]:
    """Run ``call`` in a thread and yield, line by line, what it prints.

    ``MLClient.jobs.stream`` writes to ``sys.stdout`` and takes no file to
    write to. While it runs, ``sys.stdout`` is a proxy that keeps that
    thread's writes and passes every other thread's through, so the caller
    can print what it yields. An exception of ``call`` is raised here, after
    its output.
    """
    chunks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    failures: list[BaseException] = []
    original = sys.stdout

    def run() -> None:
        try:
            call()
        except BaseException as error:  # re-raised in the caller's thread below
            failures.append(error)
        finally:
            chunks.put(None)

    worker = threading.Thread(target=run, name="azureml-log-stream", daemon=True)

    class Proxy(io.TextIOBase):
        def write(self, text: str) -> int:
            if threading.current_thread() is worker:
                chunks.put(text)
            else:
                original.write(text)
            return len(text)

        def flush(self) -> None:
            original.flush()

    sys.stdout = Proxy()
    try:
        worker.start()
        pending = ""
        while (chunk := chunks.get()) is not None:
            *lines, pending = (pending + chunk).split("\n")
            for line in lines:
                yield line + "\n"
        if pending:
            yield pending + "\n"
    finally:
        sys.stdout = original
    if failures:
        raise failures[0]


def create_cluster(
    ml_client: Any,
    name: str,
    *,
    vm_size: str = DEFAULT_VM_SIZE,
    max_nodes: int = 4,
    min_nodes: int = 0,
    low_priority: bool = False,
    idle_seconds: int = 1800,
    identity: str | None = None,
    wait: bool = True,
) -> Any:
    """Create (or update) an AmlCompute cluster for training.

    Never called by submission: a cluster costs money while it has nodes, so
    creating one is a decision made once, explicitly. With ``min_nodes=0`` it
    scales to nothing when idle. The cluster gets a managed identity, which
    reads the job's data (``TrainingJob.identity="managed"``): give it the
    Storage Blob Data Reader role on the storage account.

    :param ml_client: the workspace's ``MLClient``.
    :param name: the cluster's name (what :attr:`TrainingJob.compute` refers to).
    :param vm_size: the VM size; a current GPU size
        (:data:`~food_recognition.azure.jobs.vm_sizes.GPU_SIZES`), by default
        :data:`~food_recognition.azure.jobs.vm_sizes.DEFAULT_VM_SIZE`.
    :param max_nodes: the most nodes it scales to.
    :param min_nodes: the nodes it keeps when idle.
    :param low_priority: use low-priority (spot) VMs: cheaper, can be preempted.
    :param idle_seconds: idle time before a node is released.
    :param identity: ``None`` gives the cluster a system-assigned managed
        identity; a user-assigned identity's resource id attaches that one instead.
    :param wait: block until the service has created it.
    :returns: the ``AmlCompute`` entity (or the poller when ``wait`` is ``False``).
    :raises ValueError: ``min_nodes`` above ``max_nodes`` or below 0.
    :raises food_recognition.azure.jobs.vm_sizes.RetiredVMSizeError: ``vm_size``
        is from a retired series (before anything is sent).
    """
    cluster = cluster_entity(
        name,
        vm_size=vm_size,
        max_nodes=max_nodes,
        min_nodes=min_nodes,
        low_priority=low_priority,
        idle_seconds=idle_seconds,
        identity=identity,
    )
    poller = ml_client.compute.begin_create_or_update(cluster)
    return poller.result() if wait else poller


def cluster_entity(
    name: str,
    *,
    vm_size: str = DEFAULT_VM_SIZE,
    max_nodes: int = 4,
    min_nodes: int = 0,
    low_priority: bool = False,
    idle_seconds: int = 1800,
    identity: str | None = None,
) -> Any:
    """The ``AmlCompute`` entity :func:`create_cluster` sends (its ``dump()`` is YAML for
    ``az ml compute create --file``); the arguments are :func:`create_cluster`'s.

    :raises ValueError: ``min_nodes`` above ``max_nodes`` or below 0.
    :raises food_recognition.azure.jobs.vm_sizes.RetiredVMSizeError: ``vm_size``
        is from a retired series.
    """
    from azure.ai.ml.entities import AmlCompute, IdentityConfiguration, ManagedIdentityConfiguration

    if not 0 <= min_nodes <= max_nodes or max_nodes < 1:
        raise ValueError(
            f"min_nodes={min_nodes}, max_nodes={max_nodes}: need 0 <= min_nodes <= max_nodes, "
            "max_nodes >= 1"
        )
    check_vm_size(vm_size)
    if identity is None:
        managed = IdentityConfiguration(type="system_assigned")
    else:
        managed = IdentityConfiguration(
            type="user_assigned",
            user_assigned_identities=[ManagedIdentityConfiguration(resource_id=identity)],
        )
    return AmlCompute(
        name=name,
        size=vm_size,
        min_instances=min_nodes,
        max_instances=max_nodes,
        idle_time_before_scale_down=idle_seconds,
        tier="low_priority" if low_priority else "dedicated",
        identity=managed,
    )
