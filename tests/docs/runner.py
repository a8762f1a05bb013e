"""Run a page's blocks in order, in one working folder, as a reader would type them.

Each page gets a fresh folder holding links to the checkout's ``examples/``,
``tests/``, ``benchmarks/`` and ``scripts/`` (so relative paths in the docs
resolve) and nothing else. Commands run through ``bash`` there, one by one,
with the test environment's ``bin/`` first on ``PATH`` (``food-recognition``,
``python``); a page that runs ``pip install`` gets its own virtual environment
that sees the test environment's packages, so what it installs stays there.
Variables a command exports are kept for the page's later commands.

Rules besides :mod:`tests.docs.substitutions`:

- ``food-recognition serve ...`` (or a command ending in ``&``) is started in
  the background, awaited until its health route answers, and stopped when the
  session ends.
- A console block's shown ``error: ...`` line is the expected result: the
  command must exit 2 with exactly that line on stderr.
- ``python3.11 scripts/nox.py ...`` never runs inside the tests (it builds
  virtual environments in the checkout, and the default sessions run these
  tests): such a block must be marked ``skip``; its session must exist.
- A block marked ``azure``/``network``/``gpu`` runs each of our commands with
  no Azure settings and a dead proxy: each must fail in one line (exit 2,
  ``error: ...``, no traceback). Other programs in it (``az``, ``pip``) are not run.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from tests.docs import substitutions
from tests.docs.collect import ROOT, Block
from tests.fixtures.loopback import wait_until_live

#: The checkout's folders a page's working folder links to.
LINKED = ("examples", "tests", "benchmarks", "scripts")
#: First words of commands that are ours (run even in a marked block).
OURS = ("food-recognition", "python", "python3", "python3.11")
#: Shell built-ins run in a marked block (they reach nothing).
BUILTINS = ("export", "cd", "mkdir", "head", "cat", "ls")
#: Where marked blocks' HTTP goes: a loopback port nothing listens on.
DEAD_PROXY = "http://127.0.0.1:9"
#: Seconds one command may take (the slowest trains for a few epochs on the sample).
COMMAND_TIMEOUT = 600


@attrs.define
class Command:
    """One command of a block and what became of it."""

    text: str
    shown: list[str] = attrs.field(factory=list)
    outcome: str = "pending"
    returncode: int | None = None
    seconds: float = 0.0


@attrs.define
class BlockResult:
    """A block's commands and the first failure, if any."""

    block: Block
    commands: list[Command] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    seconds: float = 0.0
    stdout: str = ""

    @property
    def status(self) -> str:
        if self.failures:
            return "FAILED"
        if self.block.marker == "skip":
            return "marked skip: " + self.block.reason
        if self.block.marker is not None:
            if any("error checked" in c.outcome for c in self.commands):
                return f"{self.block.marker}: one-line error checked"
            return f"{self.block.marker}: nothing of ours to run (az, pip, nox)"
        return "ran"


#: Every block result so far, by block id (``page:line``): the terminal summary's table.
RESULTS: dict[str, BlockResult] = {}
#: Blocks that depend on no earlier block of their page, by (language, marker, text):
#: an identical block elsewhere (the README's and the quickstart's) runs once.
_INDEPENDENT: dict[tuple[str, str | None, str], BlockResult] = {}


def commands(block: Block) -> list[Command]:
    """A shell block's commands (continuation lines joined) and the output shown under each."""
    lines = block.text.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    found: list[Command] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if prompted and not line.startswith("$ "):
            if found and line.strip():
                found[-1].shown.append(line.strip())
            i += 1
            continue
        text = line[2:] if prompted else line
        if not prompted and (not text.strip() or text.lstrip().startswith("#")):
            i += 1
            continue
        while text.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text.rstrip()[:-1] + " " + lines[i].strip()
        found.append(Command(text.strip()))
        i += 1
    return found


def first_words(text: str) -> list[str]:
    """The first command's words (``[]`` when the shell syntax is beyond ``shlex``)."""
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return []
    # The first command of a pipeline or list: what runs before |, &&, ;, & or >.
    for i, word in enumerate(words):
        if word and set(word) <= set("|&;<>()"):
            return words[:i]
    return words


def is_nox(words: list[str]) -> bool:
    return len(words) > 1 and words[1] == "scripts/nox.py"


def is_ours(words: list[str]) -> bool:
    return bool(words) and words[0] in OURS and not is_nox(words)


def nox_sessions() -> set[str]:
    """The session names the noxfile defines."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            "session" in ast.unparse(d) for d in node.decorator_list
        ):
            names.add(node.name)
    return names


def check_parses(words: list[str]) -> str | None:
    """``None`` if a ``food-recognition`` command parses (or is not one), else why not."""
    from food_recognition.cli import build_parser

    if not words or words[0] != "food-recognition" or "--help" in words:
        return None
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as exited:
        return f"does not parse (exit {exited.code})"
    return None


def check_nox(words: list[str]) -> str | None:
    """``None`` if a ``scripts/nox.py`` command names sessions the noxfile has."""
    known = nox_sessions()
    for i, word in enumerate(words):
        if word == "--":
            break
        if word == "-s" and i + 1 < len(words) and words[i + 1] not in known:
            return f"nox has no session {words[i + 1]!r}"
    rest = words[words.index("--") + 1 :] if "--" in words else []
    if "demo" in words and rest and "--help" not in rest:
        return check_parses(["food-recognition", "demo", *rest])
    if "bench" in words and rest:
        script = rest[0]
        if not (ROOT / "benchmarks" / script).is_file():
            return f"benchmarks/{script} does not exist"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.define
class Page:
    """One page's working folder, environment and the results of its blocks so far.

    :param blocks: the page's blocks (doctests excluded), in document order.
    :param folder: the page's working folder (empty).
    :param values: makes the substitution values a page needs (lazily, see :class:`Resources`).
    """

    blocks: list[Block]
    folder: Path
    values: Callable[[set[str]], substitutions.Values]
    results: list[BlockResult] = attrs.field(factory=list)
    exported: dict[str, str] = attrs.field(factory=dict)
    servers: list[subprocess.Popen[str]] = attrs.field(factory=list)
    venv: Path | None = None
    job: str = "no-job-submitted-yet"
    filled: substitutions.Values | None = attrs.field(default=None, init=False)

    def result(self, block: Block) -> BlockResult:
        """The result of ``block``, running the page's blocks before it first if needed."""
        index = self.blocks.index(block)
        while len(self.results) <= index:
            result = self._run(self.blocks[len(self.results)])
            self.results.append(result)
            RESULTS[result.block.id] = result
        return self.results[index]

    def stop(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()

    # -- running ---------------------------------------------------------

    def _prepare(self) -> None:
        if self.filled is not None:
            return
        for name in LINKED:
            (self.folder / name).symlink_to(ROOT / name)
        text = "".join(b.text for b in self.blocks)
        self.filled = self.values(substitutions.needs(text))
        if any(w[:1] == ["pip"] for b in self.blocks for w in map(first_words, _lines(b))):
            self.venv = _page_venv(self.folder / ".page-venv")

    def _substitute(self, text: str) -> str:
        assert self.filled is not None
        return substitutions.apply(text, attrs.evolve(self.filled, job=self.job))

    def _run(self, block: Block) -> BlockResult:
        self._prepare()
        start = time.monotonic()
        result = BlockResult(block)
        before = self.blocks[: self.blocks.index(block)]
        independent = all(b.marker == "skip" for b in before)
        key = (block.language, block.marker, block.text)
        if independent and key in _INDEPENDENT:
            # The same block, with nothing before it on either page: the same run.
            earlier = _INDEPENDENT[key]
            result.commands = [Command(f"same as {earlier.block.id}", outcome="ran there")]
            result.failures, result.stdout = earlier.failures, earlier.stdout
            return result
        if block.language == "python":
            self._run_python(block, result)
        else:
            for command in commands(block):
                result.commands.append(command)
                failure = self._run_command(block, command)
                if failure:
                    result.failures.append(f"$ {command.text}: {failure}")
        result.seconds = time.monotonic() - start
        if independent:
            _INDEPENDENT.setdefault(key, result)
        return result

    def _env(self, marked: bool) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AZURE_", "AZUREML_", "PYTEST_"))
            and k.lower() not in {"pythonpath", "http_proxy", "https_proxy", "no_proxy"}
        }
        bins = [str(Path(sys.executable).parent)]
        if self.venv is not None:
            bins.insert(0, str(self.venv / "bin"))
        env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
        env.update(
            TF_CPP_MIN_LOG_LEVEL="2",
            CUDA_VISIBLE_DEVICES="",
            KERAS_HOME=str(self.folder / ".keras"),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.exported)
        if marked:
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                env[name] = DEAD_PROXY
            env["NO_PROXY"] = env["no_proxy"] = ""
        return env

    def _run_python(self, block: Block, result: BlockResult) -> None:
        script = self.folder / f"block_{block.line}.py"
        script.write_text(self._substitute(block.text), encoding="utf-8")
        command = Command(f"python {script.name}")
        result.commands.append(command)
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, script.name],
            cwd=self.folder,
            env=self._env(block.marker is not None),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        command.seconds = time.monotonic() - start
        command.returncode = done.returncode
        result.stdout = done.stdout
        if block.marker == "skip":
            command.outcome = "not run"
        elif block.marker is not None:
            last = done.stderr.strip().splitlines()[-1:] or [""]
            command.outcome = "library error checked"
            if done.returncode == 0 or not last[0].startswith("food_recognition."):
                result.failures.append(
                    f"a {block.marker} block must end in one of the library's errors; "
                    f"exit {done.returncode}: {done.stderr[-2000:]}"
                )
        elif done.returncode != 0:
            command.outcome = "failed"
            result.failures.append(f"exit {done.returncode}: {done.stderr[-3000:]}")
        else:
            command.outcome = "ran"

    def _run_command(self, block: Block, command: Command) -> str | None:
        words = first_words(command.text)
        marker = block.marker
        if is_nox(words):
            command.outcome = "nox session checked"
            problem = check_nox(words)
            if problem:
                return problem
            if marker is None:
                return "a nox session cannot run inside the tests: mark the block 'skip <why>'"
            return None
        if marker == "skip":
            command.outcome = "parsed" if words[:1] == ["food-recognition"] else "not run"
            return check_parses(words)
        if marker is not None and not is_ours(words):
            if words and words[0] in BUILTINS and "$(" not in command.text:
                self._shell(block, command, marked=True)
                command.outcome = "ran (shell built-in)"
                return None
            command.outcome = "not run (not ours)"
            return check_parses(words)
        problem = check_parses(words)
        if problem:
            return problem
        if words[:2] == ["food-recognition", "serve"] or command.text.endswith("&"):
            return self._serve(block, command)
        done = self._shell(block, command, marked=marker is not None)
        errors = [line for line in command.shown if line.startswith("error:")]
        if marker is not None:
            command.outcome = "one-line error checked"
            lines = done.stderr.strip().splitlines()
            if done.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
                return (
                    f"a {marker} command must fail in one line with exit 2; "
                    f"exit {done.returncode}, stderr: {done.stderr[-2000:]}"
                )
            return None
        if errors:
            command.outcome = "shown error checked"
            if done.returncode != 2 or done.stderr.strip() != errors[0]:
                return f"expected exit 2 and {errors[0]!r}; exit {done.returncode}: {done.stderr}"
            return None
        command.outcome = "ran"
        if done.returncode != 0:
            return f"exit {done.returncode}: {done.stdout[-1500:]}{done.stderr[-3000:]}"
        if (
            "--dry-run" in words
            and command.shown
            and done.stdout.split() != " ".join(command.shown).split()
        ):
            return f"printed {done.stdout!r}, the page shows {command.shown}"
        found = re.search(r'"job_id":\s*"([^"]+)"', done.stdout)
        if found:
            self.job = found.group(1)
        return None

    def _shell(
        self, block: Block, command: Command, marked: bool
    ) -> subprocess.CompletedProcess[str]:
        dump = self.folder / ".page-env"
        script = (
            f"set -o pipefail\n{self._substitute(command.text)}\n"
            f"__rc=$?\nenv -0 > {shlex.quote(str(dump))}\nexit $__rc\n"
        )
        env = self._env(marked)
        start = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        command.seconds = time.monotonic() - start
        command.returncode = done.returncode
        if dump.is_file():
            after = dict(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)
            for key, value in after.items():
                if key not in {"PWD", "OLDPWD", "SHLVL", "_"} and env.get(key) != value:
                    self.exported[key] = value
            dump.unlink()
        return done

    def _serve(self, block: Block, command: Command) -> str | None:
        text = self._substitute(command.text).removesuffix("&").strip()
        port = re.search(r"--port\s+(\d+)", text)
        if port is None:
            return "a background server needs --port to be awaited"
        start = time.monotonic()
        server = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=self.folder,
            env=self._env(block.marker is not None),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.servers.append(server)
        health = f"http://127.0.0.1:{port.group(1)}/"
        failure = wait_until_live(server, health, timeout_s=300)
        if failure is not None:
            command.returncode = server.returncode
            return failure
        command.seconds = time.monotonic() - start
        command.outcome = "served (health answered)"
        return None


def _lines(block: Block) -> list[str]:
    return [c.text for c in commands(block)] if block.language == "shell" else []


def _page_venv(path: Path) -> Path:
    """A virtual environment with pip that sees the test environment's packages.

    A ``.pth`` line adds the test environment's site-packages (and processes its
    own ``.pth`` files, so the editable install of the library is found);
    ``bin/food-recognition`` is the console script pip would have written.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    outer = next(p for p in sys.path if p.endswith("site-packages"))
    (site,) = (path / "lib").glob("python3*/site-packages")
    (site / "_docs_test_outer.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    script = path / "bin" / "food-recognition"
    script.write_text(
        f"#!{path / 'bin' / 'python'}\nimport sys\nfrom food_recognition.cli import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(0o755)
    return path
