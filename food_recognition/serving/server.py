"""Serve a model package locally with Azure ML's own inference server (``azmlinfsrv``).

The server runs :mod:`food_recognition.serving.score`, the same scoring script
an Azure ML online endpoint runs, so a local test is a test of the deployment.

Each worker process is threaded (gunicorn's ``gthread`` worker, see
:func:`worker_environment`): a slow client holds one thread, and the others go
on answering health probes and requests, whose images are scored together
(:mod:`food_recognition.serving.batching`).

>>> from food_recognition.serving.server import azmlinfsrv_command
>>> azmlinfsrv_command(8123)[-4:]
['--port', '8123', '--worker_count', '1']
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import attrs

from food_recognition.errors import ServingError

__all__ = [
    "DEFAULT_THREADS",
    "GUNICORN_ENV",
    "SCORE_SCRIPT",
    "LocalServer",
    "ServerError",
    "azmlinfsrv_command",
    "free_port",
    "server_environment",
    "worker_environment",
]

#: The scoring script file (what ``--entry_script`` and a deployment's ``scoring_script`` name).
SCORE_SCRIPT = Path(__file__).with_name("score.py")
#: Threads per worker process: how many requests one worker has in flight at once.
DEFAULT_THREADS = 16
#: gunicorn's own environment variable for settings; azmlinfsrv starts gunicorn
#: (``azureml_inference_server_http/amlserver_linux.py``: ``WSGIApplication(...).run()``)
#: and sets only bind, worker count, timeout and logging on its command line, so
#: settings made here reach gunicorn (``gunicorn/config.py``, ``get_cmd_args_from_env``;
#: https://docs.gunicorn.org/en/stable/settings.html).
GUNICORN_ENV = "GUNICORN_CMD_ARGS"


def worker_environment(
    threads: int = DEFAULT_THREADS, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables that make azmlinfsrv's gunicorn run threaded workers.

    The server's default is gunicorn's ``sync`` worker: one request at a time
    per process, so one client that sends half a body stalls the whole worker,
    health probes included. ``gthread`` gives each worker ``threads`` threads
    sharing one copy of the model.

    >>> worker_environment(8)
    {'GUNICORN_CMD_ARGS': '--worker-class gthread --threads 8'}

    :param threads: threads per worker process.
    :param base: the environment whose ``GUNICORN_CMD_ARGS`` (if any) is kept,
        after ours, so a setting made there wins.
    :returns: ``{"GUNICORN_CMD_ARGS": ...}``.
    :raises ValueError: ``threads`` below 1.
    """
    if threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    own = f"--worker-class gthread --threads {threads}"
    extra = (base or {}).get(GUNICORN_ENV, "").strip()
    return {GUNICORN_ENV: f"{own} {extra}".strip()}


class ServerError(ServingError, RuntimeError):
    """The inference server exited or did not become ready; the message ends with its log."""


def azmlinfsrv_command(port: int, *, workers: int = 1) -> list[str]:
    """The ``azmlinfsrv`` command line serving :data:`SCORE_SCRIPT` on ``port``.

    :param port: the TCP port (the server binds it on every interface unless
        ``host`` is given to :class:`LocalServer`).
    :param workers: gunicorn worker processes (each loads the model).
    :returns: the argument list.
    """
    return [*_azmlinfsrv_executable(), *_server_args(port, workers)]


def _server_args(port: int, workers: int) -> list[str]:
    return [
        "--entry_script",
        str(SCORE_SCRIPT),
        "--port",
        str(port),
        "--worker_count",
        str(workers),
    ]


def server_environment(
    package_dir: str | Path,
    *,
    extra: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    base: Mapping[str, str] | None = None,
    threads: int = DEFAULT_THREADS,
) -> dict[str, str]:
    """The environment the server runs with: the model folder, workers, timeouts, limits.

    :param package_dir: the model folder (``AZUREML_MODEL_DIR``).
    :param extra: more variables (limits, blob allow-list; see
        :class:`~food_recognition.serving.scoring.Limits`).
    :param timeout_s: the longest one request may take (``SCORING_TIMEOUT_MS``).
    :param base: the variables to start from; ``os.environ`` by default.
    :param threads: threads per worker process (:func:`worker_environment`).
    :returns: the environment.
    """
    env = dict(os.environ if base is None else base)
    env.update(worker_environment(threads, env))
    env.update(
        {
            # Absolute, not resolved: a staged model folder is a link whose name matters.
            "AZUREML_MODEL_DIR": str(Path.cwd() / package_dir),
            "SCORING_TIMEOUT_MS": str(int(timeout_s * 1000)),
            # Worker boot loads the model; gunicorn would kill a slow boot at its default.
            "WORKER_TIMEOUT": env.get("WORKER_TIMEOUT", "600"),
            # The server reads AML_APP_ROOT/config.json as its own settings; the current
            # folder may hold an Azure workspace config.json, so point it at ours.
            "AML_APP_ROOT": str(SCORE_SCRIPT.parent),
            "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it).

    :param host: the interface to ask about.
    :returns: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@attrs.define
class LocalServer:
    """``azmlinfsrv`` serving a model package, as a context manager.

    >>> server = LocalServer("my-package", port=8123)  # doctest: +SKIP
    >>> with server:  # starts, waits until the model is loaded  # doctest: +SKIP
    ...     server.scoring_uri
    'http://127.0.0.1:8123/score'

    :param package_dir: the model package.
    :param port: the port; ``None`` picks a free one.
    :param host: the interface the server binds (``127.0.0.1`` keeps it on loopback).
    :param workers: worker processes, each with its own copy of the model.
    :param threads: threads per worker process (requests each has in flight).
    :param env: extra environment variables (limits, blob allow-list).
    :param timeout_s: the longest one request may take.
    :param log_lines: how many of the server's last log lines to keep for errors.
    """

    package_dir: Path = attrs.field(converter=Path)
    port: int | None = None
    host: str = "127.0.0.1"
    workers: int = 1
    threads: int = DEFAULT_THREADS
    env: Mapping[str, str] = attrs.field(factory=dict)
    timeout_s: float = 60.0
    log_lines: int = 200
    echo: bool = False
    _process: subprocess.Popen[str] | None = attrs.field(default=None, init=False)
    _log: collections.deque[str] = attrs.field(init=False)
    _reader: threading.Thread | None = attrs.field(default=None, init=False)
    _staging: tempfile.TemporaryDirectory[str] | None = attrs.field(default=None, init=False)

    @_log.default
    def _new_log(self) -> collections.deque[str]:
        return collections.deque(maxlen=self.log_lines)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        """The scoring route, ``http://HOST:PORT/score``."""
        return f"{self.base_url}/score"

    @property
    def health_uri(self) -> str:
        """The liveness route (``GET /``): it answers once the worker has run ``init()``."""
        return f"{self.base_url}/"

    @property
    def log(self) -> str:
        """The server's last log lines."""
        return "".join(self._log)

    def start(self) -> LocalServer:
        """Start the server (does not wait; see :meth:`wait_ready`).

        :returns: ``self``.
        :raises FileNotFoundError: the package folder does not exist.
        """
        if self._process is not None:
            return self
        if not self.package_dir.is_dir():
            raise FileNotFoundError(f"model package {self.package_dir} is not a folder")
        if self.port is None:
            self.port = free_port(self.host)
        command = azmlinfsrv_command(self.port, workers=self.workers)
        env = server_environment(
            self._stage_model_dir(),
            extra=self.env,
            timeout_s=self.timeout_s,
            threads=self.threads,
        )
        if self.host != "0.0.0.0":
            # azmlinfsrv always binds 0.0.0.0; a shim makes it bind only ``host``.
            command = [
                sys.executable,
                "-m",
                "food_recognition.serving._azmlinfsrv",
                self.host,
                *_server_args(self.port, self.workers),
            ]
        self._process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        return self

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Poll the health route until it answers, with a deadline.

        The route answers only after ``init()`` loaded the model; if ``init()``
        fails, the server exits and this raises with its log.

        :param timeout_s: the deadline.
        :raises ServerError: the server exited, or the deadline passed.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                self._drain()
                raise ServerError(
                    f"the inference server exited with code {code} before it was ready "
                    f"(init() failed?); its log ends:\n{self._tail()}"
                )
            try:
                with urllib.request.urlopen(self.health_uri, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the inference server at {self.base_url} was not ready after {timeout_s} s; "
                    f"its log ends:\n{self._tail()}"
                )
            # Ask the process, not the clock: wake early if it exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=0.25)

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server and its workers (SIGTERM, then SIGKILL after ``timeout_s``)."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 15)
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, 9)
                    process.wait(timeout=timeout_s)
            self._drain()
            self._process = None
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None

    def serve_forever(self) -> int:
        """Wait for the server to exit (the CLI; Ctrl-C stops it).

        :returns: the server's exit code.
        """
        assert self._process is not None
        try:
            return self._process.wait()
        finally:
            self.stop()

    def __enter__(self) -> LocalServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _stage_model_dir(self) -> Path:
        """The package as Azure ML mounts a registered model: ``<name>/<version>``.

        azmlinfsrv reads ``AZUREML_MODEL_DIR`` in Azure's layout: a folder whose name
        is the version number, else a folder of ``<model>/<version>`` folders
        (``appinsights_client.py``, ``_get_model_ids``). A package folder is neither,
        so every start logged a ``NotADirectoryError`` traceback on its files;
        ``<tmp>/<package>/1`` linking to the package is the single-model layout.
        """
        self._staging = tempfile.TemporaryDirectory(prefix="food-recognition-model-")
        version = Path(self._staging.name) / (self.package_dir.name or "model") / "1"
        version.parent.mkdir()
        try:
            version.symlink_to(self.package_dir.resolve(), target_is_directory=True)
        except OSError:  # no symlinks (Windows without the privilege): serve the folder itself
            return self.package_dir
        return version

    def _pump(self) -> None:
        process = self._process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._log.append(line)
            if self.echo:
                sys.stderr.write(line)

    def _drain(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _tail(self, lines: int = 40) -> str:
        return "".join(list(self._log)[-lines:])


def _azmlinfsrv_executable() -> list[str]:
    # The console script next to this interpreter, so a venv's server runs the venv's code.
    candidate = Path(sys.executable).with_name("azmlinfsrv")
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("azmlinfsrv")
    if found:
        return [found]
    return [sys.executable, "-m", "azureml_inference_server_http.amlserver"]
