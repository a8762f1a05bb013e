"""What the training-job docs' ``--dry-run`` commands wrote is what Azure ML accepts.

The docs collector (tests/docs) runs the commands as written, in each page's
working folder; this reads the YAML they left there with the SDK's loaders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.ml import load_compute, load_datastore, load_job

from tests.docs.collect import Block, collect
from tests.docs.runner import Page, commands, first_words
from tests.fixtures.azureml_job_rules import RETIRED_VM_SIZES

pytestmark = pytest.mark.slow

PAGES = ("docs/azure_jobs.rst", "docs/tutorial_azure.rst", "examples/train_on_azure.py")


def _dry_runs() -> list[tuple[Block, list[str]]]:
    found = []
    for block in collect():
        if block.page in PAGES and block.language == "shell" and block.marker is None:
            for command in commands(block):
                words = first_words(command.text)
                if "--dry-run" in words:
                    found.append((block, words))
    return found


DRY_RUNS = _dry_runs()


def test_the_pages_have_dry_run_commands() -> None:
    kinds = {words[1] if words[0] == "python" else words[2] for _block, words in DRY_RUNS}
    assert kinds == {"cluster", "submit", "examples/train_on_azure.py"}


@pytest.mark.parametrize(
    ("block", "words"), DRY_RUNS, ids=[f"{b.id} {' '.join(w[:3])}" for b, w in DRY_RUNS]
)
def test_a_documented_dry_run_writes_what_azure_accepts(
    block: Block, words: list[str], docs_pages: dict[str, Page]
) -> None:
    page = docs_pages[block.page]
    result = page.result(block)
    assert not result.failures, result.failures
    out: Path = page.folder / words[words.index("--dry-run") + 1]
    if words[:3] == ["food-recognition", "azure", "cluster"]:
        cluster = load_compute(out)
        assert cluster.size.lower() not in RETIRED_VM_SIZES
        assert cluster.identity.type == "system_assigned"
        return
    job = load_job(out / "job.yml")
    store = load_datastore(out / "datastore.yml")
    assert job.inputs["data"].path.startswith(f"azureml://datastores/{store.name}/paths/")
    assert job.identity.type == "managed_identity"
