"""The ``food-recognition`` commands in the Azure pages, as written.

Every command shown in ``docs/first_azure_run.rst`` and ``docs/deploy.rst``
must parse with the CLI's own parser (a renamed or removed option fails here);
those that run offline (``--dry-run`` and ``--help``) are run, and where the page
shows their output (printed paths, or an ``error:`` line) the output must match.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import attrs
import pytest

from food_recognition.cli import build_parser, main

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("first_azure_run.rst", "deploy.rst")


@attrs.define(frozen=True)
class Shown:
    """One ``$ food-recognition ...`` command and the lines shown under it."""

    page: str
    words: tuple[str, ...]
    output: tuple[str, ...]

    @property
    def offline(self) -> bool:
        return "--dry-run" in self.words or "--help" in self.words


def _commands(page: str) -> list[Shown]:
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    shown: list[Shown] = []
    in_console = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(".. code-block::"):
            in_console = line.strip().endswith("console")
        elif in_console and line.strip().startswith("$ "):
            text = line.strip()[2:]
            while text.endswith("\\"):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            output = []
            while (
                i + 1 < len(lines)
                and lines[i + 1].startswith("   ")
                and not lines[i + 1].strip().startswith("$ ")
            ):
                i += 1
                output.append(lines[i].strip())
            words = tuple(shlex.split(text))
            if words[0] == "food-recognition":
                shown.append(Shown(page, words[1:], tuple(output)))
        i += 1
    return shown


ALL = [command for page in PAGES for command in _commands(page)]


def test_the_pages_show_the_offline_forms() -> None:
    offline = [" ".join(c.words[:2]) for c in ALL if c.offline]
    assert offline.count("azure deploy") >= 3
    assert "azure submit" in offline
    assert "azure check" in offline


@pytest.mark.parametrize("command", ALL, ids=lambda c: " ".join(c.words)[:60])
def test_every_shown_command_parses(command: Shown) -> None:
    parser = build_parser()
    if "--help" in command.words:
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(list(command.words))
        assert exited.value.code == 0
        return
    args = parser.parse_args(list(command.words))
    assert callable(args.handler)


@pytest.mark.parametrize(
    "command", [c for c in ALL if c.offline], ids=lambda c: " ".join(c.words)[:60]
)
def test_offline_commands_run_as_written(
    command: Shown,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(list(command.words))
    except SystemExit as exited:  # --help
        code = int(exited.code or 0)
    out, err = capsys.readouterr()
    errors = [line for line in command.output if line.startswith("error:")]
    if errors:
        assert code == 2
        assert err.strip() == errors[0]
        return
    assert code == 0, err
    if command.output:
        assert out.split() == list(command.output)
    if "--dry-run" in command.words:
        assert any((tmp_path / command.words[command.words.index("--dry-run") + 1]).iterdir())
