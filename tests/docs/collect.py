"""Find every shell command and Python block in the docs, with the marker before it.

Sources: ``README.md``, ``docs/*.rst``, the examples' module docstrings
(``examples/*.py``) and their READMEs (``examples/*/README*``).

- reST: ``.. code-block:: console`` (``$ `` lines are commands, other lines are
  the output shown), ``bash``/``shell``/``sh`` (every line is a command) and
  ``python``. A bare literal block (``::``) has no language, so it is refused:
  say what it is with ``.. code-block::`` (``text`` and ``yaml`` blocks are data,
  not collected). ``>>>`` examples are doctests, run by ``sphinx-build -b
  doctest`` in ``nox -s docs``; they are counted here, not run twice.
- Markdown: fenced blocks (```` ```bash ````, ```` ```console ````, ```` ```python ````);
  an indented block is refused as above.
- A marker, on the line before the block (blank lines between are fine), says
  why a block cannot run here as written: ``.. docs-test: KIND reason`` in reST,
  ``<!-- docs-test: KIND reason -->`` in Markdown. See :data:`MARKERS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]

#: What a marker may say, and what the collector does with the block.
MARKERS = {
    "azure": "needs an Azure workspace or account: run here, each of our commands must "
    "fail in one line (exit 2, no traceback)",
    "network": "needs the internet: run here with a dead proxy, each of our commands must "
    "fail in one line (exit 2, no traceback)",
    "gpu": "needs a GPU: each of our commands must fail in one line (exit 2, no traceback)",
    "skip": "not run (the reason follows the word); its food-recognition commands must "
    "parse and its nox sessions exist",
}

#: Block languages that are commands or code.
SHELL = frozenset({"console", "bash", "shell", "sh", "shell-session"})
PYTHON = frozenset({"python", "python3", "py"})
DOCTEST = frozenset({"pycon", "doctest"})
#: Languages that are data or output, never run.
DATA = frozenset({"text", "yaml", "yml", "toml", "json", "ini", "cfg", "none", "jinja"})

_MARKER_RST = re.compile(r"^\s*\.\. docs-test:\s*(\S+)\s*(.*)$")
_MARKER_MD = re.compile(r"^\s*<!--\s*docs-test:\s*(\S+)\s*(.*?)\s*-->\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")


class DocsError(Exception):
    """A block the collector cannot classify: the page must say what it is."""


@attrs.frozen
class Block:
    """One code block of a page, as written, with its marker.

    :param page: the page's path relative to the checkout (``docs/deploy.rst``).
    :param line: the 1-based line of the block's first line of code in that file.
    :param language: ``shell``, ``python`` or ``doctest``.
    :param text: the block's text, dedented.
    :param marker: the marker's kind (:data:`MARKERS`), or ``None``.
    :param reason: the rest of the marker's line.
    """

    page: str
    line: int
    language: str
    text: str
    marker: str | None = None
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages(root: Path = ROOT) -> list[Path]:
    """Every file the collector reads, in a fixed order."""
    found = [root / "README.md", *sorted((root / "docs").glob("*.rst"))]
    found += sorted((root / "examples").glob("*.py"))
    found += sorted((root / "examples").glob("*/README*"))
    return [path for path in found if path.is_file()]


def collect(root: Path = ROOT) -> list[Block]:
    """Every runnable block of every page (doctests included, see the module docstring).

    :raises DocsError: a block without a language, or a marker that names no kind.
    """
    blocks: list[Block] = []
    for path in pages(root):
        name = path.relative_to(root).as_posix()
        if path.suffix == ".py":
            text, offset = _module_docstring(path)
            blocks += _rst_blocks(name, text, offset)
        elif path.suffix == ".rst":
            blocks += _rst_blocks(name, path.read_text(encoding="utf-8"), 0)
        else:
            blocks += _md_blocks(name, path.read_text(encoding="utf-8"))
    return blocks


def by_page(blocks: list[Block]) -> dict[str, list[Block]]:
    """The blocks grouped by page, each page's in document order."""
    grouped: dict[str, list[Block]] = {}
    for block in blocks:
        grouped.setdefault(block.page, []).append(block)
    return grouped


def _module_docstring(path: Path) -> tuple[str, int]:
    """A module's docstring and the 0-based line it starts on (``""\"`` opening line)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not tree.body or not isinstance(tree.body[0], ast.Expr):
        return "", 0
    node = tree.body[0].value
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return "", 0
    return node.value, node.lineno - 1


def _check_marker(where: str, kind: str) -> None:
    if kind not in MARKERS:
        raise DocsError(f"{where}: unknown docs-test marker {kind!r}; use one of {sorted(MARKERS)}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, base: int) -> tuple[int, list[str]]:
    """The indented body after a directive/``::`` line at ``start - 1``: (first line, lines)."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    first = i
    body: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > base):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    # Directive options (":language: ...") come first; the code starts after them.
    while body and body[0].strip().startswith(":") and _indent(body[0]) > base:
        body.pop(0)
        first += 1
        while body and not body[0].strip():
            body.pop(0)
            first += 1
    width = min((_indent(b) for b in body if b.strip()), default=0)
    return first, [b[width:] for b in body]


def _rst_blocks(page: str, text: str, offset: int) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    marker: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        where = f"{page}:{offset + i + 1}"
        found = _MARKER_RST.match(line)
        directive = _DIRECTIVE.match(line)
        if found:
            _check_marker(where, found.group(1))
            marker = (found.group(1), found.group(2).strip())
        elif directive:
            language = directive.group(2).lower() or "none"
            first, body = _body(lines, i + 1, len(directive.group(1)))
            if language not in SHELL | PYTHON | DOCTEST | DATA:
                raise DocsError(f"{where}: unknown code-block language {language!r}")
            kind = _kind(language)
            if kind is not None:
                blocks.append(_block(page, offset + first + 1, kind, body, marker))
            elif marker is not None:
                raise DocsError(f"{where}: a docs-test marker before a {language} block")
            marker = None
            i = first + len(body)
            continue
        elif line.strip().startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
            body = []
            while i < len(lines) and lines[i].strip():
                body.append(lines[i])
                i += 1
            width = _indent(body[0])
            blocks.append(
                _block(page, offset + i - len(body) + 1, "doctest", [b[width:] for b in body], None)
            )
            marker = None
            continue
        elif line.rstrip().endswith("::") and not line.strip().startswith(".."):
            first, body = _body(lines, i + 1, _indent(line))
            if body and body[0].lstrip().startswith(">>>"):
                blocks.append(_block(page, offset + first + 1, "doctest", body, marker))
            elif body:
                raise DocsError(
                    f"{page}:{offset + first + 1}: a literal block (::) without a language; "
                    "write '.. code-block:: console' (or python, text, yaml, ...) before it"
                )
            marker = None
            i = first + len(body)
            continue
        elif line.strip() and not line.strip().startswith(".."):
            marker = None
        i += 1
    return blocks


def _md_blocks(page: str, text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    marker: tuple[str, str] | None = None
    i = 0
    previous_blank = True
    while i < len(lines):
        line = lines[i]
        found = _MARKER_MD.match(line)
        fence = _FENCE.match(line)
        if found:
            _check_marker(f"{page}:{i + 1}", found.group(1))
            marker = (found.group(1), found.group(2))
        elif fence:
            close = fence.group(2)
            language = fence.group(3).lower() or "none"
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(close):
                j += 1
            body = lines[i + 1 : j]
            kind = _kind(language)
            if language not in SHELL | PYTHON | DOCTEST | DATA:
                raise DocsError(f"{page}:{i + 1}: unknown fenced block language {language!r}")
            if kind is not None:
                blocks.append(_block(page, i + 2, kind, body, marker))
            marker = None
            i = j + 1
            previous_blank = True
            continue
        elif line.startswith("    ") and previous_blank and not line.lstrip().startswith("-"):
            raise DocsError(
                f"{page}:{i + 1}: an indented code block without a language; "
                "fence it as ```console (or python, text, ...)"
            )
        elif line.strip():
            marker = None
        previous_blank = not line.strip()
        i += 1
    return blocks


def _kind(language: str) -> str | None:
    if language in SHELL:
        return "shell"
    if language in PYTHON:
        return "python"
    if language in DOCTEST:
        return "doctest"
    return None


def _block(
    page: str, line: int, language: str, body: list[str], marker: tuple[str, str] | None
) -> Block:
    kind, reason = marker if marker is not None else (None, "")
    return Block(page, line, language, "\n".join(body) + "\n", kind, reason)
