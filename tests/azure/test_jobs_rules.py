"""The loopback Azure ML refuses what Azure refuses: one test per rule of its job and compute table.

Each case is a body the library sent before these rules existed, or one that
breaks a rule in the way a careless change would; the server answers 400
naming the rule. The library's own bodies pass every rule (the REST and
example tests submit through the same server).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from tests.fixtures.azureml_job_rules import COMPUTE_RULES, JOB_RULES
from tests.fixtures.azureml_rest import AzureMLRestServer

DATASTORE = "azureml://datastores/blob_foodstore_food/paths/food-101"


def _command(**changes: Any) -> dict[str, Any]:
    """A command job body like the library's: datastore input, managed identity."""
    properties: dict[str, Any] = {
        "jobType": "Command",
        "command": "python -m food_recognition.training --data.path ${{inputs.data}}",
        "computeId": "/subscriptions/s/resourceGroups/r/providers/x/workspaces/w/computes/gpu",
        "environmentId": "azureml:food:1",
        "inputs": {
            "data": {"jobInputType": "uri_folder", "uri": DATASTORE, "mode": "ReadOnlyMount"}
        },
        "outputs": {"model": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
        "identity": {"identityType": "Managed"},
    }
    properties.update(changes)
    return {"properties": properties}


def _put(server: AzureMLRestServer, kind: str, name: str, body: dict[str, Any]) -> Any:
    url = f"{server.url}{server.workspace_path}/{kind}/{name}"
    return requests.put(url, json=body, timeout=10)


def _register_credential_less_datastore(server: AzureMLRestServer) -> None:
    body = {
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": "foodstore",
            "containerName": "food",
            "credentials": {"credentialsType": "None"},
        }
    }
    assert _put(server, "datastores", "blob_foodstore_food", body).status_code == 201


def _https_mount() -> dict[str, Any]:
    # What the library sent before: the Blob URL itself, mounted, with no identity.
    data = {
        "jobInputType": "uri_folder",
        "uri": "https://foodstore.blob.core.windows.net/food/food-101",
        "mode": "ReadOnlyMount",
    }
    return _command(inputs={"data": data}, identity=None)


def _with_input(**data: Any) -> dict[str, Any]:
    body = _command()
    body["properties"]["inputs"]["data"].update(data)
    return body


def _wasbs_without_identity() -> dict[str, Any]:
    body = _command(identity=None)
    body["properties"]["inputs"]["data"]["uri"] = "wasbs://food@foodstore.blob.core.windows.net/x"
    return body


def _with_output(**model: Any) -> dict[str, Any]:
    body = _command()
    body["properties"]["outputs"]["model"].update(model)
    return body


JOB_CASES: dict[str, list[dict[str, Any]]] = {
    "job-input-uri": [
        _https_mount(),
        _with_input(uri="https://foodstore.blob.core.windows.net/food/food-101"),
        _with_input(uri="s3://bucket/food-101", mode="Download"),
    ],
    "job-input-mode": [_with_input(mode="ReadWriteMount"), _with_input(mode="Upload")],
    "job-output-path": [
        _with_output(uri="https://foodstore.blob.core.windows.net/out/model"),
        _with_output(mode="ReadOnlyMount"),
    ],
    "job-no-secrets": [
        _with_input(
            uri="https://foodstore.blob.core.windows.net/food/food-101?sv=2024&sig=abc",
            mode="Download",
        ),
        _command(environmentVariables={"CONN": "DefaultEndpointsProtocol=https;AccountKey=x"}),
    ],
    "job-identity-for-credential-less-data": [_command(identity=None), _wasbs_without_identity()],
}


@pytest.mark.parametrize(
    ("rule", "index"), [(rule, i) for rule, bodies in JOB_CASES.items() for i in range(len(bodies))]
)
def test_a_job_breaking_a_rule_is_refused(
    azureml_rest: AzureMLRestServer, rule: str, index: int
) -> None:
    _register_credential_less_datastore(azureml_rest)
    body = copy.deepcopy(JOB_CASES[rule][index])
    reply = _put(azureml_rest, "jobs", f"job-{index}", body)
    assert reply.status_code == 400, reply.text
    assert f"{rule}:" in reply.json()["error"]["message"]
    assert f"{azureml_rest.workspace_path}/jobs/job-{index}".lower() not in azureml_rest.resources
    # The same job as the library now sends it is accepted.
    assert _put(azureml_rest, "jobs", "job-ok", _command()).status_code == 201


def test_a_managed_identity_job_needs_a_cluster_with_an_identity(
    azureml_rest: AzureMLRestServer,
) -> None:
    _register_credential_less_datastore(azureml_rest)
    compute = {"properties": {"computeType": "AmlCompute", "properties": {"vmSize": "x"}}}
    assert _put(azureml_rest, "computes", "gpu-bare", compute).status_code == 201
    body = _command(computeId=f"{azureml_rest.workspace_path}/computes/gpu-bare")
    reply = _put(azureml_rest, "jobs", "on-bare", body)
    assert reply.status_code == 400
    assert "job-cluster-identity:" in reply.json()["error"]["message"]
    compute["identity"] = {"type": "SystemAssigned"}
    assert _put(azureml_rest, "computes", "gpu-bare", compute).status_code == 201
    assert _put(azureml_rest, "jobs", "on-bare", body).status_code == 201


@pytest.mark.parametrize(
    "size", ["Standard_NC6s_v3", "Standard_NC24rs_v3", "Standard_NC6", "Standard_ND40rs_v2"]
)
def test_a_cluster_of_a_retired_size_is_refused(azureml_rest: AzureMLRestServer, size: str) -> None:
    # Standard_NC6s_v3 was the library's default cluster size.
    body = {
        "identity": {"type": "SystemAssigned"},
        "properties": {"computeType": "AmlCompute", "properties": {"vmSize": size}},
    }
    reply = _put(azureml_rest, "computes", "gpu-old", body)
    assert reply.status_code == 400
    assert "compute-retired-vm-size:" in reply.json()["error"]["message"]
    body["properties"]["properties"]["vmSize"] = "Standard_NC4as_T4_v3"
    assert _put(azureml_rest, "computes", "gpu-old", body).status_code == 201


def test_every_rule_has_a_source_and_a_case() -> None:
    for rule in (*JOB_RULES, *COMPUTE_RULES):
        assert rule.source.startswith(("https://", "azure/")) or "#" in rule.source, rule.id
        assert rule.what
    cased = {*JOB_CASES, "job-cluster-identity", "compute-retired-vm-size"}
    assert {rule.id for rule in (*JOB_RULES, *COMPUTE_RULES)} == cased
