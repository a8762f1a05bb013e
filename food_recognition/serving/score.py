"""The scoring script Azure ML's inference server runs: ``init()`` and ``run(request)``.

The same file serves locally (``food-recognition serve``, which starts
``azmlinfsrv --entry_script`` on this file) and on an Azure ML online endpoint
(the deployment's ``code_configuration.scoring_script``).

- ``init()`` loads the model package from ``AZUREML_MODEL_DIR`` (the package
  itself or a folder holding it) and runs the model once. It raises if anything
  is missing, so the server exits instead of answering health probes without a
  model: the server is ready exactly when the model is loaded.
- ``run(request)`` is in raw-HTTP mode: it gets the whole request, so the body
  can be image bytes, and it answers with its own status code: 200 with the
  labels, or a 4xx whose JSON ``message`` says what was wrong with the request.

Configuration comes from environment variables only (see
:class:`~food_recognition.serving.scoring.Limits` and
:class:`~food_recognition.serving.batching.BatchSettings`): byte and pixel
limits, the Blob account and container allow-list, the body and blob timeouts,
micro-batching.

The body is read here, not by the server, with a deadline: a client that sends
half a body and stalls gets a 408 when the deadline passes and holds one
thread of a threaded worker meanwhile, never the worker
(:func:`~food_recognition.serving.server.worker_environment`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

try:  # the inference server's own module, where @rawhttp sets its flag
    from azureml_inference_server_http.api.aml_request import (  # type: ignore[import-untyped]
        rawhttp,
    )
    from azureml_inference_server_http.api.aml_response import (  # type: ignore[import-untyped]
        AMLResponse,
    )
except ImportError:  # pragma: no cover - older images ship the contrib alias only
    from azureml.contrib.services.aml_request import rawhttp
    from azureml.contrib.services.aml_response import AMLResponse

import attrs
import numpy as np

from food_recognition.serving.batching import (
    BATCH_GAIN_NEEDED,
    ENV_BATCH_SIZE,
    BatchSettings,
    batch_gain,
)
from food_recognition.serving.scoring import Limits, RequestError, Scorer

try:  # what gunicorn raises reading a malformed body (a bad chunk size, a cut-off chunk)
    from gunicorn.http.errors import (  # type: ignore[import-untyped]
        ParseException as _BodyParseError,
    )
except ImportError:  # pragma: no cover - another WSGI server

    class _BodyParseError(Exception):  # type: ignore[no-redef]
        """Never raised: stands in for gunicorn's parse errors."""


__all__ = ["DRAIN_LIMIT", "init", "read_body", "run"]

logger = logging.getLogger("food_recognition.serving.score")

_scorer: Scorer | None = None

#: The most of a too-large body read and thrown away before the 413 goes out. Closing a
#: socket with unread bytes makes the kernel send a reset, and a client still sending
#: its body then sees "connection reset" instead of the answer; past this much a reset
#: is the lesser evil.
DRAIN_LIMIT = 64 * 1024 * 1024


def init() -> None:
    """Load the model package from ``AZUREML_MODEL_DIR`` and warm the model up.

    :raises RuntimeError: ``AZUREML_MODEL_DIR`` is not set.
    :raises food_recognition.serving.scoring.ModelDirError: no package in it.
    """
    global _scorer
    from food_recognition.package import load_package
    from food_recognition.serving.blobs import make_blob_reader
    from food_recognition.serving.scoring import find_package_dir

    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if not model_dir:
        raise RuntimeError(
            "AZUREML_MODEL_DIR is not set; point it at a model package "
            "(azmlinfsrv --model_dir PACKAGE, or food-recognition serve PACKAGE)"
        )
    start = time.perf_counter()
    package_dir = find_package_dir(model_dir)
    package = load_package(package_dir)
    limits = Limits.from_env()
    predict = package.forward
    batching, gain = _default_batching(predict, package.input_size)
    scorer = Scorer(
        package,
        limits=limits,
        blob_reader=make_blob_reader(limits),
        predict_fn=predict,
        batching=batching,
    )
    scorer.warm_up()
    _scorer = scorer
    measured = "" if gain is None else f" (a batch cost 1/{gain:.2f} per image of single images)"
    logger.info(
        "loaded %s (%d classes, %d px) in %.1f s; blob containers allowed: %s; "
        "micro-batching: %s%s",
        package_dir,
        scorer.num_classes,
        package.input_size,
        time.perf_counter() - start,
        ", ".join(limits.blob_containers) or "none",
        f"up to {batching.max_batch} images, {batching.max_wait_s * 1000:g} ms wait"
        if batching.enabled
        else f"off (set {ENV_BATCH_SIZE} to force it)",
        measured,
    )


@rawhttp  # type: ignore[untyped-decorator]
def run(request: Any) -> Any:
    """Answer one HTTP request to ``/score``.

    :param request: the server's request object (Flask).
    :returns: an ``AMLResponse``: 200 with the labels, a 4xx naming what was wrong
        with the request (408 when the body did not arrive in time), 502 or 504 if
        blob storage failed or did not answer in time, 500 only for a bug.
    """
    if _scorer is None:
        return _error("the model is not loaded (init() did not run)", 503)
    if request.method != "POST":
        return _error(
            'POST the image bytes (JPEG, PNG or WebP) or JSON {"image": "<base64>"} to /score',
            405,
        )
    try:
        body = read_body(request.environ, _scorer.limits)
        answer = _scorer.handle(body, request.headers.get("Content-Type"), request.args.to_dict())
    except RequestError as error:
        return _error(error.message, error.status)
    except Exception:
        # A bug, not the client's fault: log the traceback, keep the worker serving.
        logger.exception("scoring failed")
        return _error("internal error while scoring; see the server log", 500)
    return AMLResponse(answer, 200, json_str=True)


def _default_batching(
    predict: Any, input_size: int, environ: dict[str, str] | None = None
) -> tuple[BatchSettings, float | None]:
    """The batch settings asked for; if none were, batching where this machine gains by it.

    :returns: the settings and the measured gain (``None`` when not measured).
    """
    env = dict(os.environ if environ is None else environ)
    settings = BatchSettings.from_env(env)
    if not settings.enabled or env.get(ENV_BATCH_SIZE, "").strip():
        return settings, None
    sample = np.zeros((1, input_size, input_size, 3), np.float32)
    gain = batch_gain(predict, sample, settings.max_batch)
    if gain < BATCH_GAIN_NEEDED:
        settings = attrs.evolve(settings, max_batch=1)
    return settings, gain


def read_body(environ: dict[str, Any], limits: Limits) -> bytes:
    """Read a request's body within ``limits.read_timeout_s`` and ``limits.max_body_bytes``.

    Under gunicorn the deadline is enforced on the client's socket: every read
    waits at most the time left, and when the deadline passes the socket's read
    side is shut down, which wakes a read that is still waiting. A body over the
    limit is read and discarded (as far as the deadline and :data:`DRAIN_LIMIT`
    allow) before the 413 goes out, so the client, still sending, reads the
    answer instead of a connection reset.

    :param environ: the WSGI environment of the request.
    :param limits: the byte limit and the deadline.
    :returns: the body.
    :raises RequestError: 408 the body did not arrive in time, 413 it is too
        large, 400 it is malformed (a bad chunked encoding) or cut short.
    """
    limit = limits.max_body_bytes
    declared = _content_length(environ)
    stream = environ["wsgi.input"]
    with _deadline(environ.get("gunicorn.socket"), limits.read_timeout_s) as expired:
        try:
            if declared is not None and declared > limit:
                _discard(stream, min(declared, DRAIN_LIMIT))
                raise RequestError(
                    f"the request body is {declared} bytes, over the limit of {limit}", 413
                )
            body = _read_at_most(stream, limit + 1 if declared is None else declared)
            if len(body) > limit:  # a chunked body: its size shows only as it is read
                _discard(stream, DRAIN_LIMIT)
                raise RequestError(f"the request body is over the limit of {limit} bytes", 413)
        except (TimeoutError, OSError) as error:
            if expired.is_set() or isinstance(error, TimeoutError):
                raise _timed_out(limits) from None
            raise RequestError(f"the request body could not be read ({error})") from None
        except _BodyParseError as error:
            if expired.is_set():
                raise _timed_out(limits) from None
            raise RequestError(
                f"the request body is malformed ({type(error).__name__}: {str(error)[:80]}); "
                "send a Content-Length body or a well-formed chunked one"
            ) from None
        if expired.is_set():
            raise _timed_out(limits)
    if declared is not None and len(body) < declared:
        raise RequestError(
            f"the request body ended after {len(body)} of the {declared} bytes its "
            "Content-Length announced"
        )
    return body


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    # gunicorn refuses a malformed Content-Length itself; anything else is read as chunked.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _read_at_most(stream: Any, size: int) -> bytes:
    pieces, total = [], 0
    while total < size:
        piece = stream.read(min(size - total, 256 * 1024))
        if not piece:
            break
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)


def _discard(stream: Any, size: int) -> None:
    # Errors end the drain quietly: the 413 is the answer whatever the rest looked like.
    with contextlib.suppress(Exception):
        while size > 0:
            piece = stream.read(min(size, 256 * 1024))
            if not piece:
                return
            size -= len(piece)


@contextlib.contextmanager
def _deadline(sock: Any, seconds: float) -> Any:
    """Bound every read of ``sock`` until the block ends; yield an event set on expiry."""
    expired = threading.Event()
    if not isinstance(sock, socket.socket):  # not gunicorn: the server bounds its own reads
        yield expired
        return
    previous = sock.gettimeout()
    # Each recv() waits at most this long; the timer below ends a trickle that keeps
    # every single recv() under it.
    sock.settimeout(seconds)
    done = threading.Lock()
    finished = False

    def expire() -> None:
        with done:
            if finished:  # the read ended just as the timer fired: leave the socket be
                return
            expired.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()
        with done:
            finished = True
            with contextlib.suppress(OSError):
                sock.settimeout(previous)


def _timed_out(limits: Limits) -> RequestError:
    return RequestError(
        f"the request body did not arrive within {limits.read_timeout_s:g} s; "
        "send the whole body at once",
        408,
    )


def _error(message: str, status: int) -> Any:
    return AMLResponse({"message": message, "status": status}, status, json_str=True)
