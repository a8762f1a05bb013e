"""Every ``>>>`` example in the library's docstrings runs, in its own module.

The API reference renders them as code (docs/conf.py, ``_examples_as_code``):
Sphinx's doctest builder would run them without their module's names.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

import pytest

import food_recognition


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(food_recognition.__path__, "food_recognition.")
        if not info.name.rsplit(".", 1)[-1].startswith("__")
    )


@pytest.mark.parametrize("name", ["food_recognition", *_modules()])
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def _public_classes_and_functions(name: str) -> list[tuple[str, object]]:
    """What the API reference documents of a module: the classes and functions it
    defines and exports (``__all__``, or every public name when it has none)."""
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [item for item in vars(module) if not item.startswith("_")]
    found = []
    for item in names:
        obj = getattr(module, item)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__ == name:
            found.append((item, obj))
    return found


def _undocumented(cls: type) -> list[str]:
    """Public methods and properties defined in ``cls`` without a docstring of their own
    whose documentation would come from outside the library (autodoc renders an
    inherited docstring; Keras's are not reST) or from nowhere (it leaves them out)."""
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        function = function.fget if isinstance(function, property) else function
        if not inspect.isfunction(function) or (function.__doc__ or "").strip():
            continue
        bases = [base for base in cls.__mro__[1:] if attr in vars(base)]
        if not bases or not bases[0].__module__.startswith("food_recognition"):
            source = bases[0].__module__ if bases else "nowhere"
            missing.append(f"{cls.__qualname__}.{attr} (inherits from {source})")
    return missing


@pytest.mark.parametrize("name", ["food_recognition", *_modules()])
def test_public_api_has_docstrings_of_its_own(name: str) -> None:
    missing = []
    for item, obj in _public_classes_and_functions(name):
        if not (obj.__doc__ or "").strip():
            missing.append(item)
        if inspect.isclass(obj):
            missing += _undocumented(obj)
    assert missing == [], f"{name}: no docstring of its own: {', '.join(missing)}"


def test_an_overridden_keras_method_needs_its_own_docstring() -> None:
    # The check above, on the case that once broke the docs build: a callback
    # method without a docstring, whose Keras docstring autodoc would render.
    import keras

    class Callback(keras.callbacks.Callback):  # type: ignore[misc]
        """A callback."""

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            pass

        def on_train_end(self, logs: object = None) -> None:
            """Documented here."""

    assert _undocumented(Callback) == [
        "test_an_overridden_keras_method_needs_its_own_docstring.<locals>.Callback.on_epoch_end"
        " (inherits from keras.src.callbacks.callback)"
    ]
