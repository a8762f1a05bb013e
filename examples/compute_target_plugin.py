"""A third-party compute target: write each job as a folder with a ``run.sh`` to start by hand.

For a GPU machine no scheduler reaches (a lab workstation): ``submit`` writes
the job's code snapshot and a shell script holding its command line; whoever
runs the script there gets the model package in ``outputs/``. The target
registers through the same hook as ``local`` and ``azureml``. Installed as a
distribution it declares:

.. code-block:: toml

    [project.entry-points.food_recognition]
    script_target = "my_package.script_target"
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from food_recognition.compute import (
    JobFailedError,
    JobHandle,
    JobStatus,
    TrainingJob,
    poll_until_done,
    write_snapshot,
)
from food_recognition.plugins import Register, TargetSpec, hookimpl


class ScriptTarget:
    """Writes ``<root>/<job id>/run.sh``; the job is done when ``exit_code`` appears."""

    name = "script"

    def __init__(self, root: str | Path = "script-jobs", python: str = "python3") -> None:
        self.root = Path(root)
        self.python = python

    def submit(self, job: TrainingJob) -> JobHandle:
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        folder = self.root / job_id
        write_snapshot(job, folder / "code")
        line = job.command(data_path=job.data_location.uri, output="../outputs", python=self.python)
        script = f'#!/bin/sh\ncd "$(dirname "$0")/code"\n{line} > ../job.log 2>&1\n'
        script += "echo $? > ../exit_code\n"
        (folder / "run.sh").write_text(script)
        (folder / "run.sh").chmod(0o755)
        return JobHandle(self.name, job_id, {"script": str(folder / "run.sh")})

    def status(self, handle: JobHandle) -> JobStatus:
        exit_code = self.root / handle.job_id / "exit_code"
        if not exit_code.exists():
            return JobStatus("queued", "waiting for someone to run run.sh")
        code = exit_code.read_text().strip()
        return JobStatus("completed" if code == "0" else "failed", f"exit code {code}")

    def stream_logs(self, handle: JobHandle) -> Iterator[str]:
        log = self.root / handle.job_id / "job.log"
        if log.exists():
            yield from log.read_text().splitlines(keepends=True)

    def download_outputs(self, handle: JobHandle, dest: str | Path) -> Path:
        if not self.status(handle).succeeded:
            raise JobFailedError(f"{handle.job_id} has not completed")
        return self.root / handle.job_id / "outputs" / "package"

    def wait(self, handle: JobHandle, *, timeout: float | None = None) -> JobStatus:
        return poll_until_done(lambda: self.status(handle), timeout=timeout)


@hookimpl
def food_recognition_register_compute_targets(register: Register[TargetSpec]) -> None:
    """Add the ``script`` target."""
    register.add(TargetSpec(name="script", factory=ScriptTarget, description="run.sh by hand"))
