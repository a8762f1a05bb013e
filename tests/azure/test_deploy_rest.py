"""Deployment calls at the HTTP level: a real MLClient against the loopback Azure ML REST server.

The online endpoint routes (``tests/fixtures/azureml_deploy_rules.py``) store what
a PUT sent and return it on GET, and refuse what Azure ML refuses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from food_recognition.azure import deploy as az
from tests.azure.conftest import DATASTORE
from tests.fixtures import azureml_deploy_rules as rules
from tests.fixtures.azureml_rest import AzureMLRestServer

ENDPOINTS = rules.ENDPOINTS


@pytest.fixture
def rest(azureml_rest: AzureMLRestServer) -> AzureMLRestServer:
    """The REST server with online endpoint routes held to Azure's rules, and an AKS compute."""
    rules.add_kubernetes_compute(azureml_rest, "aks-inference")
    return rules.install(azureml_rest)


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
    assert body["modelUri"] == "azureml://jobs/sharp_pear_123/outputs/model/paths/package"
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


def test_deploying_a_job_package_registers_it_then_deploys_the_registered_model(
    rest: AzureMLRestServer, tmp_path: Path
) -> None:
    ml_client = rest.client()
    endpoint = az.EndpointSpec(name="food-aks", compute="aks-inference")
    uri = az.job_output_uri("sharp_pear_123")
    deployment = az.DeploymentSpec(
        endpoint_name="food-aks", model=uri, environment="azureml:food-inference:1"
    )
    az.deploy(ml_client, endpoint, deployment, code_dir=tmp_path / "code", model_name="food")

    model_puts = rest.find("PUT", r"models/food/versions/[^/]+")
    assert [r.json()["properties"]["modelUri"] for r in model_puts] == [uri]
    version = model_puts[0].path.rsplit("/", 1)[-1]
    body = _puts(rest, rf"{ENDPOINTS}/food-aks/deployments/blue")[0]["properties"]
    assert body["model"].endswith(f"/models/food/versions/{version}")
    # Registered before anything of the endpoint was sent.
    order = [r.path for r in rest.requests if r.method == "PUT"]
    assert order.index(model_puts[0].path) < next(
        i for i, p in enumerate(order) if "/onlineEndpoints/" in p
    )


def test_a_deployment_over_its_instance_type_is_refused_before_anything_is_sent(
    rest: AzureMLRestServer, tmp_path: Path
) -> None:
    endpoint = az.EndpointSpec(name="food-aks", compute="aks-inference")
    deployment = az.DeploymentSpec(
        endpoint_name="food-aks", model="azureml:food:1", memory_limit="4Gi"
    )
    with pytest.raises(az.DeployError, match="does not fit instance type"):
        az.deploy(rest.client(), endpoint, deployment, code_dir=tmp_path / "code")
    assert [r for r in rest.requests if r.method != "GET"] == []
