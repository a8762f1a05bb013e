"""The loopback Azure ML refuses environments whose image build would fail, one test per rule.

The library's environments pass: the pinned one (image + hashed conda file)
through the real MLClient, and the build-context one that installs a run's
plugins as the SDK sends it once its folder is uploaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from azure.storage.blob import ContainerClient

from food_recognition.azure.deploy import inference_environment
from food_recognition.azure.environment import build_environment, conda_spec
from food_recognition.azure.environment.context import (
    build_context_environment,
    write_build_context,
)
from food_recognition.azure.jobs import build_command, job_environment
from food_recognition.compute import TrainingJob
from food_recognition.config import RunConfig
from tests.azure.test_environment_context import make_wheel
from tests.fixtures.azureml_environment_rules import ENVIRONMENT_RULES
from tests.fixtures.azureml_rest import AzureMLRestServer

IMAGE = "mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:20250701.v1"


def _put(server: AzureMLRestServer, body: dict[str, Any]) -> requests.Response:
    url = f"{server.url}{server.workspace_path}/environments/food/versions/1"
    return requests.put(url, json=body, timeout=10)


def _conda_body(pip: list[str], **extra: Any) -> dict[str, Any]:
    conda = {"dependencies": ["python=3.11", "pip=24.2", {"pip": pip}]}
    return {"properties": {"image": IMAGE, "condaFile": yaml.safe_dump(conda), **extra}}


CASES: dict[str, dict[str, Any]] = {
    # A lock with its hashes plus one requirement without: pip refuses the whole file.
    "environment-pip-hashes-all-or-none": _conda_body(
        ["numpy==2.1.3 --hash=sha256:" + "0" * 64, "food-recognition-tiny-backbone==0.1.0"]
    ),
    # A wheel from the job's code folder named in the conda file: the build never sees it.
    "environment-conda-no-local-files": _conda_body(
        ["plugins/food_recognition_tiny_backbone-0.1.0-py3-none-any.whl"]
    ),
    "environment-image-or-build": {
        "properties": {
            "image": IMAGE,
            "build": {"contextUri": "https://foodstore.blob.core.windows.net/c/env/"},
        }
    },
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_a_body_breaking_the_rule_is_refused(azureml_rest: AzureMLRestServer, rule_id: str) -> None:
    answer = _put(azureml_rest, CASES[rule_id])
    assert answer.status_code == 400
    assert rule_id in answer.text


def test_every_rule_has_a_source_and_a_case() -> None:
    for rule in ENVIRONMENT_RULES:
        assert rule.source and rule.what
    assert {rule.id for rule in ENVIRONMENT_RULES} == set(CASES)


def test_the_library_environments_pass_through_the_real_client(
    azureml_rest: AzureMLRestServer,
) -> None:
    client = azureml_rest.client()
    client.environments.create_or_update(build_environment(name="food-gpu", version="1"))
    client.environments.create_or_update(inference_environment(version="1"))
    # With a package requirement the lock's lines lose their hashes, all of them.
    spec = conda_spec("food-recognition[gpu]==1.2")
    body = _conda_body(next(i["pip"] for i in spec["dependencies"] if isinstance(i, dict)))
    assert _put(azureml_rest, body).status_code == 201


def test_the_plugin_build_context_environment_passes_as_the_sdk_sends_it(
    azureml_rest: AzureMLRestServer, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "built", "food-recognition-demo", [])
    context = write_build_context(tmp_path / "env", wheels=[wheel])
    environment = build_context_environment(context, description="plugins")
    # What _check_and_upload_env_build_context leaves once the folder is uploaded.
    environment.build.path = "https://foodstore.blob.core.windows.net/azureml/LocalUpload/x/env/"
    body = environment._to_rest_object().as_dict()
    answer = _put(azureml_rest, body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["properties"]["build"]["dockerfilePath"] == "Dockerfile"


def test_a_job_with_plugins_uploads_its_build_context_and_runs_in_that_environment(
    azureml_rest: AzureMLRestServer, workspace_storage: ContainerClient, tmp_path: Path
) -> None:
    """The real MLClient uploads the folder to the workspace's storage (Azurite here),
    registers the environment by the folder's URL (the rules above pass), and the job
    names that environment."""
    code = tmp_path / "code"
    wheel = make_wheel(code / "plugins", "food-recognition-demo", [])
    data = {"distributions": [{"name": "food-recognition-demo", "version": "0.1.0"}]}
    (code / "plugins.json").write_text(json.dumps(data))
    job = TrainingJob(RunConfig(), data="azureml://datastores/food/paths/food-101")
    environment = job_environment(job, code, tmp_path / "environment")
    client = azureml_rest.client()
    client.jobs.create_or_update(build_command(job, code, environment=environment))

    (put,) = azureml_rest.find("PUT", r"environments/[^/]+/versions/[^/]+")
    build = put.json()["properties"]["build"]
    assert build["dockerfilePath"] == "Dockerfile" and "image" not in put.json()["properties"]
    uploaded = {b.name.rsplit("/", 1)[-1]: b.name for b in workspace_storage.list_blobs()}
    assert {"Dockerfile", "conda.yaml", "plugins.txt", wheel.name} <= set(uploaded)
    blob = workspace_storage.download_blob(uploaded[wheel.name]).readall()
    line = workspace_storage.download_blob(uploaded["plugins.txt"]).readall().decode()
    assert line == f"plugins/{wheel.name} --hash=sha256:{hashlib.sha256(blob).hexdigest()}\n"
    (job_put,) = azureml_rest.find("PUT", r"jobs/[^/]+$")
    environment_id = job_put.json()["properties"]["environmentId"]
    assert environment_id.endswith("/".join(put.path.split("/")[-3:]))
