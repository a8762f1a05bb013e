"""Sphinx configuration for the food_recognition docs (``nox -s docs``)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import food_recognition  # noqa: E402

project = "food_recognition"
author = "food_recognition developers"
copyright = "2026, food_recognition developers"
release = food_recognition.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx.ext.autosectionlabel",
    "configref",
    "attrsfields",
    "apicheck",
]
autosectionlabel_prefix_document = True

html_theme = "furo"
html_title = f"food_recognition {release}"
html_static_path = ["_static"]
templates_path = ["_templates"]
autosummary_generate = True
autosummary_ignore_module_all = False
exclude_patterns = ["_build"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
# A class's bases are shown ("Bases: FoodRecognitionError, ValueError"): the
# error tree and the abstract policies read from them. (Sphinx shows them for
# any value of this option, False included, so it says True.)
autodoc_default_options = {"show-inheritance": True}
autodoc_mock_imports: list[str] = []
# Every reference must resolve (the docs session also passes -n): a misspelt or
# undocumented name of ours fails the build.
nitpicky = True
# No network at build time, so no intersphinx: the standard library's and the
# dependencies' names in signatures stay text. Everything of ours must resolve.
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(abc|pathlib|os|collections|typing|argparse|datetime|enum|io|logging|threading|"
        r"concurrent|subprocess|http|urllib|contextlib|socket|ssl|types|queue|json|"
        r"numpy|np|npt|keras|tf|tensorflow|attrs|pluggy|azure|mlflow|PIL|Image|yaml|"
        r"matplotlib|requests|httpx)(\..*)?",
    ),
    (r"py:.*", r"(Path|PathLike|Mapping|Callable|Iterable|Iterator|Sequence|Any|Namespace)"),
    (r"py:.*", r"(ArgumentParser|BlobServiceClient|ContainerClient|MLClient|TokenCredential)"),
    # Private names (type variables, mixins) are not documented by design.
    (r"py:.*", r"(.*\.)?_[A-Za-z]\w*(\..*)?"),
]
suppress_warnings = ["autodoc.import_object"] if os.environ.get("DOCS_LENIENT") else []
# autosectionlabel lowercases labels: a module's constant and function that differ
# only in case (RETIRED_SERIES, retired_series) get one label for two API pages.
# Nothing links to those labels (API pages are linked by object, not by section).
# Two classes named Prediction (package's and the scoring client's): a bare
# forward reference in a type hint is ambiguous; the rendered text is right.
suppress_warnings.append("ref.python")
suppress_warnings += [
    "autosectionlabel._api/food_recognition.azure.jobs.vm_sizes.retired_series",
    "autosectionlabel._api/food_recognition.azure.jobs.vm_sizes.RETIRED_SERIES",
]

doctest_global_setup = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
"""


def _canonical_names() -> dict[str, str]:
    """``package.Name`` -> ``package.module.Name`` for every class, function and
    constant a module re-exports from another, so the API pages describe each
    object once, where it is defined, and the re-exporting module's table links there."""
    import inspect

    found: dict[str, str] = {}
    for name, module in _public_modules().items():
        for item in getattr(module, "__all__", ()):
            obj = getattr(module, item, None)
            home = getattr(obj, "__module__", None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and home and home != name:
                found[f"{name}.{item}"] = f"{home}.{obj.__qualname__}"
    found.update(_reexported_constants())
    return found


@functools.cache
def _public_modules() -> dict[str, Any]:
    """Every importable public module of the package, by name."""
    import importlib
    import pkgutil

    found: dict[str, Any] = {"food_recognition": food_recognition}
    for info in pkgutil.walk_packages(food_recognition.__path__, "food_recognition."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            found[info.name] = importlib.import_module(info.name)
        except Exception:  # a module that needs an extra stays unlisted
            continue
    return found


def _reexported_constants() -> dict[str, str]:
    """``package.NAME`` -> ``package.sub.NAME`` for a constant a package re-exports.

    A constant has no ``__module__``; the module that defines it is the deepest
    submodule whose ``__all__`` names the same object under the same name.
    """
    import inspect

    modules = _public_modules()
    found: dict[str, str] = {}
    for name, module in modules.items():
        for item in getattr(module, "__all__", ()):
            obj = getattr(module, item, None)
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
                continue
            homes = [
                other
                for other, sub in modules.items()
                if other.startswith(name + ".")
                and item in getattr(sub, "__all__", ())
                and getattr(sub, item, None) is obj
            ]
            if homes:
                found[f"{name}.{item}"] = f"{max(homes, key=len)}.{item}"
    return found


def _documented_unexported() -> dict[str, list[str]]:
    """Module -> the names it documents (``#:`` or a docstring) but leaves out of ``__all__``.

    Type aliases in public signatures (``Progress``, ``OptionValue``) and
    thresholds a docstring names are documented where they are defined, so
    the API pages list them too and the references to them resolve.
    """
    from sphinx.pycode import ModuleAnalyzer

    found: dict[str, list[str]] = {}
    for name, module in _public_modules().items():
        exported = getattr(module, "__all__", None)
        if exported is None:  # autosummary lists every documented name already
            continue
        analyzer = ModuleAnalyzer.for_module(name)
        analyzer.analyze()
        extra = sorted(
            item
            for scope, item in analyzer.attr_docs
            if not scope and not item.startswith("_") and item not in exported
        )
        if extra:
            found[name] = extra
    return found


autosummary_context = {
    "canonical": _canonical_names(),
    "unexported": _documented_unexported(),
}


def _resolve_reexport(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve what the Python domain could not, when it names one documented object.

    ``package.Name`` (and ``package.Name.member``) goes to where ``Name`` is
    documented (``autosummary_context["canonical"]``); a bare name from a type
    hint (``ModelPackage`` under ``from __future__ import annotations``) goes to
    the one object of ours with that name, preferring the current module's.
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node.get("reftarget", "").lstrip("~")
    module = node.get("py:module") or ""
    canonical = autosummary_context["canonical"]
    if f"{module}.{target}" in canonical:
        target = f"{module}.{target}"  # a bare name the current package re-exports
    resolved = None
    for alias, home in canonical.items():
        if target == alias or target.startswith(alias + "."):
            resolved = home + target[len(alias) :]
            break
    if resolved is None:
        ours = [
            name
            for name in domain.objects
            if name.startswith("food_recognition.") and name.endswith("." + target)
        ]
        local = [name for name in ours if name == f"{module}.{target}"]
        if local or len(ours) == 1:
            resolved = (local or ours)[0]
    if resolved is None:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], resolved, node, contnode
    )


def _examples_as_code(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Render a docstring's ``>>>`` examples as code, out of the doctest builder's reach.

    The doctest builder runs every ``>>>`` block of a page without the names of
    the module a docstring comes from, so a docstring example would fail there;
    tests/test_docstrings.py runs them in their modules instead. The guides'
    own ``>>>`` blocks stay doctests.
    """
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out += [f"{indent}.. code-block:: pycon", ""]
        while index < len(lines) and lines[index].strip():
            out.append("   " + lines[index])
            index += 1
        out.append("")
    lines[:] = out


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _examples_as_code)
