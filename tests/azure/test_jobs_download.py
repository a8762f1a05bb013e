"""Downloading a job's model package: the real azure-ai-ml download path, end to end.

``AzureMLTarget.download_outputs`` calls ``MLClient.jobs.download``. Here the
SDK asks the loopback Azure ML server (``azureml_rest``) for the job, its run
history, the output's resolved URI and the datastore with its SAS token, then
lists and reads the blobs at ``https://devstoreaccount1.blob.core.windows.net``,
which ``blob_tls_proxy`` serves from Azurite over TLS.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import (
    ContainerClient,
)

from food_recognition.azure.jobs import AzureMLTarget
from food_recognition.compute import JobFailedError, JobHandle, get_target
from tests.azure.conftest import DATASTORE
from tests.fixtures.azureml_rest import (
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    AzureMLRestServer,
    RecordedRequest,
    Reply,
)
from tests.fixtures.blob_tls_proxy import HOST, BlobTLSProxy

#: The model package a training job leaves in its ``model`` output.
PACKAGE = {
    "package/metadata.json": b'{"classes": ["apple_pie", "baby_back_ribs"], "input_size": 224}',
    "package/model.keras": bytes(range(256)) * 40,
    "package/labels.txt": b"apple_pie\nbaby_back_ribs\n",
    "package/assets/preprocessing.json": b'{"rescale": 0.00392156862745098}',
}


def _target(server: AzureMLRestServer) -> AzureMLTarget:
    target = get_target("azureml", ml_client=server.client())
    assert isinstance(target, AzureMLTarget)
    return target


def _store_job(server: AzureMLRestServer, name: str, properties: dict[str, Any]) -> None:
    """What the job GET answers (its status comes from ``server.job_status``)."""
    path = f"{server.workspace_path}/jobs/{name}"
    server.resources[path.lower()] = {
        "id": path,
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/jobs",
        "systemData": {"createdAt": "2026-01-01T00:00:00Z", "createdBy": "test"},
        "properties": {"experimentName": "food-recognition", **properties},
    }


def _command_job(server: AzureMLRestServer, name: str) -> None:
    _store_job(
        server,
        name,
        {
            "jobType": "Command",
            "command": "python -m food_recognition.compute.run ${{inputs.data}} ${{outputs.model}}",
            "environmentId": "azureml:food-recognition-gpu:1",
            "computeId": f"{server.workspace_path}/computes/gpu-cluster",
            "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
        },
    )


def _serve_run_outputs(server: AzureMLRestServer) -> None:
    """Run history names each job's ``model`` output asset; the data plane resolves its URI.

    The URI is where Azure ML writes a command job's default output:
    ``azureml/<job>/model/`` on the workspace's blob datastore.
    """

    def asset_id(job: str) -> str:
        workspace = "azureml://locations/westeurope/workspaces/11111111-1111-1111-1111-111111111111"
        return f"{workspace}/data/azureml_{job}_output_data_model/versions/1"

    def run_data(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        job = request.json()["runId"]
        outputs = {"model": {"assetId": asset_id(job), "type": "uri_folder"}}
        return Reply(200, {"runMetadata": {"runId": job, "outputs": outputs}})

    def resolve(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        values = {}
        for asset in request.json()["values"]:
            job = re.fullmatch(r".*/azureml_(.+)_output_data_model/versions/1", asset)
            assert job, asset
            uri = (
                f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/"
                f"workspaces/{WORKSPACE}/datastores/{DATASTORE}/paths/azureml/{job[1]}/model/"
            )
            values[asset] = {"uri": uri, "type": "UriFolder"}
        return Reply(200, {"values": values})

    workspace = re.escape(server.workspace_path)
    server.add_route("POST", rf"/history/v1\.0{workspace}/rundata", run_data)
    server.add_route("POST", rf"/data/v1\.0{workspace}/dataversion/batchGetResolvedUris", resolve)


@pytest.fixture
def storage(azureml_rest: AzureMLRestServer, workspace_storage: ContainerClient) -> ContainerClient:
    """The workspace's blob datastore on Azurite, with run history and URI resolution."""
    _serve_run_outputs(azureml_rest)
    return workspace_storage


def _upload_package(container: ContainerClient, job: str) -> None:
    for name, data in PACKAGE.items():
        container.upload_blob(f"azureml/{job}/model/{name}", data)


def _assert_package(folder: Path) -> None:
    assert folder.is_dir()
    found = {p.relative_to(folder.parent).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert found == set(PACKAGE)
    for name, data in PACKAGE.items():
        assert (folder.parent / name).read_bytes() == data


def test_download_outputs_fetches_the_model_package(
    azureml_rest: AzureMLRestServer,
    blob_tls_proxy: BlobTLSProxy,
    storage: ContainerClient,
    tmp_path: Path,
) -> None:
    job = "tidy_owl_abc123"
    _command_job(azureml_rest, job)
    _upload_package(storage, job)
    # Another job's output in the same datastore is not downloaded.
    storage.upload_blob(f"azureml/{job}x/model/package/other.bin", b"other")

    package = _target(azureml_rest).download_outputs(JobHandle("azureml", job), tmp_path / "out")

    assert package == tmp_path / "out" / "named-outputs" / "model" / "package"
    _assert_package(package)
    # The output's location came from run history and the data plane, its key from the
    # datastore's secrets; the blobs from the account's own host name, through the proxy only.
    assert [r.json()["runId"] for r in azureml_rest.find("POST", r"/history/.*/rundata")] == [job]
    assert azureml_rest.find("POST", r"/data/.*/dataversion/batchGetResolvedUris")
    secrets = azureml_rest.find("POST", rf"datastores/{DATASTORE}/listSecrets")
    assert [r.json()["expirableSecret"] for r in secrets] == [True]
    assert blob_tls_proxy.connects and set(blob_tls_proxy.connects) == {f"{HOST}:443"}


def test_a_sweep_downloads_its_best_trial(
    azureml_rest: AzureMLRestServer,
    blob_tls_proxy: BlobTLSProxy,
    storage: ContainerClient,
    tmp_path: Path,
) -> None:
    sweep, best = "sweep_hd_42", "sweep_hd_42_3"
    _store_job(
        azureml_rest,
        sweep,
        {
            "jobType": "Sweep",
            "computeId": f"{azureml_rest.workspace_path}/computes/gpu-cluster",
            "objective": {"primaryMetric": "val_accuracy", "goal": "maximize"},
            "samplingAlgorithm": {"samplingAlgorithmType": "Random"},
            "searchSpace": {"model__pooling": ["choice", [["avg", "max"]]]},
            "limits": {"jobLimitsType": "Sweep", "maxTotalTrials": 4},
            "trial": {
                "command": "python -m food_recognition.compute.run",
                "environmentId": "azureml:food-recognition-gpu:1",
            },
            "properties": {"best_child_run_id": best},
        },
    )
    _command_job(azureml_rest, best)
    _upload_package(storage, best)

    package = _target(azureml_rest).download_outputs(JobHandle("azureml", sweep), tmp_path / "out")

    _assert_package(package)
    resolved = [r.json()["runId"] for r in azureml_rest.find("POST", r"/history/.*/rundata")]
    assert resolved == [best]


def test_an_unfinished_job_is_not_downloaded(
    azureml_rest: AzureMLRestServer,
    blob_tls_proxy: BlobTLSProxy,
    storage: ContainerClient,
    tmp_path: Path,
) -> None:
    job = "busy_fox_xyz"
    _command_job(azureml_rest, job)
    _upload_package(storage, job)
    azureml_rest.job_status[job] = "Running"

    with pytest.raises(JobFailedError, match="is Running"):
        _target(azureml_rest).download_outputs(JobHandle("azureml", job), tmp_path / "out")

    assert not (tmp_path / "out").exists()
    assert blob_tls_proxy.connects == []
    assert not azureml_rest.find("POST", r"/history/.*")


def test_a_completed_job_without_a_package_is_an_error(
    azureml_rest: AzureMLRestServer,
    blob_tls_proxy: BlobTLSProxy,
    storage: ContainerClient,
    tmp_path: Path,
) -> None:
    job = "empty_owl_000"
    _command_job(azureml_rest, job)  # completed, but nothing in its output

    with pytest.raises(JobFailedError, match=f"{job} completed, but its 'model' output"):
        _target(azureml_rest).download_outputs(JobHandle("azureml", job), tmp_path / "out")
    assert [r.json()["runId"] for r in azureml_rest.find("POST", r"/history/.*/rundata")] == [job]


def test_the_proxy_plays_only_the_storage_account(blob_tls_proxy: BlobTLSProxy) -> None:
    import requests

    with pytest.raises(requests.exceptions.ProxyError, match="403"):
        requests.get(
            "https://example.com/", proxies={"https": blob_tls_proxy.proxy_url}, timeout=10
        )
    assert blob_tls_proxy.connects == ["example.com:443"]
