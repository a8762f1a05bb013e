"""The online-endpoint fake refuses what Azure ML refuses: one test per rule, with the old request.

Each case sends, through the real SDK where the SDK lets it through, a request
this library (or its fake) used to accept, and checks the fake answers 400
naming the rule (``tests/fixtures/azureml_deploy_rules.py``).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from azure.ai.ml.entities import (
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    ResourceRequirementsSettings,
    ResourceSettings,
)
from azure.core.exceptions import HttpResponseError

from tests.fixtures import azureml_deploy_rules as rules
from tests.fixtures.azureml_rest import AzureMLRestServer

ENDPOINT = "food-aks"


@pytest.fixture
def rest(azureml_rest: AzureMLRestServer) -> AzureMLRestServer:
    """The fake with the rules installed, an AKS compute and a legacy (v1) AKS compute."""
    rules.add_kubernetes_compute(azureml_rest, "aks-inference")
    rules.add_kubernetes_compute(azureml_rest, "aks-legacy", compute_type="AKS")
    return rules.install(azureml_rest)


def _endpoint(ml_client: Any, compute: str = "aks-inference") -> None:
    entity = KubernetesOnlineEndpoint(name=ENDPOINT, compute=compute, auth_mode="key")
    ml_client.online_endpoints.begin_create_or_update(entity).result()


def _kubernetes(ml_client: Any, **kwargs: Any) -> None:
    _endpoint(ml_client)
    deployment = KubernetesOnlineDeployment(
        name="blue",
        endpoint_name=ENDPOINT,
        model="azureml:food-recognition:1",
        environment="azureml:food-inference:1",
        instance_count=1,
        **kwargs,
    )
    ml_client.online_deployments.begin_create_or_update(deployment).result()


def _raw_put(server: AzureMLRestServer, path: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{server.url}{server.workspace_path}/{path}?api-version=2024-04-01",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _old_default_resources(ml_client: Any, server: AzureMLRestServer) -> None:
    # What DeploymentSpec sent by default before: requests 1 CPU / 2Gi, limit 4Gi.
    _kubernetes(
        ml_client,
        resources=ResourceRequirementsSettings(
            requests=ResourceSettings(cpu="1", memory="2Gi"),
            limits=ResourceSettings(memory="4Gi"),
        ),
    )


def _limits_without_requests(ml_client: Any, server: AzureMLRestServer) -> None:
    # A memory limit alone (``--memory-limit 1Gi``) fits the instance type but names no requests.
    _kubernetes(
        ml_client, resources=ResourceRequirementsSettings(limits=ResourceSettings(memory="1Gi"))
    )


def _missing_instance_type(ml_client: Any, server: AzureMLRestServer) -> None:
    _kubernetes(ml_client, instance_type="gpularge")


def _legacy_aks_compute(ml_client: Any, server: AzureMLRestServer) -> None:
    _endpoint(ml_client, compute="aks-legacy")


def _retired_managed_size(ml_client: Any, server: AzureMLRestServer) -> None:
    endpoint = ManagedOnlineEndpoint(name="food-managed", auth_mode="key")
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    deployment = ManagedOnlineDeployment(
        name="blue",
        endpoint_name="food-managed",
        model="azureml:food-recognition:1",
        environment="azureml:food-inference:1",
        instance_type="Standard_NC6s_v3",
        instance_count=1,
    )
    ml_client.online_deployments.begin_create_or_update(deployment).result()


def _job_output_model(ml_client: Any, server: AzureMLRestServer) -> None:
    # The SDK refuses it before sending (the rule's source); a raw request gets the 400.
    _endpoint(ml_client)
    body = {
        "location": "westeurope",
        "sku": {"name": "Default", "capacity": 1},
        "properties": {
            "endpointComputeType": "Kubernetes",
            "model": "azureml://jobs/sharp_pear_123/outputs/model/paths/package",
        },
    }
    status, text = _raw_put(server, f"onlineEndpoints/{ENDPOINT}/deployments/blue", body)
    raise HttpResponseError(message=f"{status} {text}")


def _no_endpoint(ml_client: Any, server: AzureMLRestServer) -> None:
    body = {
        "location": "westeurope",
        "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2"},
    }
    status, text = _raw_put(server, "onlineEndpoints/nowhere/deployments/blue", body)
    raise HttpResponseError(message=f"{status} {text}")


#: For each rule, the request that breaks it.
CASES: dict[str, Callable[[Any, AzureMLRestServer], None]] = {
    "endpoint-compute-is-kubernetes": _legacy_aks_compute,
    "deployment-endpoint-exists": _no_endpoint,
    "deployment-model-is-registered": _job_output_model,
    "kubernetes-instance-type-exists": _missing_instance_type,
    "kubernetes-resources-fit-instance-type": _old_default_resources,
    "kubernetes-resources-request-cpu-and-memory": _limits_without_requests,
    "managed-instance-type-exists": _retired_managed_size,
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_the_fake_refuses_what_azure_refuses(rest: AzureMLRestServer, rule_id: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        CASES[rule_id](rest.client(), rest)
    message = str(caught.value)
    assert f"[{rule_id}]" in message
    assert "400" in message or "UserError" in message
    # Refused requests are not stored: a GET of the refused resource finds nothing.
    assert not [k for k in rest.resources if "/deployments/" in k]


def test_every_rule_has_a_source_and_a_case() -> None:
    ids = [rule.id for rule in rules.RULES]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(CASES)
    for rule in rules.RULES:
        assert rule.what and rule.applies_to in ("endpoint", "deployment")
        assert rule.source.startswith("https://learn.microsoft.com/") or re.search(
            r"azure-ai-ml [\d.]+ \S+\.py:\d+", rule.source
        ), rule.source


def test_the_sdk_refuses_a_job_output_as_a_deployments_model(rest: AzureMLRestServer) -> None:
    # The source of deployment-model-is-registered: nothing reaches the service.
    from azure.ai.ml.exceptions import MlException

    ml_client = rest.client()
    _endpoint(ml_client)
    deployment = KubernetesOnlineDeployment(
        name="blue",
        endpoint_name=ENDPOINT,
        model="azureml://jobs/sharp_pear_123/outputs/model/paths/package",
        environment="azureml:food-inference:1",
    )
    with pytest.raises(MlException, match="Could not parse"):
        ml_client.online_deployments.begin_create_or_update(deployment).result()
    assert not rest.find("PUT", r"onlineEndpoints/.*/deployments/.*")


def test_a_deployment_within_its_instance_type_is_accepted(rest: AzureMLRestServer) -> None:
    ml_client = rest.client()
    _kubernetes(
        ml_client,
        resources=ResourceRequirementsSettings(
            requests=ResourceSettings(cpu="500m", memory="1Gi"),
            limits=ResourceSettings(cpu="2", memory="2Gi"),
        ),
    )
    assert ml_client.online_deployments.get("blue", ENDPOINT).instance_type is None
