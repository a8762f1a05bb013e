"""Sphinx configuration for the food_recognition docs (``nox -s docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_mock_imports: list[str] = []
# Forward references inside TYPE_CHECKING blocks cannot be resolved by autodoc;
# they still render as text.
nitpicky = False
suppress_warnings = ["autodoc.import_object"] if os.environ.get("DOCS_LENIENT") else []

doctest_global_setup = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
"""
