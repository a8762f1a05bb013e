"""Submission at the HTTP level: a real MLClient against the recording loopback Azure ML server.

Each test reads the bodies the server recorded: what Azure ML would have received.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from food_recognition.azure.environment.lock import lock_path, pinned_versions
from food_recognition.azure.jobs import (
    AzureMLTarget,
    RetiredVMSizeError,
    SweepError,
    SweepSpec,
    TrainingJob,
    create_cluster,
    load_sweep,
)
from food_recognition.compute import JobFailedError, JobSpecError, get_target
from food_recognition.config import RunConfig, with_overrides
from tests.fixtures.azureml_rest import CONTAINER, AzureMLRestServer, RecordedRequest, Reply

BLOB = "https://foodstore.blob.core.windows.net/food/food-101"
DATASTORE_PATH = "azureml://datastores/blob_foodstore_food/paths/food-101"
REFERENCE_SWEEP = Path(__file__).parents[2] / "examples" / "sweep_reference.yaml"


def _target(server: AzureMLRestServer) -> AzureMLTarget:
    target = get_target("azureml", ml_client=server.client())
    assert isinstance(target, AzureMLTarget)
    return target


def _job(**kwargs: Any) -> TrainingJob:
    config = with_overrides(RunConfig(), {"model.backbone": "efficientnetv2_b0"})
    options: dict[str, Any] = {"data": BLOB, "target": "azureml", "compute": "gpu-cluster"}
    options.update(kwargs)
    return TrainingJob(config, **options)


def _submitted(server: AzureMLRestServer) -> dict[str, Any]:
    puts = server.job_puts()
    assert len(puts) == 1
    body: dict[str, Any] = puts[0].json()["properties"]
    return body


def test_command_job_body(azureml_rest: AzureMLRestServer) -> None:
    target = _target(azureml_rest)
    job = _job(
        nodes=2,
        tags={"stage": "test"},
        environment_variables={"TF_CPP_MIN_LOG_LEVEL": "2"},
        display_name="tiny-effnet",
    )
    handle = target.submit(job)

    body = _submitted(azureml_rest)
    assert body["jobType"] == "Command"
    assert body["computeId"].endswith("/workspaces/ws-food/computes/gpu-cluster")
    assert body["command"] == job.command(data_path="${{inputs.data}}", output="${{outputs.model}}")
    assert body["inputs"]["data"] == {
        "uri": DATASTORE_PATH,
        "mode": "ReadOnlyMount",
        "jobInputType": "uri_folder",
    }
    assert body["identity"] == {"identityType": "Managed"}
    assert body["outputs"]["model"]["jobOutputType"] == "uri_folder"
    assert body["resources"]["instanceCount"] == 2
    assert body["distribution"] == {
        "distributionType": "TensorFlow",
        "workerCount": 2,
        "parameterServerCount": 0,
    }
    assert body["environmentVariables"] == {"TF_CPP_MIN_LOG_LEVEL": "2"}
    assert body["experimentName"] == "food-recognition"
    assert body["displayName"] == "tiny-effnet"
    assert body["tags"] == {"stage": "test"}
    assert handle.job_id == azureml_rest.job_puts()[0].path.rsplit("/", 1)[1]
    assert handle.details["kind"] == "command"
    # Every call carried the credential's bearer token.
    assert all(
        r.headers.get("authorization") == "Bearer loopback-test-token"
        for r in azureml_rest.requests
        if not r.path.startswith("/blob/")
    )


def test_code_snapshot_and_environment_are_uploaded(azureml_rest: AzureMLRestServer) -> None:
    _target(azureml_rest).submit(_job())

    body = _submitted(azureml_rest)
    code_put = azureml_rest.find("PUT", r"codes/[^/]+/versions/[^/]+")
    assert len(code_put) == 1
    assert body["codeId"].lower() == code_put[0].path.lower()
    uploaded = {k.split("/", 1)[1]: v for k, v in azureml_rest.blobs.items()}
    run_yaml = next(v for k, v in uploaded.items() if k.endswith("/run.yaml"))
    assert b"backbone: efficientnetv2_b0" in run_yaml
    assert any(k.endswith("food_recognition/compute/job.py") for k in uploaded)
    assert all(k.startswith(f"{CONTAINER}/") for k in azureml_rest.blobs)

    env_put = azureml_rest.find("PUT", r"environments/[^/]+/versions/[^/]+")
    assert len(env_put) == 1
    environment = env_put[0].json()["properties"]
    assert environment["image"].startswith("mcr.microsoft.com/azureml/")
    # The GPU lock, every line with its hashes: what the tests resolved is what the cloud installs.
    conda = environment["condaFile"]
    assert f"tensorflow=={pinned_versions(lock_path('gpu'))['tensorflow']} --hash=sha256:" in conda
    assert "nvidia-cudnn-cu12==" in conda
    assert "- food-recognition" not in conda  # the snapshot brings it
    assert body["environmentId"].lower() == env_put[0].path.lower()


def test_single_node_job_has_no_distribution(azureml_rest: AzureMLRestServer) -> None:
    _target(azureml_rest).submit(_job(environment="azureml:my-tf-env:3"))
    body = _submitted(azureml_rest)
    assert body["resources"]["instanceCount"] == 1
    assert body.get("distribution") is None
    # A named environment is referenced, not built.
    assert body["environmentId"].endswith("/environments/my-tf-env/versions/3")
    assert not azureml_rest.find("PUT", r"environments/.*")


def test_sweep_job_body(azureml_rest: AzureMLRestServer) -> None:
    target = _target(azureml_rest)
    handle = target.submit_sweep(_job(nodes=2), load_sweep(REFERENCE_SWEEP))

    body = _submitted(azureml_rest)
    assert body["jobType"] == "Sweep"
    assert body["objective"] == {"primaryMetric": "val_accuracy", "goal": "maximize"}
    assert body["samplingAlgorithm"]["samplingAlgorithmType"] == "Random"
    assert body["earlyTermination"]["policyType"] == "Bandit"
    assert body["earlyTermination"]["evaluationInterval"] == 2
    assert body["earlyTermination"]["slackFactor"] == pytest.approx(0.1)
    assert body["limits"]["maxTotalTrials"] == 15
    assert body["limits"]["maxConcurrentTrials"] == 4
    assert body["limits"]["timeout"] == "P2D"  # 2880 minutes
    assert body["searchSpace"]["model__pooling"] == ["choice", [["avg", "max"]]]
    assert set(body["searchSpace"]) == {
        "model__input_size",
        "model__frozen_layers",
        "model__pooling",
        "model__dense_blocks",
    }
    trial = body["trial"]
    assert "--model.input_size ${{search_space.model__input_size}}" in trial["command"]
    assert trial["distribution"]["distributionType"] == "TensorFlow"
    assert trial["resources"]["instanceCount"] == 2
    assert body["computeId"].endswith("/computes/gpu-cluster")
    assert body["inputs"]["data"]["uri"] == DATASTORE_PATH
    assert body["identity"] == {"identityType": "Managed"}
    assert handle.details["kind"] == "sweep"


def test_a_blob_url_is_read_through_an_identity_based_datastore(
    azureml_rest: AzureMLRestServer,
) -> None:
    _target(azureml_rest).submit(_job())
    puts = azureml_rest.find("PUT", r"datastores/[^/]+")
    assert [p.path.rsplit("/", 1)[1] for p in puts] == ["blob_foodstore_food"]
    store = puts[0].json()["properties"]
    assert (store["accountName"], store["containerName"]) == ("foodstore", "food")
    assert store["credentials"] == {"credentialsType": "None"}  # the job's identity reads it
    # The datastore exists before the job that mounts it.
    order = [r.path for r in azureml_rest.requests if r.method == "PUT"]
    assert order.index(puts[0].path) < order.index(azureml_rest.job_puts()[0].path)


def test_a_datastore_already_pointing_at_the_container_is_reused(
    azureml_rest: AzureMLRestServer,
) -> None:
    path = f"{azureml_rest.workspace_path}/datastores/food_images"
    azureml_rest.resources[path.lower()] = {
        "id": path,
        "name": "food_images",
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": "foodstore",
            "containerName": "food",
            "endpoint": "core.windows.net",
            "protocol": "https",
            "credentials": {"credentialsType": "None"},
        },
    }
    _target(azureml_rest).submit(_job())
    assert not azureml_rest.find("PUT", r"datastores/.*")
    uri = _submitted(azureml_rest)["inputs"]["data"]["uri"]
    assert uri == "azureml://datastores/food_images/paths/food-101"


def test_storage_urls_are_mounted_as_given_with_the_job_identity(
    azureml_rest: AzureMLRestServer,
) -> None:
    data = "abfss://food@foodlake.dfs.core.windows.net/food-101"
    client_id = "0d9c3c4e-5b6a-4f1e-9a2b-7c8d9e0f1a2b"  # a user-assigned identity's
    _target(azureml_rest).submit(_job(data=data, identity=client_id))
    body = _submitted(azureml_rest)
    assert body["inputs"]["data"]["uri"] == data
    assert body["identity"] == {"identityType": "Managed", "clientId": client_id}
    assert not azureml_rest.find("PUT", r"datastores/.*")


def test_the_submitter_can_read_the_data_with_their_own_identity(
    azureml_rest: AzureMLRestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import json

    from azure.core.credentials import AccessToken

    from tests.fixtures import azureml_rest as fixture

    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    # With a user identity the SDK sends the submitter's Azure ML token along, and
    # checks that its audience is Azure ML's (azure/ai/ml/operations/_job_operations.py:1892;
    # the audience is the cloud's aml_resource_id without its slash, _azure_environments.py:163).
    token = f"{part({'alg': 'none'})}.{part({'aud': azureml_rest.url})}."

    class UserCredential(fixture.StaticTokenCredential):
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            return AccessToken(token, 4102444800)

    monkeypatch.setattr(fixture, "StaticTokenCredential", UserCredential)
    _target(azureml_rest).submit(_job(identity="user"))
    body = _submitted(azureml_rest)
    assert body["identity"] == {"identityType": "UserIdentity"}
    assert body["inputs"]["data"]["uri"] == DATASTORE_PATH


def test_a_sas_url_is_refused_before_any_request(azureml_rest: AzureMLRestServer) -> None:
    target = _target(azureml_rest)
    with pytest.raises(JobSpecError, match="query string"):
        target.submit(_job(data=BLOB + "?sv=2024-01-01&sp=rl&sig=c2VjcmV0"))
    assert azureml_rest.requests == []


def test_a_bad_sweep_is_refused_before_any_request(azureml_rest: AzureMLRestServer) -> None:
    target = _target(azureml_rest)
    sweep = SweepSpec.from_dict(
        {"search_space": {"model.pooling": {"type": "choice", "values": ["avg", "median"]}}}
    )
    with pytest.raises(SweepError, match="median"):
        target.submit_sweep(_job(), sweep)
    assert azureml_rest.requests == []


def test_status_follows_the_service(azureml_rest: AzureMLRestServer) -> None:
    target = _target(azureml_rest)
    handle = target.submit(_job())
    azureml_rest.job_status[handle.job_id] = "Running"
    assert target.status(handle).state == "running"
    azureml_rest.job_status[handle.job_id] = "Failed"
    status = target.status(handle)
    assert status.state == "failed" and status.service_state == "Failed"
    assert target.wait(handle, timeout=5).state == "failed"
    lines = list(target.stream_logs(handle))
    assert lines[-1] == f"{handle.job_id}: Failed\n"
    with pytest.raises(JobFailedError, match="no model package"):
        target.download_outputs(handle, "unused")


def test_create_cluster_is_an_explicit_call(azureml_rest: AzureMLRestServer) -> None:
    ml_client = azureml_rest.client()
    _target(azureml_rest).submit(_job())
    assert not azureml_rest.find("PUT", r"computes/.*")

    create_cluster(ml_client, "gpu-cluster", max_nodes=3, low_priority=True, idle_seconds=600)
    puts = azureml_rest.find("PUT", r"computes/gpu-cluster")
    assert len(puts) == 1
    assert puts[0].json()["identity"] == {"type": "SystemAssigned"}
    properties = puts[0].json()["properties"]["properties"]
    assert properties["vmSize"] == "Standard_NC4as_T4_v3"  # a current T4 size
    assert properties["vmPriority"] == "LowPriority"
    assert properties["scaleSettings"]["minNodeCount"] == 0
    assert properties["scaleSettings"]["maxNodeCount"] == 3
    assert properties["scaleSettings"]["nodeIdleTimeBeforeScaleDown"] == "PT10M"
    with pytest.raises(ValueError, match="min_nodes"):
        create_cluster(ml_client, "x", min_nodes=2, max_nodes=1)


@pytest.mark.parametrize("size", ["Standard_NC6s_v3", "standard_nc24rs_v3", "Standard_ND40rs_v2"])
def test_a_retired_vm_size_is_refused_before_any_request(
    azureml_rest: AzureMLRestServer, size: str
) -> None:
    with pytest.raises(RetiredVMSizeError, match=r"retired on 2025-09-30.*Standard_NC4as_T4_v3"):
        create_cluster(azureml_rest.client(), "gpu-cluster", vm_size=size)
    assert not azureml_rest.find("PUT", r"computes/.*")


def test_a_cluster_can_carry_a_user_assigned_identity(azureml_rest: AzureMLRestServer) -> None:
    uami = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-food/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/food-reader"
    )
    create_cluster(azureml_rest.client(), "gpu-a100", vm_size="Standard_NC24ads_A100_v4",
                   identity=uami)  # fmt: skip
    body = azureml_rest.find("PUT", r"computes/gpu-a100")[0].json()
    assert body["identity"]["type"] == "UserAssigned"
    assert list(body["identity"]["userAssignedIdentities"]) == [uami]


def test_a_route_added_by_a_test_answers_first(azureml_rest: AzureMLRestServer) -> None:
    from tests.fixtures.azureml_rest import Reply

    def refuse(server: AzureMLRestServer, request: Any, match: Any) -> Reply:
        return Reply(403, {"error": {"code": "AuthorizationFailed", "message": "no role"}})

    azureml_rest.add_route("PUT", r"jobs/[^/]+", refuse)
    with pytest.raises(Exception, match="no role"):
        _target(azureml_rest).submit(_job())


def test_stream_logs_yields_the_driver_log_then_the_final_state(
    azureml_rest: AzureMLRestServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from azure.ai.ml.operations._run_history_constants import RunHistoryConstants

    # The SDK waits at least 2 s between run-history reads; the test needs no wait.
    monkeypatch.setattr(RunHistoryConstants, "_WAIT_COMPLETION_POLLING_INTERVAL_MIN", 0)
    target = _target(azureml_rest)
    handle = target.submit(_job())
    log = "Epoch 1/2\nloss: 1.20 - accuracy: 0.41\nEpoch 2/2\nloss: 0.80 - accuracy: 0.66\n"
    reads: list[str] = []

    def details(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        reads.append(match["run"])
        status = "Running" if len(reads) == 1 else "Completed"
        url = f"{server.url}/logs/{match['run']}/std_log.txt"
        body = {"runId": match["run"], "status": status, "logFiles": {"user_logs/std_log.txt": url}}
        return Reply(200, body)

    def log_file(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        return Reply(200, log.encode())

    azureml_rest.add_route("GET", r"/history/v1\.0/.*/runs/(?P<run>[^/]+)/details", details)
    azureml_rest.add_route("GET", r"/logs/[^/]+/std_log\.txt", log_file)

    lines = list(target.stream_logs(handle))

    text = "".join(lines)
    assert all(line.endswith("\n") for line in lines)
    assert "Streaming user_logs/std_log.txt" in text
    assert text.index("Epoch 1/2") < text.index("accuracy: 0.66") < text.index("Execution Summary")
    assert lines[-1] == f"{handle.job_id}: Completed\n"
    assert reads[0] == handle.job_id and len(reads) >= 2
    # Only the streaming thread's prints were taken; the test's own still reach stdout.
    print("still printed")
    assert capsys.readouterr().out == "still printed\n"
