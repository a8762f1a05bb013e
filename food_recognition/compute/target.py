"""The compute-target contract: submit a job, follow it, fetch its model package.

A compute target is whatever a
:class:`~food_recognition.plugins.registry.TargetSpec` factory returns; it
satisfies :class:`ComputeTarget`. Targets are looked up by name through the
plugin manager (:func:`get_target`), so the built-in ``local`` and ``azureml``
targets and a third party's are used the same way::

    target = get_target("local", root="runs")
    handle = target.submit(job)
    for line in target.stream_logs(handle):
        print(line, end="")
    package_dir = target.download_outputs(handle, "outputs")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import attrs

from food_recognition.errors import ComputeError

if TYPE_CHECKING:
    from food_recognition.compute.job import TrainingJob
    from food_recognition.plugins.manager import PluginManager

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "ComputeTarget",
    "JobFailedError",
    "JobHandle",
    "JobStatus",
    "JobTimeoutError",
    "get_target",
    "poll_until_done",
]

#: Every state a job reports, service-neutral.
JOB_STATES = ("queued", "preparing", "running", "completed", "failed", "canceled")

#: States a job does not leave.
FINAL_STATES = ("completed", "failed", "canceled")


class JobFailedError(ComputeError, RuntimeError):
    """A job ended without success; the message says where its log is."""


class JobTimeoutError(ComputeError, TimeoutError):
    """A job did not finish within the time the caller allowed."""


def _str_dict(value: Mapping[str, Any]) -> Mapping[str, str]:
    from food_recognition.config import Options

    # Immutable and hashable, like the handle itself.
    return cast(Mapping[str, str], Options({str(k): str(v) for k, v in value.items()}))


@attrs.define(frozen=True)
class JobHandle:
    """How to find a submitted job again (also from another process).

    :param target: the compute target's name.
    :param job_id: the job's id on that target (the work folder's name for
        ``local``, the job name for ``azureml``).
    :param details: target-specific strings (the work folder, the studio URL, ...).
    """

    target: str
    job_id: str
    details: Mapping[str, str] = attrs.field(factory=dict, converter=_str_dict)


@attrs.define(frozen=True)
class JobStatus:
    """Where a job is.

    :param state: one of :data:`JOB_STATES`.
    :param message: what the target said (an error, an exit code).
    :param service_state: the state as the service names it (``Completed``, ...).
    """

    state: str = attrs.field(validator=attrs.validators.in_(JOB_STATES))
    message: str = ""
    service_state: str = ""

    @property
    def done(self) -> bool:
        """The job is in a final state."""
        return self.state in FINAL_STATES

    @property
    def succeeded(self) -> bool:
        """The job completed."""
        return self.state == "completed"


@runtime_checkable
class ComputeTarget(Protocol):
    """What a compute target does; plugins return objects that satisfy this."""

    name: str

    def submit(self, job: TrainingJob) -> JobHandle:
        """Start ``job``; return at once with a handle.

        :raises food_recognition.compute.JobSpecError: the target cannot run this spec.
        """
        ...

    def status(self, handle: JobHandle) -> JobStatus:
        """The job's current state."""
        ...

    def stream_logs(self, handle: JobHandle) -> Iterator[str]:
        """Yield the job's log lines as they come, until the job ends."""
        ...

    def download_outputs(self, handle: JobHandle, dest: str | Path) -> Path:
        """Fetch the job's model package into ``dest``; return the package folder.

        :raises JobFailedError: the job did not complete.
        """
        ...

    def wait(self, handle: JobHandle, *, timeout: float | None = None) -> JobStatus:
        """Block until the job ends; return its final status.

        :raises JobTimeoutError: it did not end within ``timeout`` seconds.
        """
        ...


def get_target(name: str, *, manager: PluginManager | None = None, **options: Any) -> ComputeTarget:
    """The compute target registered as ``name``, built with ``options``.

    :param name: a registered target (``food-recognition plugins`` lists them).
    :param manager: the plugin manager to look in; the process-wide one by default.
    :param options: keyword options for the target's factory.
    :returns: the target.
    :raises food_recognition.plugins.UnknownNameError: no target has that name;
        the message lists those that exist.
    """
    if manager is None:
        from food_recognition.plugins.manager import get_plugin_manager

        manager = get_plugin_manager()
    target: ComputeTarget = manager.compute_targets.get(name).factory(**options)
    return target


def poll_until_done(
    read_status: Callable[[], JobStatus],
    *,
    timeout: float | None = None,
    interval: float = 1.0,
    max_interval: float = 30.0,
) -> JobStatus:
    """Call ``read_status`` until it reports a final state, backing off between calls.

    :param read_status: returns the job's current status.
    :param timeout: seconds to wait at most; ``None`` waits as long as it takes.
    :param interval: the first wait between calls, doubled up to ``max_interval``.
    :param max_interval: the longest wait between calls.
    :returns: the final status.
    :raises JobTimeoutError: still not done after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = read_status()
        if status.done:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeoutError(
                f"job still {status.state} after {timeout} s; wait longer or check its log"
            )
        pause = interval
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        time.sleep(pause)
        interval = min(interval * 2, max_interval)
