"""The checks the docs session runs on the built HTML (docs/_ext/apicheck.py).

The docs session (``nox -s docs``) runs them on the real reference after every
HTML build and fails on what they report; here they run on small pages shaped
like Sphinx's output, so each can be seen to catch what it is for, without a
Sphinx build (Sphinx is not in the test environment).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _apicheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("apicheck", DOCS / "_ext" / "apicheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


apicheck = _apicheck()


def _page(body: str) -> str:
    return f'<!doctype html>\n<html><head><meta charset="utf-8"></head><body>{body}</body></html>'


def _entry(target: str) -> str:
    """An object's entry, as autodoc renders it."""
    return f'<dl class="py function"><dt class="sig sig-object py" id="{target}"></dt></dl>'


def _link(target: str) -> str:
    """An autosummary table row's link to an object's entry."""
    return f'<a class="reference internal" href="{target}.html#{target}" title="{target}"></a>'


def _reference(html: Path, modules: dict[str, dict[str, str]], drop: str = "") -> None:
    """Pages for ``modules``: each module's table and each object's own page."""
    (html / "_api").mkdir(parents=True)
    for module, api in modules.items():
        links = "".join(_link(target) for name, target in api.items() if name != drop)
        (html / "_api" / f"{module}.html").write_text(_page(links))
        for target in api.values():
            (html / "_api" / f"{target}.html").write_text(_page(_entry(target)))


@pytest.mark.parametrize("module", apicheck.REQUIRED_MODULES)
def test_each_promised_module_exports_classes_or_functions(module: str) -> None:
    # The reference check has something to check in every module it names, and
    # each target it expects is where the object really is.
    plan = apicheck.reference_plan((module,))
    assert any(not target.startswith("module-") for api in plan.values() for target in api.values())
    for api in plan.values():
        for target in api.values():
            if target.startswith("module-"):
                assert importlib.import_module(target.removeprefix("module-"))
                continue
            home, _, qualname = target.rpartition(".")
            assert getattr(importlib.import_module(home), qualname) is not None


def test_public_api_points_reexports_at_the_defining_module() -> None:
    api = apicheck.public_api("food_recognition.tta")
    assert api["predict_with_tta"] == "food_recognition.tta.predict.predict_with_tta"


def test_a_package_without_all_is_checked_through_its_submodules() -> None:
    # food_recognition.serving exports nothing itself: its page must link each
    # public submodule, and each submodule's page its classes and functions.
    plan = apicheck.reference_plan(("food_recognition.serving",))
    assert plan["food_recognition.serving"]["scoring"] == "module-food_recognition.serving.scoring"
    assert "_azmlinfsrv" not in plan["food_recognition.serving"]
    assert plan["food_recognition.serving.scoring"]["Scorer"] == (
        "food_recognition.serving.scoring.Scorer"
    )
    assert plan["food_recognition.serving.score"]["init"] == "food_recognition.serving.score.init"


def test_a_complete_reference_passes(tmp_path: Path) -> None:
    modules = {name: apicheck.public_api(name) for name in ("food_recognition.tta",)}
    _reference(tmp_path, modules)
    assert apicheck.missing_entries(tmp_path, modules) == []


def test_a_module_without_a_page_is_reported(tmp_path: Path) -> None:
    modules = {"food_recognition.tta": apicheck.public_api("food_recognition.tta")}
    _reference(tmp_path, modules)
    (tmp_path / "_api" / "food_recognition.tta.html").unlink()
    assert apicheck.missing_entries(tmp_path, modules) == [
        "food_recognition.tta: no page _api/food_recognition.tta.html"
    ]


def test_a_public_function_missing_from_its_module_page_is_reported(tmp_path: Path) -> None:
    api = apicheck.public_api("food_recognition.tta")
    _reference(tmp_path, {"food_recognition.tta": api}, drop="predict_with_tta")
    target = "food_recognition.tta.predict.predict_with_tta"
    assert apicheck.missing_entries(tmp_path, {"food_recognition.tta": api}) == [
        f"food_recognition.tta.predict_with_tta: _api/food_recognition.tta.html "
        f"does not link to {target}"
    ]


def test_a_link_to_an_undocumented_object_is_reported(tmp_path: Path) -> None:
    api = apicheck.public_api("food_recognition.tta")
    _reference(tmp_path, {"food_recognition.tta": api})
    target = "food_recognition.tta.predict.predict_with_tta"
    (tmp_path / "_api" / f"{target}.html").write_text(_page("<p>nothing</p>"))
    assert apicheck.missing_entries(tmp_path, {"food_recognition.tta": api}) == [
        f"food_recognition.tta.predict_with_tta: no entry documents {target}"
    ]


def test_error_boxes_are_reported_with_their_page_and_text(tmp_path: Path) -> None:
    # What docutils leaves in a page for markup it could not read: a
    # "problematic" span around the text, and (with keep_warnings) the message.
    (tmp_path / "_api").mkdir()
    (tmp_path / "clean.html").write_text(_page("<p>All <em>fine</em>.</p>"))
    (tmp_path / "_api" / "broken.html").write_text(
        _page(
            '<p>Some <a href="#id1"><span class="problematic" id="id2">:foo:`bar`</span></a>'
            " text.</p>"
            '<aside class="system-message"><p class="system-message-title">System Message: '
            "ERROR/3</p><p>Unknown interpreted text role <br> &quot;foo&quot;.</p></aside>"
        )
    )
    assert apicheck.error_boxes(tmp_path) == [
        "_api/broken.html: :foo:`bar`",
        '_api/broken.html: System Message: ERROR/3 Unknown interpreted text role "foo".',
    ]


def test_a_clean_site_has_no_error_box(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(_page('<div class="section"><p>Text.</p></div>'))
    assert apicheck.error_boxes(tmp_path) == []
