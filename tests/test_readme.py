"""The README's Python block: short, the same in the quickstart, and what its run printed.

The docs collector (tests/docs) runs the block as written, in a scratch folder
without a network; these tests read that run's output and folder.
"""

from __future__ import annotations

import re

import pytest

from tests.docs.collect import Block, collect
from tests.docs.runner import Page

pytestmark = pytest.mark.slow


def readme_python_block() -> Block:
    """The README's one Python block (the collector's view of it)."""
    (block,) = [b for b in collect() if b.page == "README.md" and b.language == "python"]
    return block


def test_the_block_is_at_most_eight_lines() -> None:
    lines = [line for line in readme_python_block().text.splitlines() if line.strip()]
    assert len(lines) <= 8


def test_the_quickstart_shows_the_same_block() -> None:
    quickstart = [b for b in collect() if b.page == "docs/quickstart.rst"]
    assert readme_python_block().text in [b.text for b in quickstart]


def test_the_readme_block_trains_evaluates_with_tta_loads_and_predicts(
    docs_pages: dict[str, Page],
) -> None:
    block = readme_python_block()
    page = docs_pages[block.page]
    result = page.result(block)
    assert not result.failures, result.failures
    out = result.stdout
    assert "top-1 accuracy" in out and "TTA five_crop" in out
    assert (page.folder / "runs" / "train" / "package" / "model.keras").is_file()
    last = out.strip().splitlines()[-1]
    # The prediction prints as "Digit 3 97.1%, Digit 8 1.2%, Digit 5 0.6%": three classes.
    assert re.fullmatch(r"(Digit \d [\d.]+%, ){2}Digit \d [\d.]+%", last), last
    # No network: Keras would fetch ImageNet weights into KERAS_HOME; the block must not.
    assert not (page.folder / ".keras" / "models").exists()
