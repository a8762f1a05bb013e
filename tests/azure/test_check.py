"""``azure check``: each failure is one line with its fix, against the loopback Azure ML server.

A healthy workspace (a T4 cluster with an identity and quota, an identity-based
datastore, an attached AKS cluster) passes every check; each case below breaks
one thing and expects exactly that check to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from food_recognition.azure.check import CheckReport, check_deployment, check_training
from food_recognition.azure.deploy import DeploymentSpec, EndpointSpec
from food_recognition.azure.environment import DEFAULT_IMAGE, conda_spec
from food_recognition.cli import main
from tests.fixtures import azureml_deploy_rules as rules
from tests.fixtures.azureml_rest import AzureMLRestServer, RecordedRequest, Reply

DATA = "azureml://datastores/fooddata/paths/food-101"


@pytest.fixture
def rest(azureml_rest: AzureMLRestServer) -> AzureMLRestServer:
    """A workspace that passes every check."""
    server = azureml_rest
    rules.add_region(server)
    rules.add_cluster(server, "gpu-cluster")
    small = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    rules.add_kubernetes_compute(server, "aks-inference", instance_types={"small": small})
    server.add_route("GET", r"datastores/fooddata", _identity_datastore)
    server.add_route("GET", r"datastores/missing", _missing)
    return rules.install(server)


def _identity_datastore(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
    return Reply(
        200,
        {
            "id": request.path,
            "name": "fooddata",
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": "foodstore",
                "containerName": "food",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "isDefault": False,
                "credentials": {"credentialsType": "None"},
            },
        },
    )


def _missing(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
    return Reply(404, {"error": {"code": "UserError", "message": f"{request.path} not found"}})


def _environment(server: AzureMLRestServer, image: str, conda: dict[str, Any]) -> None:
    path = f"{server.workspace_path}/environments/custom-env/versions/1"
    server.resources[path.lower()] = {
        "id": path,
        "name": "1",
        "type": "Microsoft.MachineLearningServices/workspaces/environments/versions",
        "properties": {
            "image": image,
            "condaFile": yaml.safe_dump(conda),
            "osType": "Linux",
            "isAnonymous": False,
        },
    }


def _training(server: AzureMLRestServer, **kwargs: Any) -> CheckReport:
    arguments: dict[str, Any] = {"compute": "gpu-cluster", "data": DATA, "nodes": 1} | kwargs
    return check_training(server.client(), **arguments)


def _deployment(server: AzureMLRestServer, compute: str = "aks-inference", **kwargs: Any) -> Any:
    endpoint = EndpointSpec(name="food-aks", compute=compute)
    environment = kwargs.pop("environment", None)
    spec = DeploymentSpec(endpoint_name="food-aks", model="azureml:food:1", **kwargs)
    return check_deployment(server.client(), endpoint, spec, environment=environment)


def test_a_healthy_workspace_passes_every_check(rest: AzureMLRestServer) -> None:
    training = _training(rest)
    assert training.ok, training.lines()
    checked = {f.check for f in training.findings}
    assert {"compute", "vm-size", "identity", "quota", "data", "image"} <= checked
    data = next(f for f in training.findings if f.check == "data")
    # What cannot be verified from here is named with its fix: the role to assign.
    assert "Storage Blob Data Reader" in data.message
    assert rules.PRINCIPAL_ID in data.message
    deployment = _deployment(rest)
    assert deployment.ok, deployment.lines()
    assert {"kubernetes", "instance-type", "resources"} <= {f.check for f in deployment.findings}


TRAINING_FAILURES: dict[str, tuple[Callable[[AzureMLRestServer], None], dict[str, Any], str, str]]
TRAINING_FAILURES = {
    "missing compute": (lambda s: None, {"compute": "nope"}, "compute", "az ml compute create"),
    "not a cluster": (lambda s: None, {"compute": "aks-inference"}, "compute", "not an Azure ML"),
    "retired size": (
        lambda s: rules.add_cluster(s, "old", vm_size="Standard_NC6s_v3"),
        {"compute": "old"},
        "vm-size",
        "retired on 2025-09-30",
    ),
    "size not in region": (
        lambda s: rules.add_cluster(s, "far", vm_size="Standard_ND96isr_H100_v5"),
        {"compute": "far"},
        "vm-size",
        "does not offer",
    ),
    "size without gpu": (
        lambda s: rules.add_cluster(s, "cpu", vm_size="Standard_DS3_v2"),
        {"compute": "cpu"},
        "vm-size",
        "has no GPU",
    ),
    "no identity": (
        lambda s: rules.add_cluster(s, "anon", identity=False),
        {"compute": "anon"},
        "identity",
        "--identity-type SystemAssigned",
    ),
    "quota short": (
        lambda s: rules.add_region(s, quota={"standardNCASv3_T4Family": (22, 24)}),
        {},
        "quota",
        "needs 4 vCPUs",
    ),
    "no quota": (
        lambda s: rules.add_region(s, quota={}),
        {},
        "quota",
        "no quota for family standardNCASv3_T4Family",
    ),
    "quota for nodes": (lambda s: None, {"nodes": 7}, "quota", "needs 28 vCPUs"),
    # The family has room, but every family shares the region's dedicated vCPUs.
    "regional dedicated quota": (
        lambda s: rules.add_region(s, dedicated_total=(98, 100)),
        {},
        "quota",
        "Total Cluster Dedicated Regional vCPUs",
    ),
    # A low-priority cluster draws on the regional low-priority quota only.
    "low-priority quota": (
        lambda s: (
            rules.add_cluster(s, "spot", low_priority=True),
            rules.add_region(s, low_priority_total=(0, 2)),
        ),
        {"compute": "spot"},
        "quota",
        "low-priority",
    ),
    "missing datastore": (
        lambda s: None,
        {"data": "azureml://datastores/missing/paths/food-101"},
        "data",
        "does not exist",
    ),
    "sas in the url": (
        lambda s: None,
        {"data": "https://foodstore.blob.core.windows.net/food/x?sv=2024&sig=abc"},
        "data",
        "query string",
    ),
    "unpinned image": (
        lambda s: _environment(s, "mcr.microsoft.com/azureml/other:latest", conda_spec()),
        {"environment": "azureml:custom-env:1"},
        "image",
        "not the pinned",
    ),
    "unlocked requirements": (
        lambda s: _environment(
            s, DEFAULT_IMAGE, {"dependencies": ["python=3.11", {"pip": ["tensorflow>=2"]}]}
        ),
        {"environment": "azureml:custom-env:1"},
        "requirements",
        "not the locked ones",
    ),
}


@pytest.mark.parametrize("case", sorted(TRAINING_FAILURES))
def test_each_training_failure_is_one_line_with_its_fix(rest: AzureMLRestServer, case: str) -> None:
    seed, kwargs, check, words = TRAINING_FAILURES[case]
    seed(rest)
    report = _training(rest, **kwargs)
    assert [f.check for f in report.failures] == [check], report.lines()
    message = report.failures[0].message
    assert words in message
    assert "\n" not in message


def test_a_key_based_datastore_is_a_note_not_a_failure(rest: AzureMLRestServer) -> None:
    # Azure ML reads it with the key the workspace stores, so the job would run.
    report = _training(rest, data="azureml://datastores/workspaceblobstore/paths/food-101")
    data = next(f for f in report.findings if f.check == "data")
    assert data.ok, report.lines()
    assert "credentials stored in the workspace (AccountKeyConfiguration)" in data.message


def test_a_low_priority_cluster_needs_no_dedicated_family_quota(rest: AzureMLRestServer) -> None:
    # The example creates its cluster low-priority; a subscription with no dedicated T4
    # quota but room in the regional low-priority quota can run it.
    rules.add_cluster(rest, "spot", low_priority=True)
    rules.add_region(rest, quota={"standardNCASv3_T4Family": (0, 0)}, low_priority_total=(0, 8))
    report = _training(rest, compute="spot")
    assert report.ok, report.lines()
    quota = next(f for f in report.findings if f.check == "quota")
    assert "low-priority" in quota.message


def test_quota_is_the_subscriptions_not_this_workspaces_share(rest: AzureMLRestServer) -> None:
    # Another workspace uses the family's whole quota: this workspace's own entry says 0 used.
    rules.add_region(rest, quota={"standardNCASv3_T4Family": (24, 24)}, workspace_used=0)
    report = _training(rest)
    assert [f.check for f in report.failures] == ["quota"], report.lines()
    assert "0 free (24 of 24 in use)" in report.failures[0].message


def test_quota_read_from_usages_named_as_the_rest_spec_example_names_them(
    rest: AzureMLRestServer,
) -> None:
    # The REST spec's example (Usage/list.json) writes the display name as name.value too.
    rules.add_region(rest, quota={"standardNCASv3_T4Family": (22, 24)})
    for usage in rest.usages:
        usage["name"]["value"] = usage["name"]["localizedValue"]
    report = _training(rest)
    assert [f.check for f in report.failures] == ["quota"], report.lines()
    assert "2 free (22 of 24 in use)" in report.failures[0].message


DEPLOYMENT_FAILURES: dict[str, tuple[Callable[[AzureMLRestServer], None], dict[str, Any], str, str]]
DEPLOYMENT_FAILURES = {
    "not attached": (lambda s: None, {"compute": "aks-missing"}, "compute", "attach-aks"),
    "legacy aks": (
        lambda s: rules.add_kubernetes_compute(s, "aks-v1", compute_type="AKS"),
        {"compute": "aks-v1"},
        "kubernetes",
        "the v1 way",
    ),
    "no such instance type": (
        lambda s: None,
        {"instance_type": "gpularge"},
        "instance-type",
        "has no instance type 'gpularge'",
    ),
    "over the instance type": (
        lambda s: None,
        {"instance_type": "small", "memory_request": "2Gi"},
        "resources",
        "does not fit instance type 'small'",
    ),
    "unpinned inference image": (
        lambda s: _environment(s, "mcr.microsoft.com/azureml/other:latest", {}),
        {"environment": "azureml:custom-env:1"},
        "image",
        "not the pinned",
    ),
}


@pytest.mark.parametrize("case", sorted(DEPLOYMENT_FAILURES))
def test_each_deployment_failure_is_one_line_with_its_fix(
    rest: AzureMLRestServer, case: str
) -> None:
    seed, kwargs, check, words = DEPLOYMENT_FAILURES[case]
    seed(rest)
    report = _deployment(rest, **kwargs)
    failures = [f for f in report.failures if f.check != "requirements"]
    assert [f.check for f in failures] == [check], report.lines()
    assert words in failures[0].message
    assert "\n" not in failures[0].message


@pytest.fixture
def cli_workspace(
    rest: AzureMLRestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureMLRestServer]:
    """The commands' workspace is the loopback one (get_ml_client returns its client)."""
    import food_recognition.azure.workspace as workspace

    monkeypatch.setattr(workspace, "get_ml_client", lambda **kwargs: rest.client())
    yield rest


def test_azure_check_prints_one_line_per_finding_and_exits_2(
    cli_workspace: AzureMLRestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["azure", "check", "--compute", "nope", "--aks-compute", "aks-inference"])
    assert code == 2
    out, err = capsys.readouterr()
    assert err.splitlines()[0].startswith("FAIL compute: no compute 'nope'")
    assert "ok kubernetes: 'aks-inference' is attached as Kubernetes compute" in out
    assert main(["azure", "check", "--compute", "gpu-cluster", "--data", DATA]) == 0


def test_azure_check_needs_something_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["azure", "check"]) == 2
    assert "--compute" in capsys.readouterr().err


def test_submit_runs_the_preflight_before_anything_is_sent(
    cli_workspace: AzureMLRestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["azure", "submit", "--target", "azureml", "--compute", "old", "--data", DATA]
    rules.add_cluster(cli_workspace, "old", vm_size="Standard_NC6s_v3")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "FAIL vm-size: cluster 'old' uses Standard_NC6s_v3, retired on 2025-09-30" in err
    assert "--no-check" in err
    assert cli_workspace.job_puts() == []
    assert not cli_workspace.find("POST", r"codes/.*")


def test_deploy_runs_the_preflight_and_no_check_skips_it(
    cli_workspace: AzureMLRestServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(cli_workspace, "mcr.microsoft.com/azureml/other:latest", {})
    args = ["azure", "deploy", "azureml:food:1", "--endpoint", "food-aks"]
    args += ["--compute", "aks-inference", "--environment", "azureml:custom-env:1"]
    assert main(args) == 2
    assert "FAIL image: environment azureml:custom-env:1 uses image" in capsys.readouterr().err
    assert not cli_workspace.find("PUT", r"onlineEndpoints/.*")

    monkeypatch.chdir(tmp_path)  # deploy stages its code folder under the working directory
    assert main([*args, "--no-check"]) == 0
    assert cli_workspace.find("PUT", r"onlineEndpoints/food-aks/deployments/blue")


def test_deploy_command_registers_a_job_package_then_deploys_it(
    cli_workspace: AzureMLRestServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = "azureml://jobs/sharp_pear_123/outputs/model/paths/package"
    args = ["azure", "deploy", uri, "--endpoint", "food-aks", "--compute", "aks-inference"]
    assert main([*args, "--model-name", "food"]) == 0, capsys.readouterr().err
    registered = cli_workspace.find("PUT", r"models/food/versions/[^/]+")
    assert [r.json()["properties"]["modelUri"] for r in registered] == [uri]
    body = cli_workspace.find("PUT", r"onlineEndpoints/food-aks/deployments/blue")[0].json()
    assert body["properties"]["model"].endswith(registered[0].path.split("/workspaces/ws-food")[1])
