"""The ``tf.data`` input pipeline: from a split to batches a model trains or is evaluated on.

Training (:func:`train_dataset`) shuffles the file list, reads the files in
parallel, lets the augmentation policy choose each image's crop box from the
JPEG header alone, decodes only that box (:func:`tf.image.decode_and_crop_jpeg`;
other formats are decoded whole and cropped), resizes it to the output size as
uint8, batches, and runs the policy's per-batch step (one vectorised call for
the whole batch: the reference set's rotations are a single
``ImageProjectiveTransformV3``), then MixUp/CutMix, then prefetches.

Evaluation (:func:`eval_dataset`) keeps the split's order and applies
:func:`eval_transform`: the central square of 0.875 of the shorter side,
resized. Serving and ``predict`` call the same function on decoded images.

Both yield ``(images, labels)``: float32 ``[B, S, S, 3]`` pixels in
``[0, 255]`` (the model's first layer does the backbone's preprocessing) and
float32 one-hot (or MixUp/CutMix-soft) labels ``[B, num_classes]``.

Either function takes a :class:`~food_recognition.datasets.splits.Split` (image
files) or a :class:`~food_recognition.datasets.tfrecords.TFRecordSource`
(shards from :func:`~food_recognition.datasets.tfrecords.write_shards`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Union

from food_recognition.augment.policies import CENTER_CROP_FRACTION, center_box
from food_recognition.datasets.tfrecords import TFRecordSource

if TYPE_CHECKING:
    from food_recognition.config import AugmentConfig
    from food_recognition.datasets.splits import Split

__all__ = [
    "SHUFFLE_BUFFER",
    "Source",
    "eval_dataset",
    "eval_transform",
    "find_undecodable",
    "train_dataset",
]

#: Records held by the shuffle buffer when reading TFRecord shards (file
#: lists are shuffled whole; shards are too big to hold in memory).
SHUFFLE_BUFFER = 8192

#: What the pipeline reads: image files listed by a split, or TFRecord shards.
Source = Union["Split", TFRecordSource]

_JPEG_MAGIC = b"\xff\xd8\xff"


def train_dataset(
    split: Source,
    *,
    image_size: int,
    batch_size: int,
    augment: AugmentConfig,
    seed: int = 42,
    deterministic: bool = False,
    cache: bool = False,
) -> Any:
    """Shuffled, augmented training batches; one pass over ``split``.

    Each pass (``dataset.repeat()`` included) reshuffles and draws new
    augmentations; two datasets built with the same arguments give the same
    passes when ``deterministic`` is set.

    :param split: a :class:`~food_recognition.datasets.splits.Split` or a
        :class:`~food_recognition.datasets.tfrecords.TFRecordSource`.
    :param image_size: the square output size in pixels.
    :param batch_size: images per batch (the last batch may be smaller).
    :param augment: the augmentation config: the policy, MixUp/CutMix, and
        ``on_device`` (then only the policy's CPU part runs here; put
        :func:`food_recognition.augment.device_augmenter` in front of the model).
    :param seed: seeds the shuffle and every random augmentation.
    :param deterministic: keep the element order fixed (slower; for tests).
    :param cache: keep the encoded image bytes in memory after the first pass
        (augmentation still changes every pass).
    :returns: a ``tf.data.Dataset`` of ``(images, labels)``.
    :raises ValueError: an empty split, or a size below 1.
    :raises food_recognition.plugins.registry.UnknownNameError: an unknown policy.
    :raises food_recognition.augment.PolicyOptionError: an option the policy does not take.
    """
    import tensorflow as tf

    from food_recognition.augment import get_policy, mix_batch

    _check(split, image_size, batch_size)
    policy = get_policy(augment)
    if augment.on_device:
        policy, _ = policy.device_split()
    num_classes = split.num_classes
    autotune = tf.data.AUTOTUNE

    records, reads_files = _records(
        split, seed=seed, deterministic=deterministic, shuffle=not cache
    )
    if cache:
        if reads_files:
            # A split lists its files class by class: cached in that order, a
            # shuffle buffer smaller than the split would give batches of a few
            # classes. One fixed shuffle of the (cheap) file list before the cache.
            records = records.shuffle(len(split), seed=seed, reshuffle_each_iteration=False)
        records = _read(records, reads_files, deterministic).cache()
        reads_files = False
    if isinstance(split, TFRecordSource) or cache:
        records = records.shuffle(min(len(split), SHUFFLE_BUFFER), seed=seed)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def load(record: tuple[Any, Any], element_seed: Any) -> tuple[Any, Any, Any]:
        data, label = record
        if reads_files:
            data = tf.io.read_file(data)

        def choose(shape: Any) -> tuple[Any, Any]:
            return policy.sample(shape, image_size, element_seed)

        crop, params = _decode_crop(data, choose)
        params = tf.ensure_shape(tf.cast(params, tf.float32), [policy.num_params])
        return policy.prepare(crop, image_size, params), params, tf.one_hot(label, num_classes)

    transform = policy.batch_transform()
    mixup, cutmix = augment.mixup_alpha, augment.cutmix_alpha

    def finish(batch: tuple[Any, Any, Any], batch_seed: Any) -> tuple[Any, Any]:
        images, params, labels = batch
        seeds = tf.random.experimental.stateless_split(batch_seed, 2)
        images = transform(images, params, seeds[0])
        images, labels = mix_batch(
            images, labels, mixup_alpha=mixup, cutmix_alpha=cutmix, seed=seeds[1]
        )
        return tf.ensure_shape(images, [None, image_size, image_size, 3]), labels

    dataset = tf.data.Dataset.zip((records, seeds))
    dataset = dataset.map(load, num_parallel_calls=autotune, deterministic=deterministic)
    # The index scan reads headers and file ends; an image corrupt in between
    # (a bogus Huffman table) only fails here. Skip it, with TensorFlow's warning,
    # rather than end the epoch.
    dataset = dataset.ignore_errors(log_warning=True)
    dataset = dataset.batch(batch_size, num_parallel_calls=autotune, deterministic=deterministic)
    batch_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((dataset, batch_seeds))
    dataset = dataset.map(finish, num_parallel_calls=autotune, deterministic=deterministic)
    return dataset.prefetch(autotune)


def eval_dataset(
    split: Source,
    *,
    image_size: int,
    batch_size: int,
    cache: bool = False,
    skip_undecodable: bool = False,
) -> Any:
    """Evaluation batches in the split's order: centre crop and resize, no randomness.

    :param split: a :class:`~food_recognition.datasets.splits.Split` or a
        :class:`~food_recognition.datasets.tfrecords.TFRecordSource`.
    :param image_size: the square output size in pixels.
    :param batch_size: images per batch (the last batch may be smaller).
    :param cache: keep the resized uint8 images in memory after the first pass.
    :param skip_undecodable: leave out, with a warning, an image TensorFlow cannot
        decode (for metrics during training). Off, such an image stops the pass
        with ``tf.errors.InvalidArgumentError``, so that a caller matching
        predictions to files (:func:`~food_recognition.evaluation.evaluate`) can
        find it with :func:`find_undecodable`.
    :returns: a ``tf.data.Dataset`` of ``(images, labels)``, as :func:`train_dataset`.
    :raises ValueError: an empty split, or a size below 1.
    """
    import tensorflow as tf

    _check(split, image_size, batch_size)
    num_classes = split.num_classes
    autotune = tf.data.AUTOTUNE
    records, reads_files = _records(split, seed=0, deterministic=True, shuffle=False)

    def load(data: Any, label: Any) -> tuple[Any, Any]:
        if reads_files:
            data = tf.io.read_file(data)
        crop, _ = _decode_crop(data, lambda shape: (center_box(shape), None))
        return _resize(crop, image_size), tf.one_hot(label, num_classes)

    dataset = records.map(load, num_parallel_calls=autotune, deterministic=True)
    if skip_undecodable:
        dataset = dataset.ignore_errors(log_warning=True)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.batch(batch_size).map(
        lambda images, labels: (tf.cast(images, tf.float32), labels),
        num_parallel_calls=autotune,
        deterministic=True,
    )
    return dataset.prefetch(autotune)


def find_undecodable(paths: Iterable[str]) -> list[tuple[str, str]]:
    """The image files TensorFlow's decoders refuse, and what they said.

    The index scan checks headers and file ends, which is fast; this decodes
    every file (a few milliseconds each), for the rare image whose middle is
    corrupt.

    :param paths: image files.
    :returns: ``(path, TensorFlow's message)`` for each file that fails.
    """
    import tensorflow as tf

    failed = []
    for path in paths:
        try:
            data = tf.io.read_file(path)
            tf.io.decode_image(data, channels=3, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            failed.append((path, error.message.strip()))
    return failed


def eval_transform(image_uint8: Any, image_size: int) -> Any:
    """The evaluation transform of one decoded image: centre crop, then resize.

    Keeps the central square of :data:`~food_recognition.augment.policies.CENTER_CROP_FRACTION`
    of the shorter side and resizes it (bilinear, antialiased) to ``image_size``
    square. :func:`eval_dataset` applies exactly this; serving and ``predict``
    call it on images decoded by :func:`food_recognition.datasets.images.load_image_bytes`.

    >>> import numpy as np
    >>> image = np.full((300, 400, 3), 200, np.uint8)
    >>> out = eval_transform(image, 64)
    >>> out.shape, out.dtype.name, float(out.numpy().max())
    (TensorShape([64, 64, 3]), 'float32', 200.0)

    :param image_uint8: uint8 ``[H, W, 3]`` (a NumPy array or a tensor).
    :param image_size: the output side.
    :returns: float32 ``[image_size, image_size, 3]`` tensor in ``[0, 255]``.
    :raises ValueError: not an ``[H, W, 3]`` image.
    """
    import tensorflow as tf

    image = tf.convert_to_tensor(image_uint8)
    if image.shape.rank != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"eval_transform takes one [height, width, 3] image, got shape {image.shape}; "
            "decode it with food_recognition.datasets.images.load_image_bytes"
        )
    if image.dtype != tf.uint8:
        image = tf.cast(tf.clip_by_value(tf.round(tf.cast(image, tf.float32)), 0, 255), tf.uint8)
    box = center_box(tf.shape(image)[:2], CENTER_CROP_FRACTION)
    crop = image[box[0] : box[0] + box[2], box[1] : box[1] + box[3]]
    return tf.cast(_resize(crop, image_size), tf.float32)


# -- helpers --------------------------------------------------------------------------------


def _check(split: Source, image_size: int, batch_size: int) -> None:
    if len(split) == 0:
        raise ValueError("the split has no images; check the data path and layout")
    if image_size < 1 or batch_size < 1:
        raise ValueError(
            f"image_size={image_size} and batch_size={batch_size} must both be at least 1"
        )


def _records(split: Source, *, seed: int, deterministic: bool, shuffle: bool) -> tuple[Any, bool]:
    """``(data, label)`` records, and whether ``data`` is a path still to read."""
    import tensorflow as tf

    from food_recognition.datasets.tfrecords import parse_record

    autotune = tf.data.AUTOTUNE
    if isinstance(split, TFRecordSource):
        files = tf.data.Dataset.from_tensor_slices(split.shard_paths)
        if shuffle:
            files = files.shuffle(len(split.shards), seed=seed, reshuffle_each_iteration=True)
            records = files.interleave(
                lambda path: tf.data.TFRecordDataset(path, buffer_size=8 << 20),
                cycle_length=min(len(split.shards), 16),
                num_parallel_calls=autotune,
                deterministic=deterministic,
            )
        else:
            records = tf.data.TFRecordDataset(files, buffer_size=8 << 20)
        parsed = records.map(parse_record, num_parallel_calls=autotune, deterministic=True)
        return parsed, False
    labels = tf.constant(split.labels, tf.int32)
    records = tf.data.Dataset.from_tensor_slices((tf.constant(split.paths), labels))
    if shuffle:
        # File names are cheap: shuffle the whole list.
        records = records.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    return records, True


def _read(records: Any, reads_files: bool, deterministic: bool) -> Any:
    import tensorflow as tf

    if not reads_files:
        return records
    return records.map(
        lambda path, label: (tf.io.read_file(path), label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )


def _decode_crop(data: Any, choose: Callable[[Any], tuple[Any, Any]]) -> tuple[Any, Any]:
    """Decode the box ``choose(shape)`` picks: only that box for a JPEG, else the whole image."""
    import tensorflow as tf

    def jpeg() -> tuple[Any, Any]:
        box, params = choose(tf.image.extract_jpeg_shape(data)[:2])
        # PIL (serving) decodes with the accurate integer DCT; so does this, pixel for pixel.
        crop = tf.image.decode_and_crop_jpeg(data, box, channels=3, dct_method="INTEGER_ACCURATE")
        return crop, _or_empty(params)

    def other() -> tuple[Any, Any]:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        box, params = choose(tf.shape(image)[:2])
        return image[box[0] : box[0] + box[2], box[1] : box[1] + box[3]], _or_empty(params)

    is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
    crop, params = tf.cond(is_jpeg, jpeg, other)
    return tf.ensure_shape(crop, [None, None, 3]), params


def _or_empty(params: Any) -> Any:
    import tensorflow as tf

    return tf.zeros([0], tf.float32) if params is None else tf.cast(params, tf.float32)


def _resize(image: Any, image_size: int) -> Any:
    """The evaluation resize: bilinear with antialiasing (photos may be far larger), uint8."""
    import tensorflow as tf

    resized = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
