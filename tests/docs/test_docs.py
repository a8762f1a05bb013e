"""The docs are tests: every shell command and Python block of the docs runs as written.

One test per block (id ``page:line``), collected from README.md, docs/*.rst and
the examples (:mod:`tests.docs.collect`); a page's blocks run in order in one
working folder (:mod:`tests.docs.runner`), with only the replacements of
:mod:`tests.docs.substitutions`. A new block is a new test. The terminal summary
lists every block and what was done with it.
"""

from __future__ import annotations

import pytest

from tests.docs import collect
from tests.docs.runner import Page

BLOCKS = collect.collect()
RUN = [block for block in BLOCKS if block.language != "doctest"]

pytestmark = pytest.mark.slow


def test_the_docs_have_blocks_of_every_kind() -> None:
    assert {b.language for b in BLOCKS} == {"shell", "python", "doctest"}
    assert {b.marker for b in RUN} >= {None, "azure", "network", "skip"}


@pytest.mark.parametrize("block", RUN, ids=[block.id for block in RUN])
def test_documented_block(block: collect.Block, docs_pages: dict[str, Page]) -> None:
    result = docs_pages[block.page].result(block)
    assert not result.failures, "\n".join(result.failures)
