"""Data sets: layouts, splits, the index scan, downloads, and the input pipeline.

>>> from food_recognition.datasets import load_dataset  # doctest: +SKIP
>>> ds = load_dataset("data/food-101")  # doctest: +SKIP
>>> ds.layout, len(ds.classes), len(ds.train), len(ds.validation), len(ds.test)  # doctest: +SKIP
('food101', 101, 68175, 7575, 25250)

Nothing here imports TensorFlow; the tf.data pipeline lives in
:mod:`food_recognition.datasets.pipeline` and is imported from there.
"""

from food_recognition.datasets.images import MAX_PIXELS, ImageError, load_image_bytes
from food_recognition.datasets.layouts import DatasetLayoutError, check_data_path, detect_layout
from food_recognition.datasets.loading import load_dataset, load_dataset_from_config
from food_recognition.datasets.splits import Dataset, NormalizedImage, SkippedImage, Split

__all__ = [
    "MAX_PIXELS",
    "Dataset",
    "DatasetLayoutError",
    "ImageError",
    "NormalizedImage",
    "SkippedImage",
    "Split",
    "check_data_path",
    "detect_layout",
    "load_dataset",
    "load_dataset_from_config",
    "load_image_bytes",
]
