"""The scoring core: one image request in, one labelled answer out.

:mod:`food_recognition.serving.score` (the script Azure ML's inference server
runs) is a thin adapter over :class:`Scorer`; everything that decides what a
request means and what comes back lives here, so it can be tested without a
server.

A request is one of

- the raw bytes of a JPEG, PNG or WebP image as the body,
- JSON ``{"image": "<base64>"}``,
- JSON ``{"blob": {"container": "...", "name": "..."}}``: read with the
  deployment's managed identity from the storage account configured in
  :data:`ENV_BLOB_ACCOUNT_URL`, and only from a container listed in
  :data:`ENV_BLOB_CONTAINERS`. A request can name neither an account nor a URL.

Options come as JSON fields or query parameters: ``top_k``, ``tta`` (a TTA
policy name, ``none`` for a single view), ``tta_threshold`` (adaptive TTA) and
``all_probabilities``. Every problem with a request is a :class:`RequestError`
carrying a 4xx status and a message that names the problem.

The parser bounds what it reads before Python's own limits are reached: JSON
nested deeper than :data:`MAX_JSON_DEPTH` is refused before it is parsed (a
2 KB body of brackets would otherwise raise ``RecursionError``), and numbers
with more than :data:`MAX_NUMBER_DIGITS` digits are refused as they are read
(Python refuses to convert integers of more than 4,300 digits).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import os
import re
import reprlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from food_recognition.errors import ServingError
from food_recognition.serving.batching import BatchSettings, MicroBatcher

if TYPE_CHECKING:
    from food_recognition.config import TTAConfig
    from food_recognition.package import ModelPackage

__all__ = [
    "DEFAULT_BLOB_TIMEOUT_S",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_READ_TIMEOUT_S",
    "ENV_BLOB_ACCOUNT_URL",
    "ENV_BLOB_CONNECTION_STRING",
    "ENV_BLOB_CONTAINERS",
    "ENV_BLOB_TIMEOUT_S",
    "ENV_MAX_BYTES",
    "ENV_MAX_PIXELS",
    "ENV_READ_TIMEOUT_S",
    "MAX_BLOB_NAME",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_DIGITS",
    "OPTION_NAMES",
    "BlobReader",
    "BlobRef",
    "Limits",
    "ModelDirError",
    "RequestError",
    "ScoreOptions",
    "ScoreRequest",
    "Scorer",
    "find_package_dir",
    "parse_request",
]

logger = logging.getLogger(__name__)

#: Largest accepted image, in bytes (after base64 decoding), unless :data:`ENV_MAX_BYTES` says.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
#: Environment variable: the byte limit of one image.
ENV_MAX_BYTES = "FOOD_RECOGNITION_MAX_BYTES"
#: Environment variable: the pixel limit of one image (width x height, read from the header).
ENV_MAX_PIXELS = "FOOD_RECOGNITION_MAX_PIXELS"
#: Environment variable: the Blob account URL requests may read from (``https://ACCOUNT.blob.core.windows.net``).
ENV_BLOB_ACCOUNT_URL = "FOOD_RECOGNITION_BLOB_ACCOUNT_URL"
#: Environment variable: the comma-separated containers requests may read from (none if unset).
ENV_BLOB_CONTAINERS = "FOOD_RECOGNITION_BLOB_CONTAINERS"
#: Environment variable: a connection string used instead of the managed identity (Azurite, tests).
ENV_BLOB_CONNECTION_STRING = "FOOD_RECOGNITION_BLOB_CONNECTION_STRING"
#: Environment variable: seconds the whole request body may take to arrive (then 408).
ENV_READ_TIMEOUT_S = "FOOD_RECOGNITION_READ_TIMEOUT_S"
#: Environment variable: seconds a blob read may take, connecting included (then 502/504).
ENV_BLOB_TIMEOUT_S = "FOOD_RECOGNITION_BLOB_TIMEOUT_S"
#: Default body deadline: an 8 MiB image over a 4 Mbit/s uplink, with room to spare.
DEFAULT_READ_TIMEOUT_S = 30.0
#: Default blob deadline: a healthy storage account answers in milliseconds.
DEFAULT_BLOB_TIMEOUT_S = 10.0
#: Deepest JSON a request may send; a valid one is two levels deep (``{"blob": {...}}``).
MAX_JSON_DEPTH = 8
#: Most digits a number in a request may have (option values are small numbers).
MAX_NUMBER_DIGITS = 32
#: Longest blob name Azure Storage accepts: "A blob name must be at least one character
#: long and cannot be more than 1,024 characters long"
#: (https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#blob-names).
MAX_BLOB_NAME = 1024

#: Options a request may set, as JSON fields or query parameters.
OPTION_NAMES = ("top_k", "tta", "tta_threshold", "all_probabilities")
_SOURCE_NAMES = ("image", "blob")
_NO_TTA = ("none", "identity")


class RequestError(ServingError):
    """A request the scorer refuses: a 4xx ``status`` and a message naming the problem.

    :param message: what was wrong and, where it helps, what to send instead.
    :param status: the HTTP status (400, 403, 404, 405, 413, 415).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ModelDirError(ServingError, RuntimeError):
    """The model folder holds no model package, or several; the message lists what it holds."""


@attrs.define(frozen=True)
class Limits:
    """What one request may cost.

    :param max_bytes: largest image in bytes (after base64 decoding).
    :param max_pixels: largest image in pixels, checked from the header before decoding.
    :param blob_containers: the containers a ``blob`` request may name.
    :param blob_account_url: the storage account ``blob`` requests read from.
    :param read_timeout_s: the longest the request body may take to arrive.
    :param blob_timeout_s: the longest a blob read may take.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = attrs.field(factory=lambda: _default_max_pixels())
    blob_containers: tuple[str, ...] = ()
    blob_account_url: str | None = None
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    blob_timeout_s: float = DEFAULT_BLOB_TIMEOUT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The limits the environment variables set (the deployment's configuration).

        :param environ: the variables to read; ``os.environ`` by default.
        :returns: the limits, defaults where a variable is unset.
        :raises ValueError: a limit variable that is not a positive integer.
        """
        env = os.environ if environ is None else environ
        containers = tuple(
            name.strip() for name in env.get(ENV_BLOB_CONTAINERS, "").split(",") if name.strip()
        )
        return cls(
            max_bytes=_positive_int_env(env, ENV_MAX_BYTES, DEFAULT_MAX_BYTES),
            max_pixels=_positive_int_env(env, ENV_MAX_PIXELS, _default_max_pixels()),
            blob_containers=containers,
            blob_account_url=env.get(ENV_BLOB_ACCOUNT_URL) or None,
            read_timeout_s=_positive_float_env(env, ENV_READ_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S),
            blob_timeout_s=_positive_float_env(env, ENV_BLOB_TIMEOUT_S, DEFAULT_BLOB_TIMEOUT_S),
        )

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: a base64 image in JSON is 4/3 of its bytes, plus the options."""
        return math.ceil(self.max_bytes * 4 / 3) + 64 * 1024


@attrs.define(frozen=True)
class BlobRef:
    """A blob a request names: a container from the allow-list and a blob name in it."""

    container: str
    name: str


@attrs.define(frozen=True)
class ScoreOptions:
    """The options of one request, checked.

    :param top_k: how many labels come back, best first.
    :param tta: the TTA to apply; ``None`` uses the package's own.
    :param all_probabilities: also return every class's probability.
    """

    top_k: int = 5
    tta: TTAConfig | None = None
    all_probabilities: bool = False


@attrs.define(frozen=True)
class ScoreRequest:
    """A parsed request: exactly one of ``image`` (bytes) and ``blob``, plus its options."""

    image: bytes | None
    blob: BlobRef | None
    options: Mapping[str, Any]


#: Reads a blob's bytes, refusing anything over ``max_bytes``.
BlobReader = Callable[[BlobRef, int], bytes]


def parse_request(
    body: bytes,
    content_type: str | None,
    query: Mapping[str, str],
    limits: Limits,
) -> ScoreRequest:
    """Work out what a request asks for, refusing anything malformed.

    The body is JSON when the content type says so or it starts with ``{``;
    anything else is taken as image bytes (checked when decoded).

    :param body: the request body (at most ``limits.max_body_bytes``).
    :param content_type: the ``Content-Type`` header, if any.
    :param query: the query parameters (options only).
    :param limits: the byte limit and the blob allow-list.
    :returns: the image bytes or blob reference, and the raw options.
    :raises RequestError: empty body, too many bytes, malformed JSON, unknown or
        missing fields, bad base64, a blob outside the allow-list.
    """
    options: dict[str, Any] = {}
    for key, value in query.items():
        if key not in OPTION_NAMES:
            raise RequestError(_unknown(key, "query parameter", OPTION_NAMES))
        options[key] = value
    if not body:
        raise RequestError(
            "the request body is empty; send the image bytes (JPEG, PNG or WebP) or JSON "
            '{"image": "<base64>"}'
        )
    mimetype = (content_type or "").split(";")[0].strip().lower()
    is_json = mimetype == "application/json" or mimetype.endswith("+json")
    if not is_json and not mimetype.startswith("image/") and body.lstrip()[:1] == b"{":
        is_json = True
    if not is_json:
        if len(body) > limits.max_bytes:
            raise RequestError(_too_many_bytes(len(body), limits.max_bytes), 413)
        return ScoreRequest(image=body, blob=None, options=options)
    return _parse_json(body, options, limits)


@attrs.define
class Scorer:
    """Labels images with a loaded model package.

    A request's image is checked against the limits and decoded here; the rest
    (transform, forward pass, TTA, top-k) is the package's own
    :meth:`~food_recognition.package.ModelPackage.classify`, the path every
    caller takes from an image to its top-k.

    :param package: the loaded :class:`~food_recognition.package.ModelPackage`.
    :param limits: what one request may cost.
    :param blob_reader: reads an allowed blob; ``None`` refuses blob requests.
    :param predict_fn: maps float32 images ``[N, S, S, 3]`` in [0, 255] to
        probabilities; by default the package's traced
        :meth:`~food_recognition.package.ModelPackage.forward`.
    :param batching: how concurrent requests share forward passes; ``None``
        calls ``predict_fn`` once per request.
    """

    package: ModelPackage
    limits: Limits = attrs.field(factory=Limits)
    blob_reader: BlobReader | None = None
    predict_fn: Callable[[np.ndarray], np.ndarray] | None = None
    batching: BatchSettings | None = None
    _batcher: MicroBatcher | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.predict_fn is None:
            self.predict_fn = self.package.forward
        if self.batching is not None and self.batching.enabled:
            self._batcher = MicroBatcher(self.predict_fn, self.batching)
            self.predict_fn = self._batcher

    @property
    def batcher(self) -> MicroBatcher | None:
        """The micro-batcher in front of the model, if batching is on."""
        return self._batcher

    @property
    def num_classes(self) -> int:
        """How many classes the model tells apart."""
        return len(self.package.classes)

    def warm_up(self) -> None:
        """Score one small generated JPEG, so the first request pays for no tracing or loading."""
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (48, 40), (128, 96, 64)).save(buffer, "JPEG")
        # Traces the transform and the forward pass before threads share them.
        self.score(buffer.getvalue(), ScoreOptions(top_k=1, tta=_identity_tta()))

    def handle(
        self, body: bytes, content_type: str | None, query: Mapping[str, str]
    ) -> dict[str, Any]:
        """Answer one request.

        :param body: the request body.
        :param content_type: its ``Content-Type``.
        :param query: the query parameters.
        :returns: the answer (see :meth:`score`).
        :raises RequestError: anything wrong with the request (a 4xx).
        """
        start = time.perf_counter()
        request = parse_request(body, content_type, query, self.limits)
        options = self.check_options(request.options)
        if request.blob is not None:
            if self.blob_reader is None:
                raise RequestError(
                    "this deployment reads no blobs: set "
                    f"{ENV_BLOB_ACCOUNT_URL} and {ENV_BLOB_CONTAINERS} to allow them",
                    403,
                )
            data = self.blob_reader(request.blob, self.limits.max_bytes)
        else:
            assert request.image is not None
            data = request.image
        if self._batcher is None:
            return self.score(data, options, started=start)
        # From here the request is on its way to the model: a forming batch may wait for it.
        with self._batcher.arriving():
            return self.score(data, options, started=start)

    def check_options(self, raw: Mapping[str, Any]) -> ScoreOptions:
        """Check the options of a request (JSON values or query strings).

        :param raw: option name to value.
        :returns: the checked options.
        :raises RequestError: an unknown option or a value out of range.
        """
        for key in raw:
            if key not in OPTION_NAMES:
                raise RequestError(_unknown(key, "option", OPTION_NAMES))
        top_k = _as_int(raw.get("top_k", min(5, self.num_classes)), "top_k")
        if not 1 <= top_k <= self.num_classes:
            raise RequestError(f"top_k={top_k} is out of range; choose 1 to {self.num_classes}")
        all_probabilities = _as_bool(raw.get("all_probabilities", False), "all_probabilities")
        tta = self._tta(raw.get("tta"), raw.get("tta_threshold"))
        return ScoreOptions(top_k=top_k, tta=tta, all_probabilities=all_probabilities)

    def score(
        self, data: bytes, options: ScoreOptions, *, started: float | None = None
    ) -> dict[str, Any]:
        """Decode one image and label it.

        :param data: the image bytes.
        :param options: checked options.
        :param started: ``time.perf_counter()`` when the request arrived.
        :returns: ``{"predictions": [{"class", "label", "probability"}...],
            "tta": {...}, "timing_ms": {...}}`` and, if asked, ``"probabilities"``
            (class name to probability).
        :raises RequestError: the bytes are not a whole image, or too large.
        """
        start = time.perf_counter() if started is None else started
        decode_start = time.perf_counter()
        pixels = decode_image(data, self.limits)
        predict_start = time.perf_counter()
        tta = self.package.config.tta if options.tta is None else options.tta
        single = tta.policy == "identity"
        (prediction,) = self.package.classify(
            [pixels],
            top_k=options.top_k,
            tta=False if single else tta,
            predict_fn=self.predict_fn,
        )
        done = time.perf_counter()
        tta_info: dict[str, Any] = {"policy": tta.policy}
        if not single:
            tta_info["threshold"] = tta.threshold
        tta_info.update(views=prediction.views, extra_views=prediction.extra_views)
        answer: dict[str, Any] = {
            "predictions": [
                {"class": score.name, "label": score.label, "probability": score.probability}
                for score in prediction.top_k
            ],
            "tta": tta_info,
            "image": {"width": int(pixels.shape[1]), "height": int(pixels.shape[0])},
            "timing_ms": {
                "decode": _ms(predict_start - decode_start),
                "predict": _ms(done - predict_start),
                "total": _ms(done - start),
            },
        }
        if options.all_probabilities:
            answer["probabilities"] = {
                name: float(p)
                for name, p in zip(self.package.classes, prediction.probabilities, strict=True)
            }
        return answer

    def _tta(self, policy: Any, threshold: Any) -> TTAConfig | None:
        if policy is None and threshold is None:
            return None
        from food_recognition.config import TTAConfig

        base = self.package.config.tta
        if policy is not None:
            if not isinstance(policy, str) or not policy:
                raise RequestError(f"tta={_show(policy)} must be a TTA policy name (or 'none')")
            name = "identity" if policy.lower() in _NO_TTA else policy
            _check_tta_policy(name)
            base = base if name == base.policy else TTAConfig(policy=name, merge=base.merge)
        if threshold is not None:
            value = _as_float(threshold, "tta_threshold")
            if not 0.0 <= value <= 1.0:
                raise RequestError(f"tta_threshold={value} is out of range; choose 0 to 1")
            if base.policy == "identity":
                raise RequestError(
                    "tta_threshold needs a TTA policy with extra views; "
                    "name one with tta (e.g. tta=flip)"
                )
            base = attrs.evolve(base, threshold=value)
        return base


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """Decode image bytes to uint8 ``[H, W, 3]``, refusing what is too large before decoding.

    :param data: JPEG, PNG or WebP bytes.
    :param limits: the byte and pixel limits.
    :returns: the upright RGB pixels.
    :raises RequestError: 413 over a limit; 400 empty, not an image, or truncated.
    """
    from food_recognition.datasets.images import ImageError, load_image_bytes

    if not data:
        raise RequestError("the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise RequestError(_too_many_bytes(len(data), limits.max_bytes), 413)
    size = _header_size(data)
    if size is not None and size[0] * size[1] > limits.max_pixels:
        raise RequestError(
            f"the image is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, over the limit of "
            f"{limits.max_pixels}; send a smaller image",
            413,
        )
    try:
        return load_image_bytes(data, max_pixels=limits.max_pixels)
    except ImageError as error:
        raise RequestError(f"the image could not be read: {error}") from None


def find_package_dir(model_dir: str | Path) -> Path:
    """The model package inside Azure ML's model folder.

    Azure ML mounts a registered folder model at ``AZUREML_MODEL_DIR/<folder>``;
    a local server points straight at the package. Either works.

    :param model_dir: the package itself, or a folder holding it (up to three levels down).
    :returns: the folder that holds the package's model file.
    :raises ModelDirError: no package or several, with what the folder holds.
    """
    from food_recognition.package import MODEL_FILE

    root = Path(model_dir)
    if not root.is_dir():
        raise ModelDirError(f"model folder {root} does not exist or is not a folder")
    if (root / MODEL_FILE).is_file():
        return root
    found = sorted(
        path.parent
        for depth in ("*/", "*/*/", "*/*/*/")
        for path in root.glob(f"{depth}{MODEL_FILE}")
    )
    if len(found) == 1:
        return found[0]
    listing = ", ".join(sorted(p.name for p in root.iterdir())[:20]) or "nothing"
    if not found:
        raise ModelDirError(
            f"no model package (a folder with {MODEL_FILE}) under {root}; it holds: {listing}"
        )
    raise ModelDirError(
        f"several model packages under {root}: {', '.join(map(str, found))}; "
        "point AZUREML_MODEL_DIR at one"
    )


# -- helpers ------------------------------------------------------------------------


def _parse_json(body: bytes, options: dict[str, Any], limits: Limits) -> ScoreRequest:
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise RequestError(
            f"the JSON body is nested {depth} levels deep, over the limit of {MAX_JSON_DEPTH}; "
            'send one object like {"image": "<base64>", "top_k": 3}'
        )
    try:
        document = json.loads(
            body, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(
            f"the body is not valid JSON ({error}); send JSON like "
            '{"image": "<base64>", "top_k": 3} or the raw image bytes'
        ) from None
    except RecursionError:  # json_depth bounds this already; belt and braces
        raise RequestError("the JSON body is nested too deeply; send one flat object") from None
    if not isinstance(document, dict):
        raise RequestError(
            f"the JSON body must be an object, got {type(document).__name__}; "
            'send {"image": "<base64>"} or {"blob": {"container": ..., "name": ...}}'
        )
    allowed = _SOURCE_NAMES + OPTION_NAMES
    for key in document:
        if key not in allowed:
            raise RequestError(_unknown(key, "field", allowed))
    sources = [key for key in _SOURCE_NAMES if key in document]
    if len(sources) != 1:
        raise RequestError(
            'the JSON body needs exactly one of "image" (base64 bytes) and "blob" '
            '({"container": ..., "name": ...})'
        )
    options.update({key: document[key] for key in OPTION_NAMES if key in document})
    if sources[0] == "image":
        return ScoreRequest(image=_b64(document["image"], limits), blob=None, options=options)
    return ScoreRequest(image=None, blob=_blob_ref(document["blob"], limits), options=options)


def _b64(value: Any, limits: Limits) -> bytes:
    if not isinstance(value, str):
        raise RequestError(f'"image" must be a base64 string, got {type(value).__name__}')
    if not value:
        raise RequestError('"image" is empty; send the base64 of the image bytes')
    if len(value) > limits.max_body_bytes:
        raise RequestError(_too_many_bytes(len(value) * 3 // 4, limits.max_bytes), 413)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise RequestError(f'"image" is not valid base64 ({error})') from None
    if len(data) > limits.max_bytes:
        raise RequestError(_too_many_bytes(len(data), limits.max_bytes), 413)
    return data


def _blob_ref(value: Any, limits: Limits) -> BlobRef:
    if not isinstance(value, dict) or set(value) != {"container", "name"}:
        raise RequestError(
            '"blob" must be an object with exactly "container" and "name" '
            "(an account or URL cannot be named)"
        )
    container, name = value["container"], value["name"]
    if not isinstance(container, str) or not isinstance(name, str) or not container or not name:
        raise RequestError('"blob" container and name must be non-empty strings')
    if container not in limits.blob_containers:
        allowed = ", ".join(limits.blob_containers) or "none"
        raise RequestError(
            f"container {container!r} is not one this deployment may read; allowed: {allowed}",
            403,
        )
    if len(name) > MAX_BLOB_NAME:
        raise RequestError(
            f"blob name is {len(name)} characters long, over Azure Storage's limit of "
            f"{MAX_BLOB_NAME} (https://learn.microsoft.com/rest/api/storageservices/"
            "naming-and-referencing-containers--blobs--and-metadata#blob-names)"
        )
    parts = name.split("/")
    if (
        name.startswith("/")
        or "\\" in name
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(ch) < 32 for ch in name)
    ):
        raise RequestError(
            f"blob name {name[:100]!r} is not allowed: no empty, '.' or '..' path segments, "
            "backslashes or control characters"
        )
    return BlobRef(container=container, name=name)


def _check_tta_policy(name: str) -> None:
    if name == "identity":
        return
    from food_recognition.tta import get_tta_policy

    try:
        get_tta_policy(name)
    except Exception as error:  # the registry's lookup error lists the known names
        raise RequestError(f"tta={_show(name)}: {_one_line(str(error))}") from None


#: An integer as a request may write it: ASCII digits only ("²".isdigit() is true, int("²") fails).
_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{MAX_NUMBER_DIGITS}}}")
#: A decimal number in ASCII, bounded in length before float() sees it.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
#: A JSON string (escapes included), removed before brackets are counted.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPENERS = np.frombuffer(b"[{", np.uint8)
_CLOSERS = np.frombuffer(b"]}", np.uint8)
_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlevel = 2


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest, without parsing it.

    Counted on the text with its strings removed, so a bracket inside a string
    does not count; vectorised, so a large body costs milliseconds.

    >>> json_depth(b'{"blob": {"name": "a[[[.jpg"}}')
    2

    :param body: the JSON text (need not be valid).
    :returns: the deepest nesting, 0 for a scalar.
    """
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', body), np.uint8)
    if skeleton.size == 0:
        return 0
    steps = np.isin(skeleton, _OPENERS).astype(np.int64) - np.isin(skeleton, _CLOSERS)
    return int(np.cumsum(steps).max(initial=0))


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RequestError(f"{name}={_show(value)} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    raise RequestError(f"{name}={_show(value)} must be an integer (ASCII digits)")


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise RequestError(f"{name}={_show(value)} must be a number")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_DIGITS or not _NUMBER.fullmatch(text):
            raise RequestError(f"{name}={_show(value)} must be a finite number like 0.5")
        value = text
    elif not isinstance(value, (int, float)):
        raise RequestError(f"{name}={_show(value)} must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f"{name}={_show(value)} must be a number") from None
    if not math.isfinite(result):
        raise RequestError(f"{name}={_show(value)} must be a finite number")
    return result


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    raise RequestError(f"{name}={_show(value)} must be true or false")


def _json_int(text: str) -> int:
    # json.loads calls this for every integer; int() of 4,301 digits would raise ValueError.
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise RequestError(
            f"a number in the JSON has {len(text.lstrip('-'))} digits, over the limit of "
            f"{MAX_NUMBER_DIGITS}; options are small numbers (top_k: 3, tta_threshold: 0.5)"
        )
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS + 8:
        raise RequestError(
            f"a number in the JSON is {len(text)} characters long; options are small numbers "
            "(top_k: 3, tta_threshold: 0.5)"
        )
    return float(text)


def _json_constant(text: str) -> float:
    raise RequestError(f"{text} is not a JSON number; send a finite number")


def _show(value: Any) -> str:
    # A request's value echoed back: short, one line, and safe for any nesting.
    try:
        return _one_line(_SHOW.repr(value))
    except Exception:  # a value whose repr fails is still named by its type
        return f"<{type(value).__name__}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _unknown(key: str, what: str, allowed: tuple[str, ...]) -> str:
    return f"unknown {what} {_show(str(key))}; allowed: {', '.join(allowed)}"


def _too_many_bytes(size: int, limit: int) -> str:
    return f"the image is {size} bytes, over the limit of {limit}; send a smaller image"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _positive_int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _INTEGER.fullmatch(text) or int(text) <= 0:
        raise ValueError(f"{name}={raw!r} must be a positive integer")
    return int(text)


def _positive_float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not _NUMBER.fullmatch(text) or not 0 < float(text) < math.inf:
        raise ValueError(f"{name}={raw!r} must be a positive number of seconds")
    return float(text)


def _identity_tta() -> TTAConfig:
    from food_recognition.config import TTAConfig

    return TTAConfig(policy="identity")


def _default_max_pixels() -> int:
    from food_recognition.datasets.images import MAX_PIXELS

    return int(MAX_PIXELS)


def _header_size(data: bytes) -> tuple[int, int] | None:
    # PIL reads only the header here; a decompression bomb is refused before any decoding.
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError as error:
        raise RequestError(f"the image has too many pixels: {error}", 413) from None
    except Exception:  # not an image: load_image_bytes says why
        return None
    return int(width), int(height)
