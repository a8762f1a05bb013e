"""food_recognition: a food-photo classifier from raw data to a served endpoint.

The package is organised as the data flows: :mod:`food_recognition.datasets`
-> :mod:`food_recognition.augment` -> :mod:`food_recognition.models` ->
:mod:`food_recognition.training` -> :mod:`food_recognition.tta` ->
:mod:`food_recognition.serving`, with :mod:`food_recognition.azure` on the
side. Importing the package is cheap: TensorFlow is imported by the modules
that need it, when they are used.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
