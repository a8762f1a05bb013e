"""food_recognition: a food-photo classifier from raw data to a served endpoint.

The calls a user needs are here::

    import food_recognition as fr

    package = fr.train(data="data/food-101", backbone="resnet50", weights="imagenet", epochs=10)
    report = fr.evaluate(package, "data/food-101", tta="flip")
    print(report)
    print(fr.load_package("runs/train/package").classify("photo.jpg", top_k=3))

:func:`train`, :func:`evaluate` and :func:`load_package` return a
:class:`ModelPackage` (which classifies a path, bytes, a PIL image or an
array into :class:`Prediction` values) and an
:class:`~food_recognition.evaluation.EvaluationReport`.

The package is organised as the data flows: :mod:`food_recognition.datasets`
-> :mod:`food_recognition.augment` -> :mod:`food_recognition.models` ->
:mod:`food_recognition.training` -> :mod:`food_recognition.tta` ->
:mod:`food_recognition.serving`, with :mod:`food_recognition.azure` on the
side. Importing the package is cheap: TensorFlow is imported by the modules
that need it, when they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from food_recognition.api import evaluate, resolve_config, train
    from food_recognition.config import RunConfig, TTAConfig
    from food_recognition.package import ClassScore, ModelPackage, Prediction, load_package

__version__ = "0.1.0"

__all__ = [
    "ClassScore",
    "ModelPackage",
    "Prediction",
    "RunConfig",
    "TTAConfig",
    "__version__",
    "evaluate",
    "load_package",
    "resolve_config",
    "train",
]

# name -> the module that defines it; imported on first use, so that
# ``import food_recognition`` imports neither TensorFlow nor Keras.
_LAZY = {
    "train": "food_recognition.api",
    "evaluate": "food_recognition.api",
    "resolve_config": "food_recognition.api",
    "RunConfig": "food_recognition.config",
    "TTAConfig": "food_recognition.config",
    "ClassScore": "food_recognition.package",
    "ModelPackage": "food_recognition.package",
    "Prediction": "food_recognition.package",
    "load_package": "food_recognition.package",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
