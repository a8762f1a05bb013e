"""Exports of a model package give the package's own probabilities, in each runtime."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from food_recognition.export import (
    FORMATS,
    ExportError,
    export_package,
    load_exported,
    verify_export,
)

pytestmark = pytest.mark.slow


def test_every_format_matches_the_package(tmp_path: Path, tiny_package: Path) -> None:
    from food_recognition.datasets.images import load_image_bytes
    from food_recognition.datasets.pipeline import eval_transform
    from food_recognition.package import load_package
    from tests.fixtures.images import synthetic_image
    from tests.serving.conftest import encode

    package = load_package(tiny_package)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite's deprecation notice
        results = export_package(package, tmp_path / "export")
    assert [r.format for r in results] == list(FORMATS)
    assert all(r.max_abs_diff <= 1e-4 for r in results)
    labels = json.loads((tmp_path / "export" / "labels.json").read_text())
    assert labels["classes"] == list(package.classes)

    # A real photo's pixels, prepared as serving prepares them, agree across runtimes.
    jpeg = encode(synthetic_image(9, (80, 60), label=2), "JPEG")
    image = np.asarray(eval_transform(load_image_bytes(jpeg), package.input_size))[np.newaxis]
    expected = package.predict(image)
    for result in results:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = load_exported(result.format, result.path)(image)
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=result.format)


def test_a_mismatch_is_an_error(tmp_path: Path, tiny_package: Path) -> None:
    results = export_package(tiny_package, tmp_path, formats=["onnx"])
    images = np.zeros((1, 32, 32, 3), np.float32)
    wrong = np.full((1, 3), 1 / 3, np.float32) + 0.2
    with pytest.raises(ExportError, match="differs from the package"):
        verify_export("onnx", results[0].path, images, wrong)


def test_unknown_format_names_the_known_ones(tmp_path: Path, tiny_package: Path) -> None:
    with pytest.raises(ExportError, match="saved_model, onnx, litert"):
        export_package(tiny_package, tmp_path, formats=["torchscript"])
