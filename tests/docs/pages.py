"""The docs collector's pytest fixture: one :class:`~tests.docs.runner.Page` per page.

Registered in ``tests/conftest.py`` so other tests (the Azure pages' dry-run
checks, the README's) read the results of the same runs instead of running
the commands again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from food_recognition import __version__
from tests.docs import collect, substitutions
from tests.docs.runner import Page, free_port

#: The runnable blocks (doctests are Sphinx's) by page, in document order.
PAGES = collect.by_page([b for b in collect.collect() if b.language != "doctest"])


class Resources:
    """The substitution values, each made once per session and only when a page needs it."""

    def __init__(self, base: pytest.TempPathFactory) -> None:
        self._base = base
        self._made: dict[str, str] = {}

    def values(self, needed: set[str]) -> substitutions.Values:
        made = dict.fromkeys(("sample", "package", "jpeg", "config"), "<unused>")
        for name in sorted(needed & set(made)):
            made[name] = getattr(self, f"_{name}")()
        return substitutions.Values(**made, version=__version__, port=free_port())

    def _once(self, name: str, make: object) -> str:
        if name not in self._made:
            self._made[name] = str(make() if callable(make) else make)
        return self._made[name]

    def _sample(self) -> str:
        from food_recognition.datasets.sample import write_digits_sample

        def make() -> object:
            folder = self._base.mktemp("docs-sample") / "food-101"
            return write_digits_sample(folder, per_class=10)

        return self._once("sample", make)

    def _jpeg(self) -> str:
        return self._once("jpeg", collect.ROOT / "tests" / "fixtures" / "pizza.jpg")

    def _config(self) -> str:
        from food_recognition.config import RunConfig, save_yaml, with_overrides

        def make() -> object:
            config = with_overrides(
                RunConfig(),
                {
                    "data.path": self._sample(),
                    "model.backbone": "mobilenet_v3_small",
                    "model.input_size": "32",
                    "training.epochs": "1",
                },
            )
            return save_yaml(config, self._base.mktemp("docs-config") / "run.yaml")

        return self._once("config", make)

    def _package(self) -> str:
        def make() -> object:
            import food_recognition as fr

            out = self._base.mktemp("docs-package") / "runs" / "tiny"
            fr.train(data=self._sample(), backbone="mobilenet_v3_small", input_size=32,
                     epochs=1, out=out)  # fmt: skip
            return out / "package"

        return self._once("package", make)


@pytest.fixture(scope="session")
def docs_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Page]]:
    resources = Resources(tmp_path_factory)
    pages = {
        name: Page(blocks, tmp_path_factory.mktemp("page"), resources.values)
        for name, blocks in PAGES.items()
    }
    yield pages
    for page in pages.values():
        page.stop()
