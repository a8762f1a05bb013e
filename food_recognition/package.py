"""The model package: one folder that serving, registration and evaluation consume.

Layout::

    model.keras        the Keras model (no optimizer state), safe-mode loadable
    labels.json        {"classes": [...], "human_labels": [...]}
    config.yaml        the RunConfig that built it (preprocessing, TTA policy, ...)
    metrics.json       final metrics, name -> number
    plugins.json       the plugin distributions the model needs (name, version)
    history.json       per-epoch training metrics, name -> list (optional)
    evaluation.json    the evaluation report (optional, written by evaluation)
    plots/*.png        evaluation plots (optional)

Loading needs nothing but this folder, Keras, and the plugin distributions
``plugins.json`` names (a model with a plugin's backbone contains that
plugin's layers): every custom layer is a registered Keras serializable (a
plugin's are registered by its ``food_recognition_load_layers`` hook), and the
model is loaded with ``keras.saving.load_model(..., safe_mode=True)`` (no
pickle, no Lambda layers). A package naming a distribution that is not
installed is refused in one line naming it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import attrs
import numpy as np
import numpy.typing as npt

from food_recognition.config import ConfigError, RunConfig, TTAConfig, load_yaml, save_yaml
from food_recognition.errors import FoodRecognitionError
from food_recognition.plugins.manager import get_plugin_manager
from food_recognition.plugins.resolve import (
    PluginDistribution,
    ResolvedRun,
    required_distributions,
    resolve,
)
from food_recognition.plugins.travel import PLUGINS_FILE, read_plugins_file

if TYPE_CHECKING:
    import keras
    from PIL import Image

__all__ = [
    "CONFIG_FILE",
    "EVALUATION_FILE",
    "HISTORY_FILE",
    "LABELS_FILE",
    "METRICS_FILE",
    "MODEL_FILE",
    "PLOTS_DIR",
    "PLUGINS_FILE",
    "REQUIRED_FILES",
    "ClassScore",
    "ModelPackage",
    "PackageError",
    "Prediction",
    "check_package",
    "check_plugins",
    "is_package",
    "load_package",
    "resolve_package",
    "resolve_tta",
    "save_package",
]

MODEL_FILE = "model.keras"
LABELS_FILE = "labels.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"
EVALUATION_FILE = "evaluation.json"
PLOTS_DIR = "plots"

#: The files a folder must hold to be a model package.
REQUIRED_FILES = (MODEL_FILE, LABELS_FILE, CONFIG_FILE)
_REQUIRED = REQUIRED_FILES


class PackageError(FoodRecognitionError, ValueError):
    """A folder is not a usable model package; the message names the path and the problem."""


@attrs.define(frozen=True)
class ClassScore:
    """One class and its probability, one row of a :class:`Prediction`'s top-k.

    :param index: the class's output index.
    :param name: the class name (``apple_pie``).
    :param label: its readable name (``Apple pie``).
    :param probability: the model's probability for it.
    """

    index: int
    name: str
    label: str
    probability: float


@attrs.define(frozen=True, eq=False)
class Prediction:
    """What :meth:`ModelPackage.classify` says about one image.

    ``print(prediction)`` shows the top classes in one line; the fields are:

    :param label: the readable name of the most probable class.
    :param index: its output index.
    :param class_name: its class name.
    :param probability: its probability.
    :param top_k: the ``top_k`` most probable classes, most probable first.
    :param probabilities: float32 ``[C]``, every class's probability.
    :param views: the TTA policy's views per image; 1 for a single view.
    :param extra_views: whether this image took the policy's views (``False``
        for a single view, and under adaptive TTA for an image the plain pass
        was sure enough about).
    """

    label: str
    index: int
    class_name: str
    probability: float
    top_k: tuple[ClassScore, ...]
    probabilities: npt.NDArray[np.float32] = attrs.field(repr=False)
    views: int = 1
    extra_views: bool = False

    def __str__(self) -> str:
        return ", ".join(f"{score.label} {100 * score.probability:.1f}%" for score in self.top_k)


@attrs.define(frozen=True, eq=False)
class ModelPackage:
    """A loaded model package.

    :param path: the package folder.
    :param model: the Keras model: float32 images ``[N, S, S, 3]`` in ``[0, 255]``
        to probabilities ``[N, C]``.
    :param classes: class names, in output order.
    :param human_labels: readable names, one per class.
    :param config: the :class:`~food_recognition.config.RunConfig` that built it;
        ``config.tta`` is serving's default TTA policy.
    :param input_size: ``S``, the square image size the model takes.
    :param metrics: final metrics, name -> number.
    :param history: per-epoch training metrics (``{"loss": [...], ...}``), or empty.
    """

    path: Path
    model: keras.Model
    classes: tuple[str, ...]
    human_labels: tuple[str, ...]
    config: RunConfig
    input_size: int
    metrics: dict[str, float] = attrs.field(factory=dict)
    history: dict[str, list[float]] = attrs.field(factory=dict)
    # The traced transform and forward pass, made on first use and shared by threads.
    _compiled: dict[str, Callable[[Any], npt.NDArray[np.float32]]] = attrs.field(
        factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    @property
    def num_classes(self) -> int:
        """How many classes the model tells apart."""
        return len(self.classes)

    def prepare(self, image: Any) -> npt.NDArray[np.float32]:
        """One image as the model's input: decoded, then the evaluation transform.

        The transform (centre crop, resize to ``input_size``) is the one
        :func:`~food_recognition.datasets.pipeline.eval_transform` applies in
        evaluation, traced once for any image size.

        :param image: a file path, a file's bytes, a PIL image, or a decoded
            ``uint8 [H, W, 3]`` array.
        :returns: float32 ``[S, S, 3]`` in ``[0, 255]``.
        :raises food_recognition.datasets.images.ImageError: bytes or a file that
            cannot be decoded (the message names the file when a path was given).
        :raises OSError: a path that cannot be read.
        :raises ValueError: an array that is not ``[H, W, 3]``.
        """
        return self._traced("transform")(_decoded(image))

    def forward(self, images: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """One forward pass of the model, traced once for any batch size.

        :meth:`predict` and :meth:`classify` run the model through it; the
        scoring script's micro-batcher calls it with the images of several
        requests.

        :param images: float32 ``[N, S, S, 3]`` in ``[0, 255]``.
        :returns: float32 ``[N, C]`` probabilities.
        """
        return self._traced("forward")(images)

    def _traced(self, name: str) -> Callable[[Any], npt.NDArray[np.float32]]:
        function = self._compiled.get(name)
        if function is None:
            with self._lock:  # two threads must not trace the same function at once
                function = self._compiled.get(name)
                if function is None:
                    make = _traced_transform if name == "transform" else _traced_forward
                    function = make(self.model, self.input_size)
                    self._compiled[name] = function
        return function

    def predict(self, images: npt.ArrayLike, batch_size: int = 32) -> npt.NDArray[np.float32]:
        """Class probabilities for a batch of images.

        :param images: float32 ``[N, S, S, 3]`` with pixel values in ``[0, 255]``
            (``datasets.pipeline.eval_transform`` makes them from decoded images).
        :param batch_size: images per forward pass.
        :returns: float32 ``[N, C]``; rows sum to 1.
        :raises ValueError: images of the wrong shape; the message gives the expected one.
        """
        array = np.asarray(images, dtype=np.float32)
        expected = (self.input_size, self.input_size, 3)
        if array.ndim != 4 or tuple(array.shape[1:]) != expected:
            raise ValueError(
                f"images have shape {array.shape}; this model takes [N, {self.input_size}, "
                f"{self.input_size}, 3] float32 pixels in [0, 255] "
                "(resize with datasets.pipeline.eval_transform)"
            )
        if len(array) == 0:
            return np.zeros((0, self.num_classes), np.float32)
        chunks = [
            self.forward(array[start : start + batch_size])
            for start in range(0, len(array), batch_size)
        ]
        return np.concatenate(chunks).astype(np.float32)

    @overload
    def classify(
        self,
        images: str | os.PathLike[str] | bytes | Image.Image,
        *,
        top_k: int = ...,
        tta: TTAConfig | str | bool | None = ...,
        batch_size: int = ...,
        predict_fn: Callable[[npt.NDArray[np.float32]], npt.ArrayLike] | None = ...,
    ) -> Prediction: ...

    @overload
    def classify(
        self,
        images: list[Any] | tuple[Any, ...],
        *,
        top_k: int = ...,
        tta: TTAConfig | str | bool | None = ...,
        batch_size: int = ...,
        predict_fn: Callable[[npt.NDArray[np.float32]], npt.ArrayLike] | None = ...,
    ) -> list[Prediction]: ...

    @overload
    def classify(
        self,
        images: npt.NDArray[Any],
        *,
        top_k: int = ...,
        tta: TTAConfig | str | bool | None = ...,
        batch_size: int = ...,
        predict_fn: Callable[[npt.NDArray[np.float32]], npt.ArrayLike] | None = ...,
    ) -> Prediction | list[Prediction]: ...

    def classify(
        self,
        images: Any,
        *,
        top_k: int = 5,
        tta: TTAConfig | str | bool | None = None,
        batch_size: int = 32,
        predict_fn: Callable[[npt.NDArray[np.float32]], npt.ArrayLike] | None = None,
    ) -> Prediction | list[Prediction]:
        """Classify one image or many: the path every caller takes from an image to top-k.

        >>> package = load_package("runs/digits/package")  # doctest: +SKIP
        >>> print(package.classify("photo.jpg", top_k=3))  # doctest: +SKIP
        Digit 3 97.1%, Digit 8 1.2%, Digit 5 0.6%

        Each image gets the evaluation transform (centre crop, resize to
        :attr:`input_size`) that evaluation and serving apply.

        :param images: one image (a file path, a file's bytes, a PIL image, or a
            decoded ``uint8 [H, W, 3]`` array), a list of them, or an
            ``[N, H, W, 3]`` array of decoded images.
        :param top_k: classes per result (at most the number of classes).
        :param tta: ``None`` or ``False``: a single view; ``True``: the package's
            own policy (``config.tta``); a policy name (``"flip"``) or a
            :class:`~food_recognition.config.TTAConfig`.
        :param batch_size: images (or views) per forward pass.
        :param predict_fn: the forward pass, float32 ``[N, S, S, 3]`` to
            probabilities ``[N, C]``; :meth:`forward` by default. The scoring
            script passes its micro-batcher, which shares passes between requests.
        :returns: one :class:`Prediction` for one image, a list for many.
        :raises food_recognition.datasets.images.ImageError: an image that cannot be
            decoded (the message names the file when a path was given).
        :raises OSError: a path that cannot be read.
        :raises ValueError: ``top_k`` or ``batch_size`` below 1, or an array that is
            not an image.
        :raises PackageError: the model answers non-finite probabilities (broken weights).
        """
        for name, value in (("top_k", top_k), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        one, items = _as_items(images)
        batch = np.stack([self.prepare(item) for item in items])
        config = resolve_tta(tta, self.config.tta)
        forward = self.forward if predict_fn is None else predict_fn
        if config is None:
            probabilities = np.concatenate(
                [
                    np.asarray(forward(batch[start : start + batch_size]), dtype=np.float32)
                    for start in range(0, len(batch), batch_size)
                ]
            )
            views, took = 1, np.zeros(len(batch), dtype=bool)
        else:
            from food_recognition.tta import predict_with_tta

            result = predict_with_tta(forward, batch, config, batch_size=batch_size)
            probabilities = result.probabilities
            views, took = result.views_per_image, result.took_extra_views
        if not np.all(np.isfinite(probabilities)):
            # A model trained into NaN answers NaN for every image; JSON has no NaN.
            raise PackageError(
                f"{self.path}: the model gives non-finite probabilities; its weights are "
                "broken (a diverged training run): train it again, with a lower learning rate"
            )
        results = [
            self._prediction(row, top_k, views=views, extra_views=bool(extra))
            for row, extra in zip(probabilities, took, strict=True)
        ]
        return results[0] if one else results

    def _prediction(
        self,
        probabilities: npt.NDArray[np.float32],
        top_k: int,
        *,
        views: int,
        extra_views: bool,
    ) -> Prediction:
        order = np.argsort(-probabilities, kind="stable")[: min(top_k, self.num_classes)]
        scores = tuple(
            ClassScore(
                index=int(i),
                name=self.classes[i],
                label=self.human_labels[i],
                probability=float(probabilities[i]),
            )
            for i in order
        )
        best = scores[0]
        return Prediction(
            label=best.label,
            index=best.index,
            class_name=best.name,
            probability=best.probability,
            top_k=scores,
            probabilities=np.asarray(probabilities, dtype=np.float32),
            views=int(views),
            extra_views=extra_views,
        )


def save_package(
    path: str | Path,
    model: keras.Model,
    classes: Sequence[str],
    human_labels: Sequence[str] | None,
    config: RunConfig,
    *,
    metrics: Mapping[str, float] | None = None,
    history: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write a model package folder (created if missing; files in it replaced).

    :param path: the package folder.
    :param model: the trained model (saved without optimizer state).
    :param classes: class names, in output order.
    :param human_labels: readable names, one per class; ``None`` derives them
        from the class names (``apple_pie`` -> ``Apple pie``).
    :param config: the RunConfig that built the model.
    :param metrics: final metrics, name -> number.
    :param history: per-epoch metrics, name -> values, written as ``history.json``.
    :returns: the package folder.
    :raises PackageError: the class list does not match the model's outputs.
    """
    path = Path(path)
    classes = tuple(classes)
    labels = tuple(human_labels) if human_labels is not None else _human(classes)
    outputs = model.output_shape[-1]
    if len(classes) != outputs or len(labels) != len(classes):
        raise PackageError(
            f"{path}: the model has {outputs} outputs but {len(classes)} classes and "
            f"{len(labels)} human labels were given"
        )
    path.mkdir(parents=True, exist_ok=True)
    model.save(str(path / MODEL_FILE), include_optimizer=False)
    _write_json(path / LABELS_FILE, {"classes": list(classes), "human_labels": list(labels)})
    save_yaml(config, path / CONFIG_FILE)
    _write_json(path / METRICS_FILE, {k: float(v) for k, v in (metrics or {}).items()})
    plugins = required_distributions(config, known_only=True)
    _write_json(path / PLUGINS_FILE, {"distributions": [d.to_dict() for d in plugins]})
    if history is not None:
        _write_json(path / HISTORY_FILE, {k: [float(x) for x in v] for k, v in history.items()})
    return path


def load_package(path: str | Path) -> ModelPackage:
    """Load a model package folder.

    :param path: the package folder (or its ``model.keras`` file).
    :returns: the :class:`ModelPackage`.
    :raises PackageError: the folder does not exist, lacks a file, or its files
        disagree; the message names the path and the file; or a plugin
        distribution the package names is not installed (the message names it).
    """
    path = Path(path)
    if path.is_file() and path.name == MODEL_FILE:
        path = path.parent
    if not path.is_dir():
        raise PackageError(f"no model package at {path}: no such folder")
    for name in _REQUIRED:
        if not (path / name).is_file():
            raise PackageError(f"not a model package: {path} has no {name}")
    labels = _read_json(path / LABELS_FILE)
    classes = labels.get("classes") if isinstance(labels, dict) else None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise PackageError(f"{path / LABELS_FILE}: expected {{'classes': [names...], ...}}")
    human = labels.get("human_labels") or _human(classes)
    try:
        config = load_yaml(RunConfig, path / CONFIG_FILE)
    except ConfigError as error:
        raise PackageError(f"{path}: {error}") from error
    metrics = _read_json(path / METRICS_FILE) if (path / METRICS_FILE).is_file() else {}
    history = _read_json(path / HISTORY_FILE) if (path / HISTORY_FILE).is_file() else {}
    check_plugins(path)
    model = _load_model(path / MODEL_FILE)
    outputs = model.output_shape[-1]
    if outputs != len(classes) or len(human) != len(classes):
        raise PackageError(
            f"{path}: the model has {outputs} outputs but {LABELS_FILE} lists "
            f"{len(classes)} classes and {len(human)} human labels"
        )
    return ModelPackage(
        path=path,
        model=model,
        classes=tuple(classes),
        human_labels=tuple(str(h) for h in human),
        config=config,
        input_size=int(model.input_shape[1]),
        metrics={str(k): float(v) for k, v in dict(metrics).items()},
        history={str(k): [float(x) for x in v] for k, v in dict(history).items()},
    )


def resolve_tta(tta: TTAConfig | str | bool | None, default: TTAConfig) -> TTAConfig | None:
    """The TTA a ``tta=`` argument asks for (as :meth:`ModelPackage.classify` reads it).

    >>> resolve_tta("flip", TTAConfig()).policy, resolve_tta(False, TTAConfig())
    ('flip', None)

    :param tta: ``None``/``False`` (single view), ``True`` (``default``), a
        policy name, or a :class:`~food_recognition.config.TTAConfig`.
    :param default: the package's own policy (``config.tta``).
    :returns: the configuration, or ``None`` for a single view.
    """
    if tta is None or tta is False:
        return None
    if tta is True:
        return default
    if isinstance(tta, str):
        return TTAConfig(policy=tta)
    return tta


def is_package(path: str | Path) -> bool:
    """Whether a folder holds every file of a model package (:data:`REQUIRED_FILES`).

    :param path: the folder.
    :returns: ``True`` when all the required files are there (nothing is loaded).
    """
    folder = Path(path)
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def check_package(path: str | Path) -> Path:
    """Refuse a folder that is not a complete model package, before anything uses it.

    :param path: the package folder (or its model file).
    :returns: the package folder.
    :raises PackageError: no such folder, or a required file is missing; the
        message names the folder, the missing files and what to pass instead.
    """
    folder = Path(path)
    if folder.is_file() and folder.name == MODEL_FILE:
        folder = folder.parent
    if not folder.is_dir():
        raise PackageError(f"no model package at {folder}: no such folder")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise PackageError(
            f"{folder} is not a model package (it needs {', '.join(REQUIRED_FILES)}; "
            f"missing {', '.join(missing)}): pass the package folder training wrote "
            "(OUTPUT/package)"
        )
    return folder


def check_plugins(path: str | Path) -> tuple[PluginDistribution, ...]:
    """Check that the plugin distributions a package names are installed; load their layers.

    ``load_package`` and ``food-recognition serve`` call it before Keras reads
    the model, so a missing plugin is one line, not a Keras deserialization error.

    :param path: the package folder.
    :returns: the distributions ``plugins.json`` names (empty for a package
        that uses only built-ins, or one written before plugins were recorded).
    :raises PackageError: a named distribution is not installed, or
        ``plugins.json`` is malformed.
    """
    path = Path(path)
    try:
        needed = read_plugins_file(path)
    except FoodRecognitionError as error:
        raise PackageError(str(error)) from error
    for dist in needed:
        try:
            importlib.metadata.version(dist.name)
        except importlib.metadata.PackageNotFoundError:
            raise PackageError(
                f"model package {path} needs plugin distribution {dist.name!r} "
                f"(version {dist.version}), which is not installed: pip install "
                f"{dist.requirement}"
            ) from None
    if needed:
        get_plugin_manager().load_layers(d.name for d in needed)
    return needed


def resolve_package(path: str | Path) -> ResolvedRun:
    """Check a package before it is served or deployed: its plugins, its names and options.

    :func:`check_plugins`, then :func:`~food_recognition.plugins.resolve.resolve`
    of its ``config.yaml`` (the TTA policy serving uses by default included).

    :param path: the package folder.
    :returns: the resolved run of the package's configuration.
    :raises PackageError: a missing plugin distribution or a bad ``config.yaml``.
    :raises food_recognition.plugins.UnknownNameError: a name no plugin registers.
    """
    path = Path(path)
    check_plugins(path)
    try:
        config = load_yaml(RunConfig, path / CONFIG_FILE)
    except ConfigError as error:
        raise PackageError(f"{path}: {error}") from error
    return resolve(config)


# -- helpers -------------------------------------------------------------------


def _as_items(images: Any) -> tuple[bool, list[Any]]:
    """``(one, items)``: whether a single image was given, and the images as a list."""
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview)):
        return True, [images]
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return True, [images]
        if images.ndim == 4:
            return False, list(images)
        raise ValueError(
            f"an image array must be [H, W, 3] (one) or [N, H, W, 3] (many); got {images.shape}"
        )
    if _is_pil(images):
        return True, [images]
    if isinstance(images, Sequence):
        items = list(images)
        if not items:
            raise ValueError("no images to classify: pass at least one")
        return False, items
    raise TypeError(
        f"cannot classify a {type(images).__name__}: pass a path, bytes, a PIL image, "
        "an array, or a list of them"
    )


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def _decoded(image: Any) -> npt.NDArray[np.uint8]:
    """One image as upright RGB pixels, uint8 ``[H, W, 3]``."""
    from food_recognition.datasets.images import ImageError, load_image_bytes, to_rgb

    if isinstance(image, (str, os.PathLike)):
        data = Path(image).read_bytes()
        try:
            return load_image_bytes(data)
        except ImageError as error:
            raise ImageError(f"{image}: {error}") from error
    if isinstance(image, (bytes, bytearray, memoryview)):
        return load_image_bytes(bytes(image))
    if _is_pil(image):
        return np.asarray(to_rgb(image), dtype=np.uint8)
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"an image array must be [H, W, 3]; got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    return pixels


def _traced_transform(model: Any, size: int) -> Callable[[Any], npt.NDArray[np.float32]]:
    # eval_transform traced once for any image size: eager, its few ops run one by one.
    import tensorflow as tf

    from food_recognition.datasets.pipeline import eval_transform

    spec = tf.TensorSpec([None, None, 3], tf.uint8)

    # No Python control flow depends on tensor values here, so AutoGraph has nothing to do.
    @tf.function(input_signature=[spec], autograph=False)  # type: ignore[untyped-decorator]
    def call(pixels: Any) -> Any:
        return eval_transform(pixels, size)

    def transform(pixels: Any) -> npt.NDArray[np.float32]:
        return np.asarray(call(tf.convert_to_tensor(pixels, tf.uint8)), np.float32)

    return transform


def _traced_forward(model: Any, size: int) -> Callable[[Any], npt.NDArray[np.float32]]:
    # One trace for every batch size: Keras's predict_on_batch traces again at the
    # second size it meets, which costs a serving request or a timed batch seconds.
    import tensorflow as tf

    spec = tf.TensorSpec([None, size, size, 3], tf.float32)

    @tf.function(input_signature=[spec])  # type: ignore[untyped-decorator]
    def call(images: Any) -> Any:
        return model(images, training=False)

    def forward(images: Any) -> npt.NDArray[np.float32]:
        return np.asarray(call(tf.convert_to_tensor(images, tf.float32)), np.float32)

    return forward


def _load_model(path: Path) -> keras.Model:
    import keras

    # Registers our serializable layers before Keras looks them up.
    import food_recognition.models.layers  # noqa: F401

    try:
        return keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as error:
        raise PackageError(f"could not load {path}: {error}") from error


def _human(classes: Sequence[str]) -> tuple[str, ...]:
    return tuple(name.replace("_", " ").capitalize() for name in classes)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PackageError(f"{path}: not valid JSON: {error}") from error
