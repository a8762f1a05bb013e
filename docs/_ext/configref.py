"""``.. config-reference::``: the configuration reference, generated from the attrs classes.

Each :class:`~food_recognition.config.RunConfig` section becomes a table of
its fields (dotted path, default, what it means), so the reference can never
drift from the code.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from food_recognition import config


def _param_docs(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    current = None
    for line in (cls.__doc__ or "").splitlines():
        match = re.match(r"\s*:param (\w+):\s*(.*)", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2)
        elif current and line.strip() and not line.strip().startswith(":"):
            docs[current] += " " + line.strip()
        else:
            current = None
    return docs


def _default(field: attrs.Attribute[Any]) -> str:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        value = default.factory()
        return "{}" if isinstance(value, config.Options) else repr(value)
    return repr(default)


class ConfigReference(SphinxDirective):
    """Render every section of RunConfig as a list-table."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for section in attrs.fields(config.RunConfig):
            cls = section.default.factory  # type: ignore[union-attr]
            docs = _param_docs(cls)
            target = f"food_recognition.config.{cls.__name__}"
            lines += [
                f".. list-table:: ``{section.name}`` (:class:`~{target}`)",
                "   :header-rows: 1",
                "   :widths: 25 15 60",
                "",
                "   * - option",
                "     - default",
                "     - meaning",
            ]
            for field in attrs.fields(cls):
                lines += [
                    f"   * - ``{section.name}.{field.name}``",
                    f"     - ``{_default(field)}``",
                    f"     - {docs.get(field.name, '')}",
                ]
            lines.append("")
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return list(container.children)


class CLIHelp(SphinxDirective):
    """Render ``food-recognition --help`` and each subcommand's help as literal blocks."""

    def run(self) -> list[nodes.Node]:
        import argparse

        from food_recognition.cli import build_parser

        parser = build_parser()
        result: list[nodes.Node] = []

        def walk(current: argparse.ArgumentParser, title: str) -> None:
            section = nodes.section(ids=[nodes.make_id(title)])
            section += nodes.title(text=title)
            section += nodes.literal_block(text=current.format_help())
            result.append(section)
            for action in current._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, child in action.choices.items():
                        walk(child, f"{title} {name}")

        walk(parser, "food-recognition")
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("config-reference", ConfigReference)
    app.add_directive("cli-help", CLIHelp)
    return {"parallel_read_safe": True, "version": "1"}
