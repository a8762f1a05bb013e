"""The ``local`` compute target: the job's command line in a subprocess on this machine.

The embedded default. It runs exactly what an Azure ML job runs — the same
code snapshot (:func:`~food_recognition.compute.job.write_snapshot`, with the
plugins the run needs unpacked in it), the same ``run.yaml``, the same command
line, in the snapshot as its working folder and without this shell's
``PYTHONPATH`` — so its model package is what the remote job would produce,
and a run that needs a plugin the snapshot lacks fails here as it would there.
Each job gets a work folder under ``root``::

    runs/<job id>/
        code/          the snapshot the command runs in (package copy + run.yaml)
        outputs/model/ the entry point's --output: package/ (the model package),
                       checkpoints, a local MLflow store
        job.json       the command line, working folder and environment variables
        runner.pid     the runner's process id
        job.log        the entry point's output (stdout and stderr)
        exit_code      written by the runner when the command ends

A small runner process owns the command and records its exit code, so
``status`` and ``download`` work from another process too (``food-recognition
azure status --target local JOB``).

This module is a built-in plugin; it registers the target through
``food_recognition_register_compute_targets`` like any third-party target.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from food_recognition.compute.job import (
    CONFIG_FILE,
    PACKAGE_DIR,
    JobSpecError,
    TrainingJob,
    write_snapshot,
)
from food_recognition.compute.target import (
    JobFailedError,
    JobHandle,
    JobStatus,
    poll_until_done,
)
from food_recognition.plugins.registry import Register, TargetSpec
from food_recognition.plugins.spec import hookimpl

__all__ = ["LocalTarget", "food_recognition_register_compute_targets"]

#: The output name the model package is written under (as on Azure ML).
OUTPUT_NAME = "model"


@hookimpl
def food_recognition_register_compute_targets(register: Register[TargetSpec]) -> None:
    """Register the ``local`` target."""
    register.add(
        TargetSpec(
            name="local",
            factory=LocalTarget,
            description="a subprocess on this machine (the embedded default)",
        )
    )


class LocalTarget:
    """Runs training jobs as subprocesses here.

    :param root: the folder that holds one work folder per job.
    :param python: the interpreter that runs the entry point.
    """

    name = "local"

    def __init__(self, root: str | Path = "runs", python: str = sys.executable) -> None:
        #: The folder that holds one work folder per job.
        self.root = Path(root)
        #: The interpreter that runs the entry point.
        self.python = python
        self._runners: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, job: TrainingJob) -> JobHandle:
        """Write the job's work folder and start its command.

        :param job: the spec; its data must be a local folder and ``nodes`` 1.
        :returns: the handle (``details["workdir"]`` is the work folder).
        :raises JobSpecError: remote data or more than one node.
        """
        location = job.data_location
        if location.kind != "local":
            raise JobSpecError(
                f"the local target reads local folders, not {location.uri!r}; download the "
                "data first (`food-recognition data`) or use --target azureml"
            )
        if job.nodes != 1:
            raise JobSpecError(
                f"the local target runs one process, not {job.nodes} nodes; use nodes=1 "
                "here, or --target azureml for multi-node training"
            )
        job_id = _new_job_id()
        workdir = (self.root / job_id).absolute()
        code = write_snapshot(job, workdir / "code")
        output = workdir / "outputs" / OUTPUT_NAME
        output.parent.mkdir(parents=True)
        argv = job.command_line(
            data_path=location.uri, output=str(output), config_path=CONFIG_FILE, python=self.python
        )
        record = {
            "argv": argv,
            "cwd": str(code),
            "env": dict(job.environment_variables),
            "experiment_name": job.experiment_name,
            "tags": dict(job.tags),
        }
        (workdir / "job.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        runner = subprocess.Popen(
            [sys.executable, "-m", "food_recognition.compute.local", str(workdir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._runners[job_id] = runner
        (workdir / "runner.pid").write_text(str(runner.pid), encoding="utf-8")
        return JobHandle(self.name, job_id, {"workdir": str(workdir)})

    def status(self, handle: JobHandle) -> JobStatus:
        """Read the job's state from its work folder.

        :raises FileNotFoundError: no such job under :attr:`root`.
        """
        workdir = self._workdir(handle)
        runner = self._runners.get(handle.job_id)
        if runner is not None:
            runner.poll()  # reap it, so a finished runner is not mistaken for a live one
        exit_file = workdir / "exit_code"
        if exit_file.exists():
            text = exit_file.read_text(encoding="utf-8").strip()
            if text == "0":
                return JobStatus("completed", "exit code 0", "exit 0")
            return JobStatus(
                "failed", f"exit code {text}; see {workdir / 'job.log'}", f"exit {text}"
            )
        pid_file = workdir / "runner.pid"
        if runner is not None and runner.returncode is None:
            return JobStatus("running", service_state="running")
        if not pid_file.exists():
            return JobStatus("queued", service_state="starting")
        if runner is None and _alive(int(pid_file.read_text(encoding="utf-8"))):
            return JobStatus("running", service_state="running")
        if exit_file.exists():  # it finished while we looked
            return self.status(handle)
        return JobStatus(
            "failed", f"the runner ended without an exit code; see {workdir / 'job.log'}"
        )

    def stream_logs(self, handle: JobHandle) -> Iterator[str]:
        """Yield the job's log lines as they are written, until the job ends."""
        log = self._workdir(handle) / "job.log"
        position = 0
        pending = ""
        while True:
            done = self.status(handle).done
            if log.exists():
                with log.open("r", encoding="utf-8", errors="replace") as stream:
                    stream.seek(position)
                    chunk = stream.read()
                    position = stream.tell()
                pending += chunk
                *lines, pending = pending.split("\n")
                for line in lines:
                    yield line + "\n"
            if done:
                if pending:
                    yield pending
                return
            time.sleep(0.2)

    def download_outputs(self, handle: JobHandle, dest: str | Path) -> Path:
        """Copy the job's model package to ``dest/package``.

        :returns: the copied package folder.
        :raises JobFailedError: the job has not completed.
        """
        status = self.status(handle)
        if not status.succeeded:
            raise JobFailedError(
                f"local job {handle.job_id} is {status.state} ({status.message}); "
                "there is no model package to download"
            )
        source = self.output_dir(handle) / PACKAGE_DIR
        target = Path(dest) / PACKAGE_DIR
        if source.resolve() != target.resolve():
            shutil.copytree(source, target, dirs_exist_ok=True)
        return target

    def output_dir(self, handle: JobHandle) -> Path:
        """The job's ``--output`` folder (package, checkpoints, local MLflow store)."""
        return self._workdir(handle) / "outputs" / OUTPUT_NAME

    def wait(self, handle: JobHandle, *, timeout: float | None = None) -> JobStatus:
        """Block until the job ends.

        :raises food_recognition.compute.JobTimeoutError: not done after ``timeout`` seconds.
        """
        return poll_until_done(
            lambda: self.status(handle), timeout=timeout, interval=0.2, max_interval=2.0
        )

    def _workdir(self, handle: JobHandle) -> Path:
        workdir = Path(handle.details.get("workdir") or self.root / handle.job_id)
        if not (workdir / "job.json").exists():
            raise FileNotFoundError(
                f"no local job {handle.job_id!r} under {workdir.parent}; pass the --root "
                "the job was submitted with"
            )
        return workdir


def _new_job_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"job-{stamp}-{secrets.token_hex(3)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run(workdir: Path) -> int:
    """The runner: run the recorded command, log its output, record its exit code."""
    record: dict[str, Any] = json.loads((workdir / "job.json").read_text(encoding="utf-8"))
    # As on Azure ML, the job sees only the environment's packages and its own
    # snapshot (the working folder): not this machine's PYTHONPATH, so a
    # plugin the run needs is found through the snapshot or not at all.
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env = {**inherited, **record["env"], "PYTHONUNBUFFERED": "1"}
    with (workdir / "job.log").open("wb") as log:
        try:
            code = subprocess.call(
                record["argv"],
                cwd=record["cwd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as error:
            log.write(f"could not start {record['argv'][0]}: {error}\n".encode())
            code = 127
    # Written last and atomically: its presence means "finished".
    partial = workdir / "exit_code.partial"
    partial.write_text(str(code), encoding="utf-8")
    partial.replace(workdir / "exit_code")
    return code


if __name__ == "__main__":
    sys.exit(_run(Path(sys.argv[1])))
