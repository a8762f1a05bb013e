"""examples/train_on_azure.py: its documented dry run, and its sweep on the loopback Azure ML."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from azure.ai.ml import load_compute, load_datastore, load_job

from food_recognition.azure.environment.lock import lock_path, pip_lines
from tests.docs.collect import Block, collect
from tests.docs.runner import Page, commands, first_words
from tests.fixtures.azureml_job_rules import RETIRED_VM_SIZES
from tests.fixtures.azureml_rest import (
    COMPUTE_PRINCIPAL_ID,
    AzureMLRestServer,
    RecordedRequest,
    Reply,
    _get_job,
)

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "train_on_azure.py"
BLOB = "https://foodstore.blob.core.windows.net/food/food-101"
#: A dated tag: ``:<yyyymmdd>.v<n>``, never ``:latest``.
DATED_CUDA12 = re.compile(
    r"^mcr\.microsoft\.com/azureml/openmpi[\d.]+-cuda12\.\d+-[^:]+:\d{8}\.v\d+$"
)


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_on_azure", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented_commands() -> list[tuple[Block, list[str]]]:
    """The docstring's ``python examples/train_on_azure.py ...`` commands (the collector's)."""
    found = []
    for block in collect():
        if block.page == "examples/train_on_azure.py" and block.language == "shell":
            found += [(block, first_words(c.text)) for c in commands(block)]
    return found


@pytest.mark.slow
def test_the_documented_dry_run_writes_what_azure_accepts(docs_pages: dict[str, Page]) -> None:
    dry = [(block, argv) for block, argv in _documented_commands() if "--dry-run" in argv]
    assert len(dry) == 1
    block, argv = dry[0]
    assert argv[:2] == ["python", "examples/train_on_azure.py"]
    page = docs_pages[block.page]
    result = page.result(block)  # run as written by the docs collector, in the page's folder
    assert not result.failures, result.failures
    out = Path(argv[argv.index("--dry-run") + 1])
    tmp_path = page.folder

    job_yml = tmp_path / out / "job.yml"
    loaded = load_job(job_yml)
    assert loaded.type == "sweep"
    assert loaded.limits.max_total_trials == 15
    # The data is mounted through the container's identity-based datastore, read by
    # the cluster's managed identity: no https Blob mount, no key, no SAS.
    store = load_datastore(tmp_path / out / "datastore.yml")
    assert loaded.inputs["data"].path == f"azureml://datastores/{store.name}/paths/food-101"
    assert (store.account_name, store.container_name) == ("foodstore", "food")
    assert type(store.credentials).__name__ == "NoneCredentialConfiguration"
    assert loaded.identity.type == "managed_identity"
    # A CUDA 12 image at a dated tag, and the GPU lock with its hashes.
    environment = yaml.safe_load(job_yml.read_text())["trial"]["environment"]
    assert DATED_CUDA12.match(environment["image"]), environment["image"]
    pip = next(d["pip"] for d in environment["conda_file"]["dependencies"] if isinstance(d, dict))
    assert pip == pip_lines(lock_path("gpu"))
    # The cluster the sweep names: a current GPU size, with a managed identity.
    cluster = load_compute(tmp_path / out / "cluster.yml")
    assert cluster.name == loaded.compute
    assert cluster.size.lower() not in RETIRED_VM_SIZES
    assert cluster.size == "Standard_NC4as_T4_v3"
    assert cluster.identity.type == "system_assigned"


def test_every_file_the_docstring_names_exists() -> None:
    for _block, argv in _documented_commands():
        for flag in ("--image", "--sweep"):
            if flag in argv:
                assert (ROOT / argv[argv.index(flag) + 1]).is_file(), argv


def test_a_retired_vm_size_stops_the_example_before_anything_is_sent(
    azureml_rest: AzureMLRestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _example().main(
            ["--data-uri", BLOB, "--vm-size", "Standard_NC6s_v3"], ml_client=azureml_rest.client()
        )
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "NCv3 series, retired on 2025-09-30" in err
    assert azureml_rest.requests == []


def test_sweep_steps_against_the_loopback_workspace(
    azureml_rest: AzureMLRestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def finished_sweep(server: AzureMLRestServer, request: RecordedRequest, match: Any) -> Reply:
        reply = _get_job(server, request, match)
        if reply.status == 200:
            reply.body["properties"]["properties"]["best_child_run_id"] = "sweep_trial_7"
        return reply

    azureml_rest.add_route("GET", r"jobs/(?P<name>[^/]+)", finished_sweep)
    code = _example().main(
        ["--data-uri", BLOB, "--cluster", "gpu-t4", "--vm-size", "Standard_NC8as_T4_v3"],
        ml_client=azureml_rest.client(),
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "best trial: sweep_trial_7" in out
    # The new cluster's identity is named with the role it needs, before the sweep waits.
    assert (
        f"az role assignment create --assignee-object-id {COMPUTE_PRINCIPAL_ID} "
        '--assignee-principal-type ServicePrincipal --role "Storage Blob Data Reader" '
        "--scope $(az storage account show --name foodstore --query id -o tsv)"
    ) in out
    assert out.index("az role assignment create") < out.index("best trial")
    assert "azureml://jobs/sweep_trial_7/outputs/model/paths/package" in out
    # The cluster was created before the sweep was submitted, and the sweep runs on it.
    order = [r.path for r in azureml_rest.requests if r.method == "PUT"]
    cluster = next(i for i, p in enumerate(order) if re.search(r"/computes/gpu-t4$", p))
    sweep = next(i for i, p in enumerate(order) if "/jobs/" in p)
    assert cluster < sweep
    compute = azureml_rest.find("PUT", r"computes/gpu-t4")[0].json()
    assert compute["properties"]["properties"]["vmSize"] == "Standard_NC8as_T4_v3"
    assert compute["identity"] == {"type": "SystemAssigned"}
    body = azureml_rest.job_puts()[0].json()["properties"]
    assert body["jobType"] == "Sweep"
    assert body["computeId"].endswith("/computes/gpu-t4")
    assert (
        body["inputs"]["data"]["uri"] == "azureml://datastores/blob_foodstore_food/paths/food-101"
    )
    assert body["identity"] == {"identityType": "Managed"}
