"""The fields of an attrs class are link targets: ``:attr:`TTAConfig.seed``` resolves.

An attrs class documents its fields once, as the ``:param:`` entries of its
docstring (the constructor's parameters are the fields), so autodoc has no
attribute of that name to link to. This extension makes each such entry the
target of the field's name: the link lands on the field's description in the
class's parameter list, and the text is written once. A field that autodoc
documents as an attribute of its own (a ``#:`` comment) keeps that entry.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import attrs
from docutils import nodes
from sphinx.application import Sphinx

_PARAM = re.compile(r"param\s+(?:\S+\s+)?(\w+)$")


def _import(fullname: str) -> Any:
    """The object named ``package.module.Class`` (the longest importable module prefix)."""
    parts = fullname.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def _fields_as_targets(app: Sphinx, domain: str, objtype: str, content: nodes.Element) -> None:
    if domain != "py" or objtype not in ("class", "exception"):
        return
    signature = content.parent[0]
    module, name = signature.get("module"), signature.get("fullname")
    if not module or not name:
        return
    cls = _import(f"{module}.{name}")
    if not (isinstance(cls, type) and attrs.has(cls)):
        return
    fields = {field.name for field in attrs.fields(cls)}
    python: Any = app.env.get_domain("py")
    for field_list in (child for child in content if isinstance(child, nodes.field_list)):
        for field in field_list.findall(nodes.field):
            match = _PARAM.match(field[0].astext().strip())
            if not match or match.group(1) not in fields:
                continue
            target = f"{module}.{name}.{match.group(1)}"
            if target in python.objects:  # documented as an attribute already
                continue
            body = field[1]
            anchor = nodes.inline("", "", ids=[target])
            paragraphs = [node for node in body.children if isinstance(node, nodes.paragraph)]
            if paragraphs:
                paragraphs[0].insert(0, anchor)
            else:
                body.insert(0, nodes.paragraph("", "", anchor))
            python.note_object(target, "attribute", target, location=field)


def setup(app: Sphinx) -> dict[str, Any]:
    """Connect the handler."""
    app.connect("object-description-transform", _fields_as_targets)
    return {"parallel_read_safe": True, "version": "1"}
