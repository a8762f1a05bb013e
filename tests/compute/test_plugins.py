"""Compute targets are plugins: a third party registers one through the same hook as ``local``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from food_recognition.compute import (
    ComputeTarget,
    JobHandle,
    JobStatus,
    TrainingJob,
    get_target,
)
from food_recognition.config import RunConfig
from food_recognition.plugins import (
    DuplicateNameError,
    PluginManager,
    TargetSpec,
    UnknownNameError,
    hookimpl,
)


class RecordingTarget:
    """A third-party target: 'runs' a job by recording its command line."""

    name = "recording"

    def __init__(self, queue: str = "default") -> None:
        self.queue = queue
        self.submitted: list[str] = []

    def submit(self, job: TrainingJob) -> JobHandle:
        self.submitted.append(job.command(data_path="/data", output="/out"))
        return JobHandle(self.name, f"job-{len(self.submitted)}", {"queue": self.queue})

    def status(self, handle: JobHandle) -> JobStatus:
        return JobStatus("completed")

    def stream_logs(self, handle: JobHandle) -> Iterator[str]:
        yield f"{handle.job_id} done\n"

    def download_outputs(self, handle: JobHandle, dest: str | Path) -> Path:
        return Path(dest)

    def wait(self, handle: JobHandle, *, timeout: float | None = None) -> JobStatus:
        return self.status(handle)


class RecordingPlugin:
    @hookimpl
    def food_recognition_register_compute_targets(self, register):  # type: ignore[no-untyped-def]
        register.add(TargetSpec(name="recording", factory=RecordingTarget, description="test"))


def test_builtin_targets_are_registered_through_the_hook() -> None:
    manager = PluginManager(load_entry_points=False)
    assert manager.compute_targets.names() == ["azureml", "local"]
    assert manager.compute_targets.owner("local") == "food_recognition.compute.local"
    assert manager.compute_targets.owner("azureml") == "food_recognition.azure.targets"


def test_third_party_target_runs_a_job() -> None:
    manager = PluginManager(load_entry_points=False, extra_plugins=(RecordingPlugin(),))
    target = get_target("recording", manager=manager, queue="gpu")
    assert isinstance(target, ComputeTarget)
    assert isinstance(target, RecordingTarget) and target.queue == "gpu"
    handle = target.submit(TrainingJob(RunConfig(), target="recording"))
    assert handle == JobHandle("recording", "job-1", {"queue": "gpu"})
    assert "-m food_recognition.training" in target.submitted[0]
    assert target.wait(handle).succeeded


def test_registered_after_construction_is_seen() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(RecordingPlugin(), name="recording-plugin")
    assert manager.compute_targets.owner("recording") == "recording-plugin"


def test_unknown_target_lists_the_registered_ones() -> None:
    manager = PluginManager(load_entry_points=False)
    with pytest.raises(UnknownNameError, match="Available: azureml, local"):
        get_target("locl", manager=manager)


def test_a_second_local_is_refused_with_both_plugins_named() -> None:
    class Clash:
        @hookimpl
        def food_recognition_register_compute_targets(self, register):  # type: ignore[no-untyped-def]
            register.add(TargetSpec(name="local", factory=RecordingTarget))

    manager = PluginManager(load_entry_points=False, extra_plugins=(Clash(),))
    # The clash breaks the second plugin alone; the name itself is refused,
    # naming both, since a run could not know which target it would get.
    with pytest.raises(DuplicateNameError, match=r"food_recognition\.compute\.local"):
        manager.compute_targets.get("local")
    assert "azureml" in manager.compute_targets
    assert len(manager.broken) == 1


def test_the_documented_script_target_plugin(tmp_path: Path) -> None:
    import importlib.util
    import subprocess

    path = Path(__file__).parents[2] / "examples" / "compute_target_plugin.py"
    spec = importlib.util.spec_from_file_location("compute_target_plugin", path)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)

    manager = PluginManager(load_entry_points=False, extra_plugins=(plugin,))
    assert "script" in manager.compute_targets
    # `python` is `true`, so running the script stands in for a training run.
    target = get_target("script", manager=manager, root=tmp_path, python="true")
    handle = target.submit(TrainingJob(RunConfig(), data=str(tmp_path / "food-101")))
    script = Path(handle.details["script"])
    assert "-m food_recognition.training --config run.yaml" in script.read_text()
    assert (script.parent / "code" / "run.yaml").is_file()
    assert target.status(handle).state == "queued"
    subprocess.run([str(script)], check=True)
    assert target.wait(handle, timeout=10).succeeded
