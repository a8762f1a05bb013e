"""Checks of the built HTML that a reader would notice, run after every HTML build.

- **No error box.** A reST error that docutils reports but recovers from (a
  directive in the wrong place, an unknown role, an unbalanced inline markup)
  renders as a red "system-message" box or a "problematic" span in the page;
  it is not always a Sphinx warning. Each one found is a warning here, so
  ``-W`` fails the build.
- **A complete API reference.** Each module of :data:`REQUIRED_MODULES` has its
  page under ``_api/``, and that page links every class and function its
  ``__all__`` exports to the entry that documents it (where the object is
  defined, for a re-exported name).

The functions take the HTML folder and return what is wrong, so
tests/test_api_reference.py checks them without a Sphinx build; only
:func:`setup` needs Sphinx.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

#: The modules the library promises a reference page for (issue 13).
REQUIRED_MODULES = (
    "food_recognition.datasets",
    "food_recognition.models",
    "food_recognition.augment",
    "food_recognition.tta",
    "food_recognition.training",
    "food_recognition.evaluation",
    "food_recognition.serving",
    "food_recognition.compute",
    "food_recognition.plugins",
    "food_recognition.config",
    "food_recognition.azure.jobs",
    "food_recognition.azure.deploy",
    "food_recognition.azure.blob",
)

_ERROR_CLASSES = ("system-message", "problematic")
# Elements without an end tag: they never enclose an error box's text.
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


class _Page(HTMLParser):
    """One pass over a page: its element ids, its link targets and its error boxes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: set[str] = set()
        self.errors: list[str] = []
        self._open: list[tuple[str, int | None]] = []  # tag, index into errors
        self._texts: dict[int, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("href"):
            self.hrefs.add(str(values["href"]))
        classes = (values.get("class") or "").split()
        index = None
        if any(name in classes for name in _ERROR_CLASSES):
            index = len(self.errors)
            self.errors.append("")
            self._texts[index] = []
        if tag not in _VOID:
            self._open.append((tag, index))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, index = self._open.pop()
            if index is not None:
                self.errors[index] = " ".join(" ".join(self._texts.pop(index)).split())
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for index in self._texts:
            self._texts[index].append(data)

    def close(self) -> None:
        super().close()
        for index, texts in self._texts.items():
            self.errors[index] = " ".join(" ".join(texts).split())
        self._texts.clear()


def _parse(path: Path) -> _Page:
    stat = path.stat()
    return _parse_version(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse_version(path: Path, mtime_ns: int, size: int) -> _Page:
    # Both checks read the _api pages: parse each version of a page once.
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def error_boxes(html_dir: Path) -> list[str]:
    """Every error box the built pages render.

    :param html_dir: the HTML builder's output folder.
    :returns: ``"page.html: text of the box"`` for each ``system-message`` or
        ``problematic`` element, in page order; empty when there is none.
    """
    found = []
    for path in sorted(html_dir.rglob("*.html")):
        for text in _parse(path).errors:
            found.append(f"{path.relative_to(html_dir).as_posix()}: {text[:200]}")
    return found


def public_api(module_name: str) -> dict[str, str]:
    """The classes and functions a module exports, and where each is documented.

    A package without ``__all__`` (:mod:`food_recognition.serving`) exports
    nothing itself: its page lists its public submodules, which are its entries.

    :param module_name: a dotted module name, e.g. ``food_recognition.tta``.
    :returns: exported name -> the id of its entry in the reference:
        ``home_module.QualifiedName`` for a class or function (documented
        where it is defined), ``module-package.sub`` for a submodule.
    """
    module = importlib.import_module(module_name)
    api = {}
    if not hasattr(module, "__all__") and hasattr(module, "__path__"):
        for info in pkgutil.iter_modules(module.__path__):
            if not info.name.startswith("_"):
                api[info.name] = f"module-{module_name}.{info.name}"
        return api
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            api[name] = f"{obj.__module__}.{obj.__qualname__}"
    return api


def reference_plan(modules: tuple[str, ...] = REQUIRED_MODULES) -> dict[str, dict[str, str]]:
    """Module -> :func:`public_api`, for ``modules`` and the submodules that stand in
    for a package's own exports (those of a package without ``__all__``)."""
    plan: dict[str, dict[str, str]] = {}
    pending = list(modules)
    while pending:
        name = pending.pop(0)
        plan[name] = public_api(name)
        pending += [
            t.removeprefix("module-") for t in plan[name].values() if t.startswith("module-")
        ]
    return plan


def missing_entries(html_dir: Path, modules: dict[str, dict[str, str]]) -> list[str]:
    """What the API reference lacks of ``modules``' public classes and functions.

    :param html_dir: the HTML builder's output folder (pages under ``_api/``).
    :param modules: module name -> :func:`public_api` of that module.
    :returns: one line per module without a page, and per exported name that
        its module's page does not link to a documented entry; empty when the
        reference is complete.
    """
    pages = {path: _parse(path) for path in sorted((html_dir / "_api").glob("*.html"))}
    documented = set().union(*(page.ids for page in pages.values())) if pages else set()
    problems = []
    for module, api in modules.items():
        page = pages.get(html_dir / "_api" / f"{module}.html")
        if page is None:
            problems.append(f"{module}: no page _api/{module}.html")
            continue
        anchors = {href.partition("#")[2] for href in page.hrefs}
        for name, target in sorted(api.items()):
            if target not in documented:
                problems.append(f"{module}.{name}: no entry documents {target}")
            elif target not in anchors:
                problems.append(f"{module}.{name}: _api/{module}.html does not link to {target}")
    return problems


def _check(app: Sphinx, exception: BaseException | None) -> None:
    from sphinx.util import logging

    if exception is not None or app.builder.format != "html":
        return
    logger = logging.getLogger(__name__)
    html_dir = Path(app.outdir)
    for problem in error_boxes(html_dir):
        logger.warning("error box in %s", problem, type="apicheck", subtype="error_box")
    for problem in missing_entries(html_dir, reference_plan()):
        logger.warning("API reference: %s", problem, type="apicheck", subtype="api")


def setup(app: Sphinx) -> dict[str, Any]:
    """Run the checks when an HTML build finishes."""
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "version": "1"}
