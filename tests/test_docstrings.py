"""Every ``>>>`` example in the library's docstrings runs, in its own module.

The API reference renders them as code (docs/conf.py, ``_examples_as_code``):
Sphinx's doctest builder would run them without their module's names.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import food_recognition


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(food_recognition.__path__, "food_recognition.")
        if not info.name.rsplit(".", 1)[-1].startswith("__")
    )


@pytest.mark.parametrize("name", ["food_recognition", *_modules()])
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
