"""The ``local`` target: the job's command line in a subprocess, its log, its model package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from food_recognition.cli import main
from food_recognition.compute import (
    PACKAGE_DIR,
    JobFailedError,
    JobHandle,
    JobSpecError,
    TrainingJob,
    get_target,
)
from food_recognition.compute.local import LocalTarget
from food_recognition.config import RunConfig, with_overrides
from tests.fixtures.images import make_food101

TINY_RUN = {
    "model.backbone": "mobilenet_v3_small",
    "model.input_size": 32,
    "data.batch_size": 4,
    "data.deterministic": True,
    "training.epochs": 1,
    "training.steps_per_epoch": 2,
    "training.early_stopping_patience": None,
}


def test_local_refuses_remote_data_and_several_nodes(tmp_path: Path) -> None:
    target = LocalTarget(root=tmp_path)
    with pytest.raises(JobSpecError, match="reads local folders"):
        target.submit(TrainingJob(RunConfig(), data="azureml:food101:1"))
    with pytest.raises(JobSpecError, match="one process"):
        target.submit(TrainingJob(RunConfig(), data=str(tmp_path), nodes=2))
    assert not any(tmp_path.iterdir())


def test_a_command_that_cannot_start_is_a_failed_job(tmp_path: Path) -> None:
    target = LocalTarget(root=tmp_path / "runs", python=str(tmp_path / "no-such-python"))
    handle = target.submit(TrainingJob(RunConfig(), data=str(tmp_path)))
    status = target.wait(handle, timeout=120)
    assert status.state == "failed"
    assert "exit code 127" in status.message
    log = "".join(target.stream_logs(handle))
    assert "could not start" in log
    with pytest.raises(JobFailedError, match="no model package"):
        target.download_outputs(handle, tmp_path / "out")


def test_status_of_an_unknown_job_names_the_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--root"):
        LocalTarget(root=tmp_path).status(JobHandle("local", "job-nope"))


@pytest.mark.slow
def test_local_target_trains_a_tiny_model_end_to_end(tmp_path: Path) -> None:
    data = make_food101(tmp_path / "food-101", train_per_class=6, test_per_class=2)
    config = with_overrides(RunConfig(), TINY_RUN)
    job = TrainingJob(config, data=str(data), tags={"purpose": "test"})
    target = get_target("local", root=tmp_path / "runs")

    handle = target.submit(job)
    log = "".join(target.stream_logs(handle))
    status = target.wait(handle, timeout=600)
    assert status.succeeded, log[-3000:]

    # The job ran the spec's own command line in its snapshot.
    workdir = Path(handle.details["workdir"])
    # The streamed log is the entry point's output, which ends by naming the package.
    assert str(workdir / "outputs" / "model" / PACKAGE_DIR) in log
    record = json.loads((workdir / "job.json").read_text())
    assert record["argv"][1:3] == ["-m", "food_recognition.training"]
    assert record["argv"][record["argv"].index("--data.path") + 1] == str(data)

    package = target.download_outputs(handle, tmp_path / "downloaded")
    assert package == tmp_path / "downloaded" / PACKAGE_DIR
    assert (package / "model.keras").is_file()
    labels = json.loads((package / "labels.json").read_text())
    assert labels["classes"] == ["apple_pie", "bibimbap", "caesar_salad"]
    packaged = yaml.safe_load((package / "config.yaml").read_text())
    assert packaged["model"]["backbone"] == "mobilenet_v3_small"
    assert packaged["model"]["input_size"] == 32

    # Another process (the CLI) finds the job by its id under the same root.
    root = str(tmp_path / "runs")
    assert main(["azure", "status", handle.job_id, "--target", "local", "--root", root]) == 0
    dest = tmp_path / "via-cli"
    assert main(["azure", "download", handle.job_id, str(dest), "--root", root]) == 0
    assert (dest / PACKAGE_DIR / "model.keras").is_file()
