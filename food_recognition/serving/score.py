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
:class:`~food_recognition.serving.scoring.Limits`): byte and pixel limits, the
Blob account and container allow-list.
"""

from __future__ import annotations

import logging
import os
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

from food_recognition.serving.scoring import Limits, RequestError, Scorer

__all__ = ["init", "run"]

logger = logging.getLogger("food_recognition.serving.score")

_scorer: Scorer | None = None


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
    scorer = Scorer(package, limits=limits, blob_reader=make_blob_reader(limits))
    scorer.warm_up()
    _scorer = scorer
    logger.info(
        "loaded %s (%d classes, %d px) in %.1f s; blob containers allowed: %s",
        package_dir,
        scorer.num_classes,
        package.input_size,
        time.perf_counter() - start,
        ", ".join(limits.blob_containers) or "none",
    )


@rawhttp  # type: ignore[untyped-decorator]
def run(request: Any) -> Any:
    """Answer one HTTP request to ``/score``.

    :param request: the server's request object (Flask).
    :returns: an ``AMLResponse``: 200 with the labels, a 4xx naming what was wrong
        with the request, 502 if blob storage failed, 500 only for a bug.
    """
    if _scorer is None:
        return _error("the model is not loaded (init() did not run)", 503)
    if request.method != "POST":
        return _error(
            'POST the image bytes (JPEG, PNG or WebP) or JSON {"image": "<base64>"} to /score',
            405,
        )
    limit = _scorer.limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _error(
            f"the request body is {request.content_length} bytes, over the limit of {limit}", 413
        )
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _error(f"the request body is over the limit of {limit} bytes", 413)
    try:
        answer = _scorer.handle(body, request.headers.get("Content-Type"), request.args.to_dict())
    except RequestError as error:
        return _error(error.message, error.status)
    except Exception:
        # A bug, not the client's fault: log the traceback, keep the worker serving.
        logger.exception("scoring failed")
        return _error("internal error while scoring; see the server log", 500)
    return AMLResponse(answer, 200, json_str=True)


def _error(message: str, status: int) -> Any:
    return AMLResponse({"message": message, "status": status}, status, json_str=True)
