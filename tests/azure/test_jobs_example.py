"""examples/train_on_azure.py runs: its dry run, and its sweep against the loopback Azure ML."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from azure.ai.ml import load_job

from tests.fixtures.azureml_rest import AzureMLRestServer, RecordedRequest, Reply, _get_job

EXAMPLE = Path(__file__).parents[2] / "examples" / "train_on_azure.py"
BLOB = "https://foodstore.blob.core.windows.net/food/food-101"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_on_azure", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_a_sweep_load_job_accepts(tmp_path: Path) -> None:
    assert _example().main(["--dry-run", str(tmp_path / "sweep"), "--data-uri", BLOB]) == 0
    loaded = load_job(tmp_path / "sweep" / "job.yml")
    assert loaded.type == "sweep"
    assert loaded.limits.max_total_trials == 15
    assert loaded.inputs["data"].path == BLOB


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
        ["--data-uri", BLOB, "--cluster", "gpu-t4"], ml_client=azureml_rest.client()
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "best trial: sweep_trial_7" in out
    assert "azureml://jobs/sweep_trial_7/outputs/model/paths/package" in out
    # The cluster was created before the sweep was submitted, and the sweep runs on it.
    order = [r.path for r in azureml_rest.requests if r.method == "PUT"]
    cluster = next(i for i, p in enumerate(order) if re.search(r"/computes/gpu-t4$", p))
    sweep = next(i for i, p in enumerate(order) if "/jobs/" in p)
    assert cluster < sweep
    body = azureml_rest.job_puts()[0].json()["properties"]
    assert body["jobType"] == "Sweep"
    assert body["computeId"].endswith("/computes/gpu-t4")
