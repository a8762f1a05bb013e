"""Azurite, the local Blob Storage emulator, started and stopped from Python.

The demo and the tests use it where Azure Blob Storage would be. Azurite comes
from npm (``npm ci`` in the repository installs it into ``node_modules/``); its
development account and key are public, documented values that only work
against the emulator.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from food_recognition.errors import CloudError
from food_recognition.serving.server import free_port

# Azurite's published development account: not a secret, valid only locally.
_DEV_ACCOUNT = "devstoreaccount1"
_DEV_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class AzuriteNotFoundError(CloudError, FileNotFoundError):
    """The ``azurite-blob`` executable is not installed."""


@attrs.define(frozen=True)
class Azurite:
    """A running Azurite blob service.

    :param host: the loopback address it listens on.
    :param port: its blob port.
    :param process: the server process.
    """

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def account_url(self) -> str:
        """The blob endpoint, ``http://127.0.0.1:<port>/devstoreaccount1``."""
        return f"http://{self.host}:{self.port}/{_DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """A connection string for azure-storage-blob (the public development key)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={_DEV_ACCOUNT};"
            f"AccountKey={_DEV_KEY};BlobEndpoint={self.account_url};"
        )


def find_azurite(start: Path | None = None) -> Path:
    """Where ``azurite-blob`` is: ``node_modules/.bin`` above ``start``, else ``PATH``.

    :raises AzuriteNotFoundError: with the command that installs it.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        candidate = folder / "node_modules" / ".bin" / "azurite-blob"
        if candidate.exists():
            return candidate
    found = shutil.which("azurite-blob")
    if found:
        return Path(found)
    raise AzuriteNotFoundError(
        "azurite-blob not found: run `npm ci` in the repository (or `npm install -g azurite`)"
    )


@contextlib.contextmanager
def run_azurite(location: str | Path | None = None, *, timeout: float = 60.0) -> Iterator[Azurite]:
    """Start Azurite's blob service on a free loopback port; stop it on exit.

    :param location: where Azurite keeps its data (a temporary folder by default).
    :param timeout: seconds to wait for it to accept connections.
    :raises AzuriteNotFoundError: Azurite is not installed.
    :raises RuntimeError: it exited or did not start listening in time.
    """
    executable = find_azurite()
    with contextlib.ExitStack() as stack:
        if location is None:
            location = stack.enter_context(tempfile.TemporaryDirectory(prefix="azurite-"))
        port = free_port()
        process = subprocess.Popen(
            [
                str(executable),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
            ],
            stdout=subprocess.PIPE,  # a few status lines (--silent drops the access log)
            stderr=subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:
            _wait_for_port("127.0.0.1", port, process, timeout)
            yield Azurite("127.0.0.1", port, process)
        finally:
            _stop(process)


#: What Azurite prints once its stores are flushed and its server is closed.
_CLOSED = b"successfully closed"


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop Azurite: SIGTERM, wait until it says it has closed, then make sure it is gone.

    Azurite 3 flushes and closes on SIGTERM but keeps its process alive (a timer
    in its metadata store), so waiting for the process to exit would always run
    into the timeout. Once it has printed :data:`_CLOSED`, nothing is lost by
    killing it.
    """
    process.terminate()
    deadline = time.monotonic() + timeout
    seen = b""
    if process.stdout is not None:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while _CLOSED not in seen and (left := deadline - time.monotonic()) > 0:
                if not selector.select(left):
                    break
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:  # it exited
                    break
                seen = seen[-len(_CLOSED) :] + chunk
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Azurite exited with code {process.returncode}: {stderr.strip()}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)  # polling interval while waiting for the port, not a fixed wait
    raise RuntimeError(f"Azurite did not listen on {host}:{port} within {timeout:.0f} s")
