"""The training job spec: data locations, validation, the command line, the code snapshot."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from food_recognition.compute import (
    CONFIG_FILE,
    DataLocation,
    JobSpecError,
    TrainingJob,
    join_command,
    write_snapshot,
)
from food_recognition.config import ConfigError, RunConfig, load_yaml


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("https://foodstore.blob.core.windows.net/food/food-101", "blob"),
        ("https://foodstore.blob.core.windows.net/food", "blob"),
        ("wasbs://food@foodstore.blob.core.windows.net/food-101", "storage"),
        ("abfss://food@foodstore.dfs.core.windows.net/food-101", "storage"),
        ("azureml://datastores/workspaceblobstore/paths/food-101", "azureml"),
        ("azureml:food101:3", "azureml"),
        ("data/food-101", "local"),
    ],
)
def test_data_location_kinds(uri: str, kind: str) -> None:
    assert DataLocation.parse(uri).kind == kind


def test_local_data_location_is_absolute() -> None:
    assert Path(DataLocation.parse("data/food-101").uri).is_absolute()


@pytest.mark.parametrize(
    "uri",
    ["https://example.com/food", "s3://bucket/food", "https://Bad_Account.blob.core.windows.net/c"],
)
def test_data_location_refuses_what_it_cannot_mount(uri: str) -> None:
    with pytest.raises(JobSpecError, match=r"blob\.core\.windows\.net"):
        DataLocation.parse(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://foodstore.blob.core.windows.net/food/food-101?sv=2024-01-01&sig=abc",
        "wasbs://food@foodstore.blob.core.windows.net/food-101?sp=r&sig=abc",
        "https://foodstore.blob.core.windows.net/food?anything",
    ],
)
def test_a_url_with_a_query_string_is_refused_without_echoing_it(uri: str) -> None:
    with pytest.raises(JobSpecError, match="query string") as caught:
        TrainingJob(RunConfig(), data=uri)
    message = str(caught.value)
    assert "\n" not in message and "sig=" not in message and "?" not in message.split("'")[1]


@pytest.mark.parametrize(
    "uri",
    [
        "wasbs://food@foodstore.dfs.core.windows.net/x",  # wasbs is the blob endpoint
        "abfss://food@foodstore.blob.core.windows.net/x",  # abfss is the dfs endpoint
        "wasbs://foodstore.blob.core.windows.net/food",  # no container@account
    ],
)
def test_storage_urls_must_name_container_and_account(uri: str) -> None:
    with pytest.raises(JobSpecError, match="not a storage path"):
        DataLocation.parse(uri)


def test_blob_container_parts() -> None:
    location = DataLocation.parse("https://foodstore.blob.core.windows.net/food/a/b/")
    assert location.blob_container == ("foodstore", "food", "a/b", "core.windows.net")
    with pytest.raises(JobSpecError, match="not a Blob container path"):
        _ = DataLocation.parse("azureml:food:1").blob_container


def test_identity_is_managed_user_or_a_user_assigned_client_id() -> None:
    assert TrainingJob(RunConfig()).identity == "managed"
    assert TrainingJob(RunConfig(), identity="user").identity == "user"
    uami = "0d9c3c4e-5b6a-4f1e-9a2b-7c8d9e0f1a2b"
    assert TrainingJob(RunConfig(), identity=uami).identity == uami
    with pytest.raises(JobSpecError, match="identity='AccountKey=abc'"):
        TrainingJob(RunConfig(), identity="AccountKey=abc")


def test_job_defaults_to_the_config_data_path() -> None:
    config = RunConfig()
    job = TrainingJob(config)
    assert job.data is None
    assert job.data_location == DataLocation.parse(config.data.path)


def test_job_validation_names_the_field() -> None:
    with pytest.raises(JobSpecError, match="nodes"):
        TrainingJob(RunConfig(), nodes=0)
    with pytest.raises(JobSpecError, match="environment variable name '1X'"):
        TrainingJob(RunConfig(), environment_variables={"1X": "a"})
    with pytest.raises(JobSpecError, match="experiment_name"):
        TrainingJob(RunConfig(), experiment_name="  ")
    # A spec error is a configuration error: the CLI prints it as one line.
    assert issubclass(JobSpecError, ConfigError)


def test_tags_and_environment_variables_are_strings() -> None:
    job = TrainingJob(RunConfig(), tags={"epochs": 3}, environment_variables={"SEED": 1})
    assert job.tags == {"epochs": "3"}
    assert job.environment_variables == {"SEED": "1"}


def test_command_line_is_the_entry_point() -> None:
    job = TrainingJob(RunConfig())
    argv = job.command_line(
        data_path="/mnt/data",
        output="/mnt/out",
        options={"model.input_size": "224", "augment.options.rotation": "40"},
        python="/usr/bin/python3",
    )
    assert argv == [
        "/usr/bin/python3", "-m", "food_recognition.training",
        "--config", CONFIG_FILE, "--output", "/mnt/out", "--data.path", "/mnt/data",
        "--model.input_size", "224", "--set", "augment.options.rotation=40",
    ]  # fmt: skip


def test_command_keeps_placeholders_and_quotes_the_rest() -> None:
    argv = ["python", "--data.path", "${{inputs.data}}", "--set", "a.options.b=${{search_space.x}}"]
    line = join_command([*argv, "--output", "/my models/out"])
    assert "--data.path ${{inputs.data}}" in line
    assert "--set a.options.b=${{search_space.x}}" in line
    assert "'/my models/out'" in line
    assert shlex.split(line)[-1] == "/my models/out"


def test_with_overrides_changes_the_config_only() -> None:
    job = TrainingJob(RunConfig(), nodes=2)
    changed = job.with_overrides({"training.epochs": "3"})
    assert changed.config.training.epochs == 3
    assert changed.nodes == 2
    with pytest.raises(ConfigError, match="no configuration field"):
        job.with_overrides({"training.epoch": 3})


def test_snapshot_holds_the_package_and_the_config(tmp_path: Path) -> None:
    config = RunConfig(training={"epochs": 2})  # type: ignore[arg-type]
    job = TrainingJob(config)
    code = write_snapshot(job, tmp_path / "code")
    assert (code / "food_recognition" / "__init__.py").is_file()
    assert (code / "food_recognition" / "compute" / "job.py").is_file()
    assert not list(code.rglob("__pycache__"))
    assert load_yaml(RunConfig, code / CONFIG_FILE) == config


def test_snapshot_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "stale.txt").write_text("x")
    with pytest.raises(JobSpecError, match="not empty"):
        write_snapshot(TrainingJob(RunConfig()), tmp_path)


def test_specs_and_handles_are_hashable_values() -> None:
    from food_recognition.compute import JobHandle

    job = TrainingJob(RunConfig(), tags={"a": "b"}, environment_variables={"X": "1"})
    assert hash(job) == hash(
        TrainingJob(RunConfig(), tags={"a": "b"}, environment_variables={"X": "1"})
    )
    assert (
        len(
            {JobHandle("local", "j", {"workdir": "/w"}), JobHandle("local", "j", {"workdir": "/w"})}
        )
        == 1
    )
