"""The offline commands of the training-job docs run as written (the ``--dry-run`` ones)."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
from azure.ai.ml import load_compute, load_datastore, load_job

from food_recognition.cli import main
from tests.fixtures.azureml_job_rules import RETIRED_VM_SIZES

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "docs" / "azure_jobs.rst", ROOT / "docs" / "tutorial_azure.rst"]


def _commands(page: Path) -> list[list[str]]:
    """Every ``--dry-run`` command line of a page, continuation lines joined, prompt removed."""
    text = page.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip().removeprefix("$ ")
        if line.startswith(("food-recognition ", "python examples/")) and "--dry-run" in line:
            found.append(shlex.split(line))
    return found


DOCUMENTED = [argv for page in PAGES for argv in _commands(page)]


def test_the_pages_have_dry_run_commands() -> None:
    assert {argv[1] if argv[0] == "python" else argv[2] for argv in DOCUMENTED} == {
        "cluster",
        "submit",
        "examples/train_on_azure.py",
    }


@pytest.mark.parametrize("argv", DOCUMENTED, ids=lambda argv: " ".join(argv[:3]))
def test_a_documented_dry_run_works_as_written(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / argv[argv.index("--dry-run") + 1]
    if argv[0] == "python":
        spec = importlib.util.spec_from_file_location("train_on_azure", ROOT / argv[1])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.main(argv[2:]) == 0
    else:
        assert main(argv[1:]) == 0
    if argv[:3] == ["food-recognition", "azure", "cluster"]:
        cluster = load_compute(out)
        assert cluster.size.lower() not in RETIRED_VM_SIZES
        assert cluster.identity.type == "system_assigned"
        return
    job = load_job(out / "job.yml")
    store = load_datastore(out / "datastore.yml")
    assert job.inputs["data"].path.startswith(f"azureml://datastores/{store.name}/paths/")
    assert job.identity.type == "managed_identity"
