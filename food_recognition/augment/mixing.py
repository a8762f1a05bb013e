"""MixUp and CutMix on batches with one-hot (or already soft) labels.

Each image is mixed with its partner in the reversed batch; the labels are
mixed in the same proportion, so every label row still sums to 1. All random
draws are stateless, from the seed the pipeline passes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["cutmix", "mix_batch", "mixup"]


def mix_batch(
    images: Any, labels: Any, *, mixup_alpha: float, cutmix_alpha: float, seed: Any
) -> tuple[Any, Any]:
    """MixUp or CutMix a batch, as ``AugmentConfig.mixup_alpha``/``cutmix_alpha`` ask.

    With both on, each batch gets one of the two, chosen with equal odds
    (as timm does); with neither, the batch is returned unchanged.

    :param images: float32 ``[B, H, W, C]``.
    :param labels: float32 ``[B, num_classes]``, rows summing to 1.
    :param mixup_alpha: Beta(alpha, alpha) parameter of MixUp; 0 turns it off.
    :param cutmix_alpha: Beta(alpha, alpha) parameter of CutMix; 0 turns it off.
    :param seed: int64 ``[2]`` seed.
    :returns: ``(images, labels)`` mixed.
    """
    if not mixup_alpha and not cutmix_alpha:
        return images, labels
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 3)
    if not cutmix_alpha:
        return mixup(images, labels, alpha=mixup_alpha, seed=seeds[0])
    if not mixup_alpha:
        return cutmix(images, labels, alpha=cutmix_alpha, seed=seeds[1])
    use_mixup = tf.random.stateless_uniform([], seeds[2]) < 0.5
    mixed: tuple[Any, Any] = tf.cond(
        use_mixup,
        lambda: mixup(images, labels, alpha=mixup_alpha, seed=seeds[0]),
        lambda: cutmix(images, labels, alpha=cutmix_alpha, seed=seeds[1]),
    )
    return mixed


def mixup(images: Any, labels: Any, *, alpha: float, seed: Any) -> tuple[Any, Any]:
    """Blend each image with its partner by a Beta(alpha, alpha) weight per image.

    :param images: float32 ``[B, H, W, C]``.
    :param labels: float32 ``[B, num_classes]``.
    :param alpha: the Beta distribution's parameter (> 0).
    :param seed: int64 ``[2]``.
    :returns: ``(images, labels)``.
    """
    import tensorflow as tf

    weight = _beta(tf.shape(images)[:1], alpha, seed)
    partner_images = tf.reverse(images, axis=[0])
    partner_labels = tf.reverse(labels, axis=[0])
    w_img = tf.reshape(weight, [-1, 1, 1, 1])
    w_lab = tf.reshape(weight, [-1, 1])
    # Clip: the blend of two values in [0, 255] can overshoot by a rounding error.
    blended = tf.clip_by_value(w_img * images + (1.0 - w_img) * partner_images, 0.0, 255.0)
    return blended, w_lab * labels + (1.0 - w_lab) * partner_labels


def cutmix(images: Any, labels: Any, *, alpha: float, seed: Any) -> tuple[Any, Any]:
    """Paste a random box of each image's partner into it; labels by the box's area.

    :param images: float32 ``[B, H, W, C]``.
    :param labels: float32 ``[B, num_classes]``.
    :param alpha: the Beta distribution's parameter (> 0).
    :param seed: int64 ``[2]``.
    :returns: ``(images, labels)``.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 2)
    shape = tf.shape(images)
    batch = shape[:1]
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    keep = _beta(batch, alpha, seeds[0])
    side = tf.sqrt(1.0 - keep)
    centre = tf.random.stateless_uniform(tf.concat([batch, [2]], 0), seeds[1])
    cy, cx = centre[:, 0] * height, centre[:, 1] * width
    y0 = tf.clip_by_value(tf.round(cy - side * height / 2), 0.0, height)
    y1 = tf.clip_by_value(tf.round(cy + side * height / 2), 0.0, height)
    x0 = tf.clip_by_value(tf.round(cx - side * width / 2), 0.0, width)
    x1 = tf.clip_by_value(tf.round(cx + side * width / 2), 0.0, width)
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]

    def column(values: Any) -> Any:
        return tf.reshape(values, [-1, 1, 1])

    inside = (rows >= column(y0)) & (rows < column(y1)) & (cols >= column(x0)) & (cols < column(x1))
    pasted = tf.where(inside[..., None], tf.reverse(images, axis=[0]), images)
    area = (y1 - y0) * (x1 - x0) / (height * width)
    area = tf.reshape(area, [-1, 1])
    mixed = (1.0 - area) * labels + area * tf.reverse(labels, axis=[0])
    return pasted, mixed


def _beta(shape: Any, alpha: float, seed: Any) -> Any:
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 2)
    first = tf.random.stateless_gamma(shape, seeds[0], alpha=alpha)
    second = tf.random.stateless_gamma(shape, seeds[1], alpha=alpha)
    return first / tf.maximum(first + second, 1e-12)
