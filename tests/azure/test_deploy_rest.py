"""Deployment calls at the HTTP level: a real MLClient against the loopback Azure ML REST server.

The routes below add online endpoints and deployments to the recording server
(``tests/fixtures/azureml_rest.py``); each stores what a PUT sent and returns it
on GET, with ``provisioningState: Succeeded`` so the SDK's pollers finish at once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from food_recognition.azure import deploy as az
from tests.azure.conftest import DATASTORE
from tests.fixtures.azureml_rest import AzureMLRestServer, RecordedRequest, Reply

ENDPOINTS = r"onlineEndpoints"
NAME = r"(?P<name>[^/]+)"
ENDPOINT = rf"{ENDPOINTS}/(?P<endpoint>[^/]+)"


@pytest.fixture
def rest(azureml_rest: AzureMLRestServer) -> AzureMLRestServer:
    """The REST server with online endpoint and deployment routes."""
    server = azureml_rest
    server.add_route("PUT", rf"{ENDPOINT}/deployments/{NAME}", _put)
    server.add_route("GET", rf"{ENDPOINT}/deployments/{NAME}", _get)
    server.add_route("DELETE", rf"{ENDPOINT}/deployments/{NAME}", _delete)
    server.add_route("GET", rf"{ENDPOINT}/deployments", _list)
    server.add_route("POST", rf"{ENDPOINT}/deployments/{NAME}/getLogs", _logs)
    server.add_route("POST", rf"{ENDPOINT}/listKeys", _keys)
    server.add_route("PUT", ENDPOINT, _put)
    server.add_route("PATCH", ENDPOINT, _patch)
    server.add_route("GET", ENDPOINT, _get)
    server.add_route("DELETE", ENDPOINT, _delete)
    server.add_route("PUT", rf"models/{NAME}/versions/[^/]+", _put_model)
    return server


def _store(server: AzureMLRestServer, request: RecordedRequest, body: dict[str, Any]) -> Reply:
    stored = json.loads(json.dumps(body))
    stored["id"] = request.path
    stored["name"] = request.path.rstrip("/").split("/")[-1]
    stored.setdefault("location", "westeurope")
    properties = stored.setdefault("properties", {})
    properties["provisioningState"] = "Succeeded"
    if "/deployments/" in request.path:
        # Azure answers a managed deployment with its default scale settings filled in.
        properties.setdefault("scaleSettings", {"scaleType": "Default"})
    else:
        properties["scoringUri"] = f"{server.url}/score/{stored['name']}"
        properties.setdefault("traffic", {})
    server.resources[request.path.lower()] = stored
    return Reply(200, stored)


def _put(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    return _store(server, request, request.json())


def _put_model(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    # Azure answers with the model's flavors as a mapping, empty when none were given.
    stored = json.loads(request.body)
    properties = stored.setdefault("properties", {})
    properties["flavors"] = properties.get("flavors") or {}
    stored.update(id=request.path, name=request.path.rstrip("/").split("/")[-1])
    server.resources[request.path.lower()] = stored
    return Reply(201, stored)


def _patch(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    stored = server.resources.get(request.path.lower(), {})
    stored.setdefault("properties", {}).update(request.json().get("properties", {}))
    return _store(server, request, stored)


def _get(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    stored = server.resources.get(request.path.lower())
    if stored is None:
        return Reply(404, {"error": {"code": "NotFound", "message": f"{request.path} not found"}})
    return Reply(200, stored)


def _delete(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    server.resources.pop(request.path.lower(), None)
    return Reply(200, None)


def _list(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    prefix = request.path.lower() + "/"
    items = [v for k, v in server.resources.items() if k.startswith(prefix)]
    return Reply(200, {"value": items})


def _keys(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    return Reply(200, {"primaryKey": "loopback-primary", "secondaryKey": "loopback-secondary"})


def _logs(server: AzureMLRestServer, request: RecordedRequest, match: re.Match[str]) -> Reply:
    asked = request.json()
    return Reply(200, {"content": f"tail {asked.get('tail')} of {asked.get('containerType')}"})


def _puts(server: AzureMLRestServer, pattern: str) -> list[dict[str, Any]]:
    return [r.json() for r in server.find("PUT", pattern)]


def test_deploy_creates_the_endpoint_then_the_deployment_with_all_traffic(
    rest: AzureMLRestServer, tmp_path: Path
) -> None:
    ml_client = rest.client()
    endpoint = az.EndpointSpec(name="food-aks", compute="aks-inference")
    deployment = az.DeploymentSpec(
        name="blue",
        endpoint_name="food-aks",
        model="azureml:food-recognition:1",
        environment="azureml:food-inference:1",
        max_instances=3,
        blob_account_url="https://foodimages.blob.core.windows.net",
        blob_containers=("uploads",),
    )
    result = az.deploy(ml_client, endpoint, deployment, code_dir=tmp_path / "code")
    assert dict(result.traffic) == {"blue": 100}

    endpoint_body = _puts(rest, rf"{ENDPOINTS}/food-aks")[0]
    assert endpoint_body["properties"]["compute"].endswith("computes/aks-inference")
    assert endpoint_body["properties"]["authMode"].lower() == "key"
    assert endpoint_body["identity"]["type"].lower().startswith("systemassigned")

    body = _puts(rest, rf"{ENDPOINTS}/food-aks/deployments/blue")[0]["properties"]
    assert body["endpointComputeType"] == "Kubernetes"
    assert body["model"].endswith("models/food-recognition/versions/1")
    assert body["scaleSettings"]["maxInstances"] == 3
    assert body["livenessProbe"]["initialDelay"] == "PT30S"
    assert body["requestSettings"]["requestTimeout"] == "PT5S"
    assert body["appInsightsEnabled"] is True
    assert body["environmentVariables"]["FOOD_RECOGNITION_BLOB_CONTAINERS"] == "uploads"
    assert body["codeConfiguration"]["scoringScript"] == az.SCORING_SCRIPT
    # The code went up as a code asset: the library's source with the scoring script in it.
    uploads = [r.path for r in rest.requests if r.method == "PUT" and "/blob/" in r.path]
    assert any(p.endswith("food_recognition/serving/score.py") for p in uploads)


def test_blue_green_shift_keys_logs_and_delete(rest: AzureMLRestServer, tmp_path: Path) -> None:
    ml_client = rest.client()
    endpoint = az.EndpointSpec(name="food-managed")
    common = {"endpoint_name": "food-managed", "environment": "azureml:food-inference:1"}
    blue = az.DeploymentSpec(name="blue", model="azureml:food-recognition:1", **common)
    green = az.DeploymentSpec(name="green", model="azureml:food-recognition:2", **common)
    az.deploy(ml_client, endpoint, blue, code_dir=tmp_path / "code")
    result = az.deploy(ml_client, endpoint, green, code_dir=tmp_path / "code", traffic_percent=10)
    assert dict(result.traffic) == {"blue": 90, "green": 10}
    shifted = az.shift_traffic(ml_client, "food-managed", "green", 100).traffic
    assert {name: share for name, share in shifted.items() if share} == {"green": 100}
    with pytest.raises(az.DeployError, match="no deployment 'purple'"):
        az.shift_traffic(ml_client, "food-managed", "purple", 50)

    client = az.scoring_client(ml_client, "food-managed", deployment="green")
    assert client.scoring_uri == f"{rest.url}/score/food-managed"
    assert client.key == "loopback-primary"
    assert client._headers() == {
        "Authorization": "Bearer loopback-primary",
        "azureml-model-deployment": "green",
    }

    # No container named: Azure ML sends the inference server's log.
    assert az.get_logs(ml_client, "food-managed", "green", lines=50) == "tail 50 of None"
    init_log = az.get_logs(ml_client, "food-managed", "green", lines=5, init_container=True)
    assert init_log == "tail 5 of StorageInitializer"

    with pytest.raises(az.DeployError, match="takes 100% of the traffic"):
        az.delete(ml_client, "food-managed", "green")
    az.delete(ml_client, "food-managed", "blue")
    assert rest.find("DELETE", rf"{ENDPOINTS}/food-managed/deployments/blue")


def test_register_a_job_output_and_refuse_a_folder_that_is_no_package(
    rest: AzureMLRestServer, tmp_path: Path
) -> None:
    ml_client = rest.client()
    az.register_model(
        ml_client, az.job_output_uri("sharp_pear_123"), name="food-recognition", version="2"
    )
    body = _puts(rest, r"models/food-recognition/versions/2")[0]["properties"]
    assert body["modelType"] == "custom_model"
    assert "jobs/sharp_pear_123/outputs/package" in body["modelUri"]
    with pytest.raises(az.DeployError, match="not a model package"):
        az.register_model(ml_client, tmp_path, name="food-recognition")
    assert len(_puts(rest, r"models/.*")) == 1


def test_attach_refuses_a_resource_that_is_not_a_cluster(rest: AzureMLRestServer) -> None:
    with pytest.raises(az.DeployError, match="not an AKS or Arc cluster"):
        az.attach_kubernetes_compute(rest.client(), "aks", "/subscriptions/x/vm/y")
    assert rest.find("PUT", r"computes/aks") == []


def test_register_a_local_package_uploads_it_to_the_workspace_datastore(
    rest: AzureMLRestServer, workspace_storage: ContainerClient, tiny_package: Path
) -> None:
    az.register_model(rest.client(), tiny_package, name="food-recognition", version="3")

    body = _puts(rest, r"models/food-recognition/versions/3")[0]["properties"]
    prefix = re.fullmatch(rf".*/datastores/{DATASTORE}/paths/(.+)", body["modelUri"].rstrip("/"))
    assert prefix, body["modelUri"]
    files = {
        p.relative_to(tiny_package).as_posix(): p for p in tiny_package.rglob("*") if p.is_file()
    }
    uploaded = {
        blob.name[len(prefix[1]) + 1 :]: blob.name
        for blob in workspace_storage.list_blobs(name_starts_with=prefix[1] + "/")
    }
    assert set(uploaded) == set(files)
    for relative, blob in uploaded.items():
        assert workspace_storage.download_blob(blob).readall() == files[relative].read_bytes()
    assert body["tags"] == {"accuracy": "0"}  # the package's metrics travel as tags
