"""The worker settings: threaded gunicorn workers locally and on Azure, with bounded timeouts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from food_recognition.serving.scoring import Limits
from food_recognition.serving.server import (
    DEFAULT_THREADS,
    LocalServer,
    server_environment,
    worker_environment,
)


def _gunicorn_args(env: dict[str, str]) -> dict[str, str]:
    words = shlex.split(env["GUNICORN_CMD_ARGS"])
    return dict(zip(words[::2], words[1::2], strict=True))


def test_the_local_server_runs_threaded_workers(tiny_package: Path) -> None:
    env = server_environment(tiny_package, base={})
    assert _gunicorn_args(env) == {"--worker-class": "gthread", "--threads": str(DEFAULT_THREADS)}


def test_a_users_gunicorn_settings_come_after_ours_so_they_win() -> None:
    env = worker_environment(4, {"GUNICORN_CMD_ARGS": "--threads 32 --keep-alive 5"})
    words = shlex.split(env["GUNICORN_CMD_ARGS"])
    assert words[:4] == ["--worker-class", "gthread", "--threads", "4"]
    assert words[4:] == ["--threads", "32", "--keep-alive", "5"]
    with pytest.raises(ValueError, match="threads"):
        worker_environment(0)


def test_azure_deployments_get_the_same_threaded_workers_and_bounded_timeouts() -> None:
    from food_recognition.azure.deploy import DeploymentSpec

    spec = DeploymentSpec(
        endpoint_name="food", model="azureml:food:1", max_concurrent_requests=40, workers=2
    )
    env = spec.scoring_environment()
    gunicorn = _gunicorn_args(env)
    assert gunicorn["--worker-class"] == "gthread"
    assert int(gunicorn["--threads"]) >= 21  # 40 requests over 2 workers, and a probe
    limits = Limits.from_env(env)
    # Body and blob deadlines fall inside the endpoint's 5 s request timeout.
    assert limits.read_timeout_s < spec.request_timeout_ms / 1000
    assert limits.blob_timeout_s < spec.request_timeout_ms / 1000
    mine = DeploymentSpec(
        endpoint_name="food",
        model="azureml:food:1",
        environment_variables={"GUNICORN_CMD_ARGS": "--keep-alive 9"},
    ).scoring_environment()
    assert shlex.split(mine["GUNICORN_CMD_ARGS"])[-2:] == ["--keep-alive", "9"]
    assert _gunicorn_args(mine)["--worker-class"] == "gthread"


def test_limits_read_the_timeouts_and_refuse_nonsense() -> None:
    limits = Limits.from_env(
        {"FOOD_RECOGNITION_READ_TIMEOUT_S": "2.5", "FOOD_RECOGNITION_BLOB_TIMEOUT_S": "3"}
    )
    assert (limits.read_timeout_s, limits.blob_timeout_s) == (2.5, 3.0)
    for name in ("FOOD_RECOGNITION_READ_TIMEOUT_S", "FOOD_RECOGNITION_BLOB_TIMEOUT_S"):
        for value in ("0", "-1", "inf", "nan", "soon", "\u00b2"):
            with pytest.raises(ValueError, match=name):
                Limits.from_env({name: value})
    with pytest.raises(ValueError, match="FOOD_RECOGNITION_MAX_BYTES"):
        Limits.from_env({"FOOD_RECOGNITION_MAX_BYTES": "\u00b2"})


def test_the_model_folder_is_staged_in_azures_name_version_layout(tiny_package: Path) -> None:
    server = LocalServer(tiny_package)
    staged = server._stage_model_dir()
    try:
        # azmlinfsrv reads a digit-named folder as <model>/<version> and lists nothing.
        assert staged.name == "1"
        assert staged.parent.name == tiny_package.name
        assert (staged / "model.keras").is_file()
        env = server_environment(staged, base={})
        assert env["AZUREML_MODEL_DIR"] == str(staged)
    finally:
        server.stop()
    assert not staged.parent.exists()
