"""Export a model package beyond Azure: TensorFlow SavedModel, ONNX, LiteRT.

The preprocessing is the model's first layer, so every export takes what the
package takes, float32 images ``[N, S, S, 3]`` with pixel values in
``[0, 255]`` (made by :func:`food_recognition.datasets.pipeline.eval_transform`),
and returns softmax probabilities ``[N, C]``. Each export is checked against
the package on the same images before it is kept (:func:`verify_export`), and
``labels.json`` is copied beside it so the class order travels with it.

- ``saved_model``: Keras's own ``model.export``; TF Serving and
  ``tf.saved_model.load(path).serve(images)`` take it.
- ``onnx``: tf2onnx (the ``export`` extra); onnxruntime runs it, input ``image``.
- ``litert``: the LiteRT (TFLite) flatbuffer from Keras's ``model.export``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from food_recognition.package import PackageError

if TYPE_CHECKING:
    from food_recognition.package import ModelPackage

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportResult",
    "export_litert",
    "export_onnx",
    "export_package",
    "export_saved_model",
    "load_exported",
    "verify_export",
]

#: The formats :func:`export_package` writes, and their file or folder names.
FORMATS = {"saved_model": "saved_model", "onnx": "model.onnx", "litert": "model.tflite"}


class ExportError(PackageError, RuntimeError):
    """An export failed, or gives other probabilities than the package; the message says which."""


@attrs.define(frozen=True)
class ExportResult:
    """One exported format: where it is and how far it is from the package.

    :param format: ``saved_model``, ``onnx`` or ``litert``.
    :param path: the folder or file.
    :param max_abs_diff: the largest difference from the package's probabilities
        on the check images.
    """

    format: str
    path: Path
    max_abs_diff: float


def export_package(
    package: ModelPackage | str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("saved_model", "onnx", "litert"),
    atol: float = 1e-4,
    check_images: int = 4,
) -> list[ExportResult]:
    """Export a package in each format and check each against it.

    :param package: a loaded package or its folder.
    :param out_dir: where to write (``saved_model/``, ``model.onnx``,
        ``model.tflite``, ``labels.json``).
    :param formats: any of :data:`FORMATS`.
    :param atol: the largest probability difference accepted.
    :param check_images: how many random images the check runs.
    :returns: one result per format.
    :raises ExportError: an unknown format, a failed conversion, or probabilities
        further than ``atol`` from the package's.
    """
    from food_recognition.package import LABELS_FILE, load_package

    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    loaded = package if not isinstance(package, (str, Path)) else load_package(package)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(loaded.path / LABELS_FILE, out / LABELS_FILE)
    writers: dict[str, Callable[[Any, Path, int], Path]] = {
        "saved_model": export_saved_model,
        "onnx": export_onnx,
        "litert": export_litert,
    }
    rng = np.random.default_rng(0)
    size = loaded.input_size
    images = rng.uniform(0, 255, (check_images, size, size, 3)).astype(np.float32)
    expected = loaded.predict(images)
    results = []
    for name in formats:
        path = writers[name](loaded.model, out / FORMATS[name], size)
        diff = verify_export(name, path, images, expected, atol=atol)
        results.append(ExportResult(format=name, path=path, max_abs_diff=diff))
    return results


def export_saved_model(model: Any, path: str | Path, input_size: int) -> Path:
    """Write a TensorFlow SavedModel with Keras's ``model.export`` (endpoint ``serve``).

    :param model: the Keras model.
    :param path: the folder (replaced if it exists).
    :param input_size: ``S`` (the model's own input shape is used; kept for a uniform call).
    :returns: ``path``.
    :raises ExportError: the export failed.
    """
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    try:
        model.export(str(path), format="tf_saved_model", verbose=False)
    except Exception as error:
        raise ExportError(f"SavedModel export failed: {error}") from error
    return path


def export_onnx(model: Any, path: str | Path, input_size: int, *, opset: int = 17) -> Path:
    """Write an ONNX model with tf2onnx (input ``image``: float32 ``[N, S, S, 3]``).

    :param model: the Keras model.
    :param path: the ``.onnx`` file.
    :param input_size: ``S``.
    :param opset: the ONNX opset.
    :returns: ``path``.
    :raises ExportError: tf2onnx is missing (install the ``export`` extra) or failed.
    """
    import tensorflow as tf

    try:
        import tf2onnx
    except ImportError as error:
        raise ExportError(
            "ONNX export needs tf2onnx: pip install 'food-recognition[export]'"
        ) from error
    path = Path(path)
    spec = (tf.TensorSpec((None, input_size, input_size, 3), tf.float32, name="image"),)

    @tf.function  # type: ignore[untyped-decorator]
    def serve(image: Any) -> Any:
        return model(image, training=False)

    try:
        tf2onnx.convert.from_function(
            serve, input_signature=spec, opset=opset, output_path=str(path)
        )
    except Exception as error:
        raise ExportError(f"ONNX export failed: {error}") from error
    return path


def export_litert(model: Any, path: str | Path, input_size: int) -> Path:
    """Write a LiteRT (TFLite) flatbuffer with Keras's ``model.export(format="litert")``.

    :param model: the Keras model.
    :param path: the ``.tflite`` file.
    :param input_size: ``S`` (the model's own input shape is used).
    :returns: ``path``.
    :raises ExportError: the conversion failed.
    """
    path = Path(path)
    try:
        model.export(str(path), format="litert", verbose=False)
    except TypeError:  # Keras versions whose LiteRT export takes no ``verbose``
        model.export(str(path), format="litert")
    except Exception as error:
        raise ExportError(f"LiteRT export failed: {error}") from error
    return path


def load_exported(format: str, path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """A predict function (images -> probabilities) running an export with its own runtime.

    :param format: ``saved_model`` (TensorFlow), ``onnx`` (onnxruntime) or ``litert``.
    :param path: what :func:`export_package` wrote.
    :returns: float32 ``[N, S, S, 3]`` in [0, 255] -> float32 ``[N, C]``.
    :raises ExportError: an unknown format.
    """
    path = Path(path)
    if format == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda images: np.asarray(loaded.serve(tf.constant(images, tf.float32)))
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: np.asarray(
            session.run(None, {name: np.asarray(images, np.float32)})[0]
        )
    if format == "litert":
        return _litert_predict(path)
    raise ExportError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")


def verify_export(
    format: str,
    path: str | Path,
    images: np.ndarray,
    expected: np.ndarray,
    *,
    atol: float = 1e-4,
) -> float:
    """Run an export on ``images`` and compare with the package's probabilities.

    :param format: the export's format.
    :param path: the export.
    :param images: float32 ``[N, S, S, 3]`` in [0, 255].
    :param expected: the package's probabilities on them.
    :param atol: the largest difference accepted.
    :returns: the largest difference.
    :raises ExportError: a difference over ``atol``.
    """
    got = load_exported(format, path)(images)
    if got.shape != expected.shape:
        raise ExportError(f"{format} export gives shape {got.shape}, the package {expected.shape}")
    diff = float(np.max(np.abs(got - expected)))
    if diff > atol:
        raise ExportError(
            f"{format} export at {path} differs from the package by {diff:.2e} (> {atol:.0e})"
        )
    return diff


def _litert_predict(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError:  # TensorFlow's own copy, deprecated but still shipped with 2.21
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806

    interpreter = Interpreter(model_path=str(path))

    def predict(images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, np.float32)
        input_index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(input_index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        output = interpreter.get_output_details()[0]["index"]
        return np.asarray(interpreter.get_tensor(output))

    return predict
