"""Jobs and sweeps as YAML that ``azure.ai.ml.load_job`` accepts unchanged; sweep validation."""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_job
from packaging.requirements import Requirement

from food_recognition.azure.environment import DEFAULT_IMAGE, conda_spec
from food_recognition.azure.environment.lock import lock_path, pinned_versions, pip_lines
from food_recognition.azure.jobs import (
    SweepError,
    SweepSpec,
    TrainingJob,
    load_sweep,
    write_job_yaml,
)
from food_recognition.cli import main
from food_recognition.config import RunConfig, load_yaml
from food_recognition.training.metric_names import LOGGED_METRICS

BLOB = "https://foodstore.blob.core.windows.net/food/food-101"
#: What a job mounts for BLOB: the container's identity-based datastore.
DATASTORE_PATH = "azureml://datastores/blob_foodstore_food/paths/food-101"
REFERENCE_SWEEP = Path(__file__).parents[2] / "examples" / "sweep_reference.yaml"


def _job(**kwargs: object) -> TrainingJob:
    options: dict[str, object] = {"data": BLOB, "target": "azureml", "compute": "gpu-a100"}
    options.update(kwargs)
    return TrainingJob(RunConfig(), **options)  # type: ignore[arg-type]


def _sweep(**kwargs: object) -> SweepSpec:
    data: dict[str, object] = {
        "search_space": {
            "model.input_size": {"type": "choice", "values": [192, 224]},
            "training.learning_rate": {"type": "loguniform", "min_value": 1e-4, "max_value": 1e-2},
            "augment.options.rotation": {"type": "choice", "values": [10, 40]},
        },
        "early_termination": {"policy": "bandit", "evaluation_interval": 2, "slack_factor": 0.1},
        "limits": {"max_total_trials": 15, "max_concurrent_trials": 3, "timeout_minutes": 60},
    }
    data.update(kwargs)
    return SweepSpec.from_dict(data)


def test_command_job_round_trips_through_load_job(tmp_path: Path) -> None:
    job = _job(tags={"stage": "test"}, environment_variables={"TF_CPP_MIN_LOG_LEVEL": "2"})
    path = write_job_yaml(job, tmp_path / "job")
    loaded = load_job(path)
    assert loaded.type == "command"
    assert loaded.command == job.command(data_path="${{inputs.data}}", output="${{outputs.model}}")
    assert loaded.compute == "gpu-a100"
    assert loaded.inputs["data"].path == DATASTORE_PATH
    assert loaded.inputs["data"].type == "uri_folder"
    assert loaded.identity.type == "managed_identity"
    assert loaded.outputs["model"].type == "uri_folder"
    assert loaded.environment_variables == {"TF_CPP_MIN_LOG_LEVEL": "2"}
    assert loaded.tags == {"stage": "test"}
    assert loaded.experiment_name == "food-recognition"
    assert loaded.distribution is None
    assert loaded.environment.image == DEFAULT_IMAGE
    # The code snapshot beside the YAML holds the package and the config.
    assert (Path(loaded.base_path) / loaded.code).resolve() == (tmp_path / "job" / "code").resolve()
    assert load_yaml(RunConfig, tmp_path / "job" / "code" / "run.yaml") == job.config
    assert yaml.safe_load(path.read_text())["code"] == "code"


def test_multi_node_job_carries_tensorflow_distribution(tmp_path: Path) -> None:
    loaded = load_job(write_job_yaml(_job(nodes=3), tmp_path / "job"))
    assert loaded.resources.instance_count == 3
    assert loaded.distribution.type == "tensorflow"
    assert loaded.distribution.worker_count == 3
    assert loaded.distribution.parameter_server_count == 0


@pytest.mark.parametrize(
    "data",
    ["azureml://datastores/workspaceblobstore/paths/food-101", "azureml:food101:2"],
)
def test_azureml_data_uris_pass_through(tmp_path: Path, data: str) -> None:
    path = write_job_yaml(_job(data=data, data_mode="download"), tmp_path / "job")
    written = yaml.safe_load(path.read_text())["inputs"]["data"]
    assert written == {"mode": "download", "type": "uri_folder", "path": data}
    load_job(path)


def test_sweep_job_round_trips_through_load_job(tmp_path: Path) -> None:
    path = write_job_yaml(_job(nodes=2), tmp_path / "sweep", sweep=_sweep())
    loaded = load_job(path)
    assert loaded.type == "sweep"
    assert loaded.objective.primary_metric == "val_accuracy"
    assert loaded.objective.goal == "maximize"
    assert loaded.sampling_algorithm == "random"
    assert loaded.early_termination.type == "bandit"
    assert loaded.early_termination.slack_factor == pytest.approx(0.1)
    assert loaded.early_termination.evaluation_interval == 2
    assert loaded.limits.max_total_trials == 15
    assert loaded.limits.max_concurrent_trials == 3
    assert loaded.limits.timeout == 3600
    assert loaded.compute == "gpu-a100"
    assert loaded.experiment_name == "food-recognition"
    space = loaded.search_space
    assert space["model__input_size"].values == [192, 224]
    # loguniform bounds are given as values and written as Azure's natural logs.
    assert space["training__learning_rate"].min_value == pytest.approx(math.log(1e-4))
    assert space["training__learning_rate"].max_value == pytest.approx(math.log(1e-2))
    command = loaded.trial.command
    assert "--model.input_size ${{search_space.model__input_size}}" in command
    assert "--set augment.options.rotation=${{search_space.augment__options__rotation}}" in command
    assert loaded.trial.distribution.worker_count == 2
    assert loaded.inputs["data"].path == DATASTORE_PATH
    assert loaded.identity.type == "managed_identity"


def test_a_blob_url_dry_run_writes_the_identity_based_datastore(tmp_path: Path) -> None:
    from azure.ai.ml import load_datastore

    write_job_yaml(_job(data=BLOB + "/"), tmp_path / "job")
    store = load_datastore(tmp_path / "job" / "datastore.yml")
    assert store.name == "blob_foodstore_food"
    assert (store.account_name, store.container_name) == ("foodstore", "food")
    assert store.endpoint == "core.windows.net"
    # No credentials: Azure ML reads the container with the job's identity.
    assert "credentials" not in yaml.safe_load((tmp_path / "job" / "datastore.yml").read_text())
    assert type(store.credentials).__name__ == "NoneCredentialConfiguration"


@pytest.mark.parametrize(
    ("identity", "written"),
    [
        ("user", {"type": "user_identity"}),
        (
            "0d9c3c4e-5b6a-4f1e-9a2b-7c8d9e0f1a2b",
            {"type": "managed_identity", "client_id": "0d9c3c4e-5b6a-4f1e-9a2b-7c8d9e0f1a2b"},
        ),
    ],
)
def test_the_job_names_the_identity_that_reads_the_data(
    tmp_path: Path, identity: str, written: dict[str, str]
) -> None:
    data = "wasbs://food@foodstore.blob.core.windows.net/food-101"
    path = write_job_yaml(_job(data=data, identity=identity), tmp_path / "job")
    document = yaml.safe_load(path.read_text())
    assert document["identity"] == written
    assert document["inputs"]["data"]["path"] == data  # wasbs is mounted as given
    assert not (tmp_path / "job" / "datastore.yml").exists()
    load_job(path)


def test_reference_sweep_example_is_valid(tmp_path: Path) -> None:
    sweep = load_sweep(REFERENCE_SWEEP)
    assert sweep.limits.max_total_trials == 15
    assert sweep.early_termination is not None
    assert sweep.early_termination.policy == "bandit"
    assert set(sweep.search_space) == {
        "model.input_size",
        "model.frozen_layers",
        "model.pooling",
        "model.dense_blocks",
    }
    load_job(write_job_yaml(_job(), tmp_path / "sweep", sweep=sweep))


def test_a_metric_the_training_never_logs_is_refused() -> None:
    with pytest.raises(SweepError, match="never logged") as error:
        _sweep(primary_metric="val_acc")
    assert "did you mean 'val_accuracy'" in str(error.value)
    for name in LOGGED_METRICS:
        assert name in str(error.value)


def test_goal_follows_the_metric() -> None:
    assert _sweep(primary_metric="val_loss").resolved_goal == "minimize"
    assert _sweep(primary_metric="val_top5_accuracy").resolved_goal == "maximize"


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"model.input_sise": {"type": "choice", "values": [224]}}, "did you mean"),
        ({"model.pooling": {"type": "choice", "values": ["avg", "mean"]}}, "'mean' is not allowed"),
        ({"model.input_size": {"type": "uniform", "min_value": 200, "max_value": 300}},
         "whole numbers"),
        ({"training.learning_rate": {"type": "uniform", "min_value": 0.1, "max_value": 20}},
         "out of range"),
    ],
)  # fmt: skip
def test_search_space_is_checked_against_the_config(space: object, message: str) -> None:
    sweep = _sweep(search_space=space, early_termination=None)
    with pytest.raises(SweepError, match=message):
        sweep.check(RunConfig())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sampling": "grid"}, "grid sampling does not take loguniform"),
        (
            {"sampling": "bayesian", "search_space": {"a.b": {"type": "choice", "values": [1]}}},
            "does not support early termination",
        ),
        ({"early_termination": {"policy": "bandit", "evaluation_interval": 2}}, "exactly one"),
        ({"search_space": {}}, "empty"),
        ({"search_space": {"x": {"type": "loguniform", "min_value": -9, "max_value": -4}}},
         "not logarithms"),
        ({"search_space": {"x": {"type": "choise", "values": [1]}}}, "did you mean 'choice'"),
        ({"sampling": "sobol"}, "sampling 'sobol'"),
        ({"limit": {}}, "did you mean 'limits'"),
    ],
)  # fmt: skip
def test_sweep_spec_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SweepError, match=message):
        _sweep(**changes)


def test_sweep_is_refused_before_any_yaml_is_written(tmp_path: Path) -> None:
    bad = _sweep(search_space={"model.input_size": {"type": "choice", "values": [8]}})
    with pytest.raises(SweepError, match=r"model\.input_size"):
        write_job_yaml(_job(), tmp_path / "sweep", sweep=bad)
    assert not (tmp_path / "sweep" / "job.yml").exists()


def test_environment_installs_the_gpu_lock_with_hashes() -> None:
    pip = next(d["pip"] for d in conda_spec()["dependencies"] if isinstance(d, dict))
    assert pip == pip_lines(lock_path("gpu"))
    assert all(" --hash=sha256:" in line for line in pip)  # pip's hash-checking mode
    names = [Requirement(line.split(" --hash")[0]).name for line in pip]
    # The code snapshot brings the package: the environment needs what it imports.
    assert "food-recognition" not in names
    assert {"keras", "tensorflow", "azure-ai-ml", "mlflow-skinny", "azureml-mlflow"} <= set(names)
    assert all("==" in line.split(" --hash")[0] for line in pip)
    # What a saved model depends on is the version installed here.
    pins = pinned_versions(lock_path("gpu"))
    assert pins["keras"] == metadata.version("keras")
    assert pins["tensorflow"] == metadata.version("tensorflow-cpu")
    custom = next(
        d["pip"]
        for d in conda_spec(package="food-recognition[gpu] @ https://x/fr.whl")["dependencies"]
        if isinstance(d, dict)
    )
    assert custom[0].endswith("fr.whl")
    assert custom[1:] == pip_lines(lock_path("gpu"), hashes=False)


def test_cli_dry_run_writes_a_sweep_load_job_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dry"
    code = main(
        ["azure", "submit", "--target", "azureml", "--dry-run", str(out), "--data", BLOB,
         "--sweep", str(REFERENCE_SWEEP), "--nodes", "2", "--model.backbone", "efficientnetv2_s",
         "--training.epochs", "12", "--tag", "owner=tests", "--env", "TF_CPP_MIN_LOG_LEVEL=1"]
    )  # fmt: skip
    assert code == 0
    assert "az ml job create --file" in capsys.readouterr().out
    loaded = load_job(out / "job.yml")
    assert loaded.type == "sweep" and loaded.tags == {"owner": "tests"}
    assert loaded.trial.environment_variables == {"TF_CPP_MIN_LOG_LEVEL": "1"}
    config = load_yaml(RunConfig, out / "code" / "run.yaml")
    assert config.model.backbone == "efficientnetv2_s"
    assert config.training.epochs == 12


def test_cli_refuses_a_sweep_on_an_unlogged_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "primary_metric: f1\nsearch_space:\n  model.pooling: {type: choice, values: [avg]}\n"
    )
    code = main(["azure", "submit", "--dry-run", str(tmp_path / "x"), "--sweep", str(sweep)])
    assert code == 2
    assert "never logged" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_dry_run_of_a_blob_url_writes_the_datastore_to_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dry"
    code = main(["azure", "submit", "--target", "azureml", "--dry-run", str(out), "--data", BLOB])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"az ml datastore create --file {out / 'datastore.yml'}" in printed
    assert load_job(out / "job.yml").inputs["data"].path == DATASTORE_PATH


def test_cli_refuses_a_sas_url_in_one_line_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sas = BLOB + "?sv=2024-01-01&ss=b&sp=rl&sig=c2VjcmV0c2VjcmV0"
    code = main(["azure", "submit", "--dry-run", str(tmp_path / "x"), "--data", sas])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "query string" in err and "sig=" not in err
    assert not (tmp_path / "x").exists()


def test_cli_cluster_refuses_a_retired_size_and_writes_a_current_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from azure.ai.ml import load_compute

    assert main(["azure", "cluster", "gpu", "--vm-size", "Standard_NC6s_v3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "retired on 2025-09-30" in err
    path = tmp_path / "cluster.yml"
    argv = ["azure", "cluster", "gpu-a100", "--vm-size", "Standard_NC24ads_A100_v4"]
    assert main([*argv, "--low-priority", "--dry-run", str(path)]) == 0
    cluster = load_compute(path)
    assert (cluster.size, cluster.tier, cluster.identity.type) == (
        "Standard_NC24ads_A100_v4",
        "low_priority",
        "system_assigned",
    )
