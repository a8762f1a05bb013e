"""The built-in training-time augmentation policies, registered as a plugin.

A policy is a frozen value (its options) plus the TensorFlow ops it turns into.
The input pipeline runs a policy in three steps, so that the expensive work is
done once per batch instead of once per image, and only on the pixels kept:

1. :meth:`AugmentPolicy.sample` (per image, before decoding): from the image's
   height and width choose the crop box to decode, plus a small vector of
   per-image parameters (a flip bit, an affine transform, colour factors).
   Zoom, shift and random-resized-crop are all just a choice of box here, so
   with :func:`tf.image.decode_and_crop_jpeg` they cost nothing but the choice.
2. The pipeline decodes only that box; :meth:`AugmentPolicy.prepare` resizes it
   to the output size, with what is cheap per image (a flip, brightness and
   contrast while the resized pixels are float anyway), and returns uint8.
3. :meth:`AugmentPolicy.batch_transform` (per batch): one vectorised call on the
   uint8 batch and its parameters (for example a single
   ``ImageProjectiveTransformV3`` for every image's rotation) returning float32
   pixels in ``[0, 255]``.

For training on a GPU, :meth:`AugmentPolicy.device_split` gives the part that
stays in the CPU pipeline and the Keras layers that do the rest on the device.

This module is a built-in plugin and is imported when the plugin manager
starts, so TensorFlow and Keras are imported inside the methods only.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any

import attrs

__all__ = [
    "CENTER_CROP_FRACTION",
    "AugmentPolicy",
    "DefaultPolicy",
    "NoAugmentPolicy",
    "RandAugmentPolicy",
    "ReferencePolicy",
    "center_box",
    "resize_uint8",
]

#: Share of the shorter side that evaluation (and ``none``) keeps around the
#: centre: the usual "resize to S / 0.875, centre-crop S".
CENTER_CROP_FRACTION = 0.875

#: ``batch_transform()`` returns this: ``fn(images_uint8, params, seed) -> float32 images``.
BatchTransform = Callable[[Any, Any, Any], Any]

_FILL_MODES = ("nearest", "reflect", "wrap", "constant")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"augmentation option {attribute.name}={value!r} must be a number >= 0")


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    _non_negative(instance, attribute, value)
    if value >= 1:
        raise ValueError(f"augmentation option {attribute.name}={value!r} must be below 1")


def _flag(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"augmentation option {attribute.name}={value!r} must be true or false")


class AugmentPolicy(abc.ABC):
    """What the input pipeline needs from an augmentation policy.

    Subclasses are frozen attrs classes whose fields are the policy's options.
    All randomness comes from the ``seed`` tensors the pipeline passes
    (stateless ops), so a seeded pipeline is reproducible.
    """

    #: The registry name.
    name: str = ""

    #: Length of the per-image parameter vector :meth:`sample` returns.
    num_params: int = 0

    @abc.abstractmethod
    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        """Choose the region of one image to decode and its per-image parameters.

        :param image_shape: int32 tensor ``[height, width]`` of the encoded image.
        :param image_size: the square output size in pixels.
        :param seed: int64 tensor of shape ``[2]`` for stateless random ops.
        :returns: ``(box, params)``: int32 ``[offset_y, offset_x, height, width]``
            inside the image, and float32 ``[num_params]``.
        """

    def prepare(self, crop: Any, image_size: int, params: Any) -> Any:
        """Resize one decoded crop to the output size (and any cheap per-image step).

        :param crop: uint8 ``[h, w, 3]``: the box :meth:`sample` chose, decoded.
        :param image_size: the square output size.
        :param params: the float32 parameters :meth:`sample` returned.
        :returns: ``[image_size, image_size, 3]``, uint8 (the default: bilinear
            resize) or float32 in ``[0, 255]``; the same dtype for every image.
        """
        return resize_uint8(crop, image_size)

    def batch_transform(self) -> BatchTransform:
        """A function applied to each batch after the crops are resized.

        Called once, eagerly, when the pipeline is built (so a Keras layer can
        be created here); the returned function is traced into ``tf.data``.

        :returns: ``fn(images, params, seed)``: uint8 ``[B, S, S, 3]``, float32
            ``[B, num_params]`` and an int64 ``[2]`` seed to float32 ``[B, S, S, 3]``
            with values in ``[0, 255]``.
        """

        def cast(images: Any, params: Any, seed: Any) -> Any:
            import tensorflow as tf

            return tf.cast(images, tf.float32)

        return cast

    def device_split(self) -> tuple[AugmentPolicy, list[Any]]:
        """Split the policy for training on an accelerator.

        :returns: ``(cpu_policy, layers)``: the policy the ``tf.data`` pipeline
            still runs (usually just the crop) and Keras layers that do the
            rest on the device, in order, on float32 images in ``[0, 255]``.
        """
        return self, []


# -- reference: the reference project's ImageDataGenerator set -------------------------


@attrs.define(frozen=True)
class ReferencePolicy(AugmentPolicy):
    """The reference project's Keras ``ImageDataGenerator`` set.

    Each image starts as the view evaluation sees (the central square of
    :data:`CENTER_CROP_FRACTION` of the shorter side), then is rotated by a
    uniform angle in ``[-rotation, rotation]`` degrees, zoomed by independent
    factors in ``[1 - zoom, 1 + zoom]`` per axis, shifted by up to
    ``width_shift`` / ``height_shift`` of its size, and flipped left-right with
    probability 1/2; areas outside the image take the nearest edge pixel. With
    ``squash`` it starts from the whole image squashed to a square, as the
    reference's ``flow_from_directory`` did; evaluation centre-crops, so a
    model then trains and is evaluated on differently shaped food.

    Zoom and shift only choose the window that is decoded; the rotation, the
    flip and any part of the window outside the image are one affine warp per
    image, done for the whole batch in one call.

    :param rotation: maximum rotation in degrees.
    :param zoom: maximum relative zoom per axis.
    :param width_shift: maximum horizontal shift as a fraction of the width.
    :param height_shift: maximum vertical shift as a fraction of the height.
    :param horizontal_flip: flip left-right half the time.
    :param fill_mode: how pixels outside the image are filled: ``nearest``,
        ``reflect``, ``wrap`` or ``constant`` (black).
    :param interpolation: ``bilinear`` (as the reference) or ``nearest``, which
        on a CPU warps about four times faster (one gather of whole pixels).
    :param squash: start from the whole image squashed (the reference's
        geometry) instead of evaluation's centre square.
    """

    rotation: float = attrs.field(default=40.0, validator=_non_negative)
    zoom: float = attrs.field(default=0.2, validator=_fraction)
    width_shift: float = attrs.field(default=0.2, validator=_fraction)
    height_shift: float = attrs.field(default=0.2, validator=_fraction)
    horizontal_flip: bool = attrs.field(default=True, validator=_flag)
    fill_mode: str = attrs.field(default="nearest", validator=attrs.validators.in_(_FILL_MODES))
    interpolation: str = attrs.field(
        default="bilinear", validator=attrs.validators.in_(("bilinear", "nearest"))
    )
    squash: bool = attrs.field(default=False, validator=_flag)

    name = "reference"
    num_params = 8

    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        """See :meth:`AugmentPolicy.sample`; ``params`` is the warp's transform."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, 4)
        angle = tf.random.stateless_uniform([], seeds[0], -self.rotation, self.rotation) * (
            math.pi / 180.0
        )
        zoom_xy = tf.random.stateless_uniform([2], seeds[1], 1.0 - self.zoom, 1.0 + self.zoom)
        shift = tf.random.stateless_uniform([2], seeds[2], -1.0, 1.0) * tf.constant(
            [self.width_shift, self.height_shift], tf.float32
        )
        flip = tf.random.stateless_uniform([], seeds[3]) < (0.5 if self.horizontal_flip else 0.0)
        return reference_window(
            image_shape,
            image_size,
            angle=angle,
            zoom_x=zoom_xy[0],
            zoom_y=zoom_xy[1],
            shift_x=shift[0],
            shift_y=shift[1],
            flip=flip,
            square=None if self.squash else CENTER_CROP_FRACTION,
        )

    def batch_transform(self) -> BatchTransform:
        """One warp of the whole uint8 batch, then float32."""
        fill_mode = self.fill_mode.upper()
        if self.interpolation == "nearest":
            return lambda images, params, seed: nearest_warp(images, params, self.fill_mode)

        def warp(images: Any, params: Any, seed: Any) -> Any:
            import tensorflow as tf

            size = tf.shape(images)[1:3]
            warped = tf.raw_ops.ImageProjectiveTransformV3(
                images=images,
                transforms=params,
                output_shape=size,
                fill_value=0.0,
                interpolation="BILINEAR",
                fill_mode=fill_mode,
            )
            return tf.cast(warped, tf.float32)

        return warp

    def device_split(self) -> tuple[AugmentPolicy, list[Any]]:
        """The starting view on the CPU; Keras's four layers on the device."""
        import keras

        fill = self.fill_mode
        layers: list[Any] = [
            keras.layers.RandomRotation(self.rotation / 360.0, fill_mode=fill),
            keras.layers.RandomZoom(self.zoom, self.zoom, fill_mode=fill),
            keras.layers.RandomTranslation(self.height_shift, self.width_shift, fill_mode=fill),
        ]
        if self.horizontal_flip:
            layers.append(keras.layers.RandomFlip("horizontal"))
        return (_WholeImage() if self.squash else NoAugmentPolicy()), layers


def reference_window(
    image_shape: Any,
    image_size: int,
    *,
    angle: Any,
    zoom_x: Any,
    zoom_y: Any,
    shift_x: Any,
    shift_y: Any,
    flip: Any,
    square: float | None = None,
) -> tuple[Any, Any]:
    """The decode box and warp of :class:`ReferencePolicy` for given random draws.

    The window is the part of the image the output shows before rotation: its
    size is ``zoom`` times the base's, its centre shifted by ``shift`` times
    the base's size. The base is the whole image (``square=None``) or its
    central square of ``square`` of the shorter side (:func:`center_box`).
    The box is the window clipped to the image (what is decoded and resized to
    ``image_size``); the returned transform maps each
    output pixel to that resized box, rotating about the centre, flipping,
    and reaching outside the box where the window does.

    :param image_shape: int32 ``[height, width]``.
    :param image_size: the square output size.
    :param angle: rotation in radians.
    :param zoom_x: window width / image width.
    :param zoom_y: window height / image height.
    :param shift_x: horizontal shift of the window centre, as a fraction of the width.
    :param shift_y: vertical shift, as a fraction of the height.
    :param flip: bool tensor, flip left-right.
    :param square: the base's share of the shorter side; ``None``: the whole image.
    :returns: ``(box, transform)``: int32 ``[y, x, h, w]`` and the 8 float32
        coefficients ``ImageProjectiveTransformV3`` takes.
    """
    import tensorflow as tf

    height = tf.cast(image_shape[0], tf.float32)
    width = tf.cast(image_shape[1], tf.float32)
    size = float(image_size)
    if square is None:
        base_y, base_x, base_h, base_w = 0.0, 0.0, height, width
    else:
        base = tf.cast(center_box(image_shape, square), tf.float32)
        base_y, base_x, base_h, base_w = base[0], base[1], base[2], base[3]
    win_w = zoom_x * base_w
    win_h = zoom_y * base_h
    win_x = base_x + base_w * (0.5 + shift_x) - win_w / 2.0
    win_y = base_y + base_h * (0.5 + shift_y) - win_h / 2.0
    # The decoded box: the window clipped to the image, whole pixels, never empty.
    box_x0 = tf.clip_by_value(tf.floor(win_x), 0.0, width - 1.0)
    box_y0 = tf.clip_by_value(tf.floor(win_y), 0.0, height - 1.0)
    box_x1 = tf.clip_by_value(tf.math.ceil(win_x + win_w), box_x0 + 1.0, width)
    box_y1 = tf.clip_by_value(tf.math.ceil(win_y + win_h), box_y0 + 1.0, height)
    box_w = box_x1 - box_x0
    box_h = box_y1 - box_y0
    box = tf.cast(tf.stack([box_y0, box_x0, box_h, box_w]), tf.int32)

    # Output pixel u (centre at u + 0.5) -> centred, flipped, rotated point q ->
    # window -> image -> the box resized to `size` (pixel centres at index i).
    cos, sin = tf.cos(angle), tf.sin(angle)
    sign = tf.where(flip, -1.0, 1.0)
    m00, m01, m10, m11 = cos * sign, -sin, sin * sign, cos
    scale_x = win_w / box_w
    scale_y = win_h / box_h
    c = 0.5 - size / 2.0
    offset_x = (win_x - box_x0) * size / box_w
    offset_y = (win_y - box_y0) * size / box_h
    a0, a1 = scale_x * m00, scale_x * m01
    a2 = scale_x * (m00 * c + m01 * c + size / 2.0) + offset_x - 0.5
    b0, b1 = scale_y * m10, scale_y * m11
    b2 = scale_y * (m10 * c + m11 * c + size / 2.0) + offset_y - 0.5
    zero = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zero, zero])
    return box, transform


def nearest_warp(images: Any, transforms: Any, fill_mode: str = "nearest") -> Any:
    """Affine-warp a batch with nearest-neighbour sampling: one gather of whole pixels.

    Same transforms and fill modes as ``ImageProjectiveTransformV3`` (whose CPU
    kernel computes every channel of every pixel separately), for the affine
    case the policies use.

    :param images: uint8 ``[B, H, W, C]``.
    :param transforms: float32 ``[B, 8]``, output pixel -> input pixel.
    :param fill_mode: ``nearest``, ``reflect``, ``wrap`` or ``constant``.
    :returns: float32 ``[B, H, W, C]``.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    t = transforms[:, :, None, None]
    cols = tf.range(width, dtype=tf.float32)[None, None, :]
    rows = tf.range(height, dtype=tf.float32)[None, :, None]
    # Small [B, 1, W] and [B, H, 1] terms first, so only one op per axis is
    # full-size; +0.5 then truncation rounds half up (the kernel's std::round).
    xs = (t[:, 0] * cols + (t[:, 2] + 0.5)) + t[:, 1] * rows
    ys = (t[:, 3] * cols + (t[:, 5] + 0.5)) + t[:, 4] * rows
    w = tf.cast(width, tf.float32)
    h = tf.cast(height, tf.float32)
    inside = None
    if fill_mode == "constant":
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    elif fill_mode == "wrap":
        xs, ys = tf.math.floormod(tf.floor(xs), w), tf.math.floormod(tf.floor(ys), h)
    elif fill_mode == "reflect":
        xs, ys = _reflect(tf.floor(xs), w), _reflect(tf.floor(ys), h)
    # Clipped to >= 0, the cast's truncation is the floor.
    xi = tf.cast(tf.raw_ops.ClipByValue(t=xs, clip_value_min=0.0, clip_value_max=w - 1), tf.int32)
    yi = tf.cast(tf.raw_ops.ClipByValue(t=ys, clip_value_min=0.0, clip_value_max=h - 1), tf.int32)
    first_row = (tf.range(batch) * height)[:, None, None]
    index = (yi + first_row) * width + xi
    pixels = tf.reshape(images, tf.stack([-1, shape[3]]))
    out = tf.cast(tf.gather(pixels, index), tf.float32)
    if inside is not None:
        out = out * tf.cast(inside, tf.float32)[..., None]
    return out


def _reflect(coords: Any, size: Any) -> Any:
    import tensorflow as tf

    # "d c b a | a b c d | d c b a": period 2 * size, mirrored in the second half.
    folded = tf.math.floormod(coords, 2.0 * size)
    return tf.where(folded < size, folded, 2.0 * size - 1.0 - folded)


# -- default: random-resized-crop, flip, light colour jitter ---------------------------


@attrs.define(frozen=True)
class DefaultPolicy(AugmentPolicy):
    """The modern recipe: random-resized-crop, horizontal flip, light colour jitter.

    The crop covers ``[min_scale, max_scale]`` of the image's area with an
    aspect ratio in ``[min_ratio, max_ratio]`` (only that box is decoded).
    Brightness, contrast and saturation are each scaled by a factor drawn
    uniformly from ``[1 - x, 1 + x]`` per image, on the resized pixels while
    they are still float. Saturation is off by default: it mixes the colour
    channels of every pixel, which costs the CPU pipeline about a third of its
    throughput; brightness and contrast are one multiply-add.

    :param min_scale: smallest share of the image's area a crop covers.
    :param max_scale: largest share.
    :param min_ratio: smallest width/height ratio of a crop.
    :param max_ratio: largest ratio.
    :param horizontal_flip: flip left-right half the time.
    :param brightness: brightness jitter strength (0 turns it off).
    :param contrast: contrast jitter strength.
    :param saturation: saturation jitter strength.
    """

    min_scale: float = attrs.field(default=0.08, validator=_non_negative)
    max_scale: float = attrs.field(default=1.0, validator=_non_negative)
    min_ratio: float = attrs.field(default=3.0 / 4.0, validator=_non_negative)
    max_ratio: float = attrs.field(default=4.0 / 3.0, validator=_non_negative)
    horizontal_flip: bool = attrs.field(default=True, validator=_flag)
    brightness: float = attrs.field(default=0.2, validator=_fraction)
    contrast: float = attrs.field(default=0.2, validator=_fraction)
    saturation: float = attrs.field(default=0.0, validator=_fraction)

    name = "default"
    num_params = 4

    def __attrs_post_init__(self) -> None:
        if not 0 < self.min_scale <= self.max_scale <= 1:
            raise ValueError(
                f"augmentation options need 0 < min_scale <= max_scale <= 1, got "
                f"min_scale={self.min_scale}, max_scale={self.max_scale}"
            )
        if not 0 < self.min_ratio <= self.max_ratio:
            raise ValueError(
                f"augmentation options need 0 < min_ratio <= max_ratio, got "
                f"min_ratio={self.min_ratio}, max_ratio={self.max_ratio}"
            )

    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        """See :meth:`AugmentPolicy.sample`; ``params`` are flip and three colour factors."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, 2)
        box = random_resized_crop_box(
            image_shape, seeds[0], self.min_scale, self.max_scale, self.min_ratio, self.max_ratio
        )
        draws = tf.random.stateless_uniform([4], seeds[1])
        flip = tf.cast(draws[0] < (0.5 if self.horizontal_flip else 0.0), tf.float32)
        strength = tf.constant([self.brightness, self.contrast, self.saturation], tf.float32)
        factors = 1.0 + (2.0 * draws[1:] - 1.0) * strength
        return box, tf.concat([flip[None], factors], 0)

    def prepare(self, crop: Any, image_size: int, params: Any) -> Any:
        """Resize, jitter colours while the pixels are float anyway, flip if drawn; uint8."""
        import tensorflow as tf

        if not (self.brightness or self.contrast or self.saturation):
            return flip_if(resize_uint8(crop, image_size), params[0] > 0.5)
        resized = tf.image.resize(crop, [image_size, image_size], antialias=True)
        saturation = params[3] if self.saturation else None
        jittered = color_jitter(resized, params[1], params[2], saturation, round_offset=0.5)
        return flip_if(tf.cast(jittered, tf.uint8), params[0] > 0.5)

    def device_split(self) -> tuple[AugmentPolicy, list[Any]]:
        """The crop stays on the CPU; flip and colour jitter become Keras layers."""
        import keras

        cpu = attrs.evolve(
            self, horizontal_flip=False, brightness=0.0, contrast=0.0, saturation=0.0
        )
        layers: list[Any] = []
        if self.horizontal_flip:
            layers.append(keras.layers.RandomFlip("horizontal"))
        if self.brightness or self.contrast or self.saturation:
            layers.append(
                keras.layers.RandomColorJitter(
                    value_range=(0, 255),
                    brightness_factor=self.brightness or None,
                    contrast_factor=self.contrast or None,
                    saturation_factor=(
                        max(0.0, 0.5 - self.saturation / 2),
                        0.5 + self.saturation / 2,
                    )
                    if self.saturation
                    else None,
                )
            )
        return cpu, layers


def random_resized_crop_box(
    image_shape: Any,
    seed: Any,
    min_scale: float = 0.08,
    max_scale: float = 1.0,
    min_ratio: float = 3.0 / 4.0,
    max_ratio: float = 4.0 / 3.0,
) -> Any:
    """A random-resized-crop box (Inception-style), int32 ``[y, x, h, w]``.

    Falls back to the whole image when ten tries find no box that fits.

    :param image_shape: int32 ``[height, width]``.
    :param seed: int64 ``[2]``.
    :returns: the box.
    """
    import tensorflow as tf

    shape3 = tf.concat([tf.cast(image_shape[:2], tf.int32), [3]], 0)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape3,
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=(min_ratio, max_ratio),
        area_range=(min_scale, max_scale),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def color_jitter(
    image: Any, brightness: Any, contrast: Any, saturation: Any, *, round_offset: float = 0.0
) -> Any:
    """Scale brightness, contrast and saturation of one float32 image.

    The three steps (``x * b``; towards the image's mean by ``c``; towards
    each pixel's grey by ``s``) compose to one 3x3 colour matrix and an offset.
    Without saturation the matrix is a scalar, and the whole jitter is one
    multiply-add and a clip; with it, a small matrix product per pixel (about
    as costly as the resize before it on a CPU).

    :param image: float32 ``[H, W, 3]`` in ``[0, 255]``.
    :param brightness: multiplier (1 keeps the image).
    :param contrast: factor of the distance from the image's mean value.
    :param saturation: factor of the distance from each pixel's grey; ``None``
        skips the step (the same result as 1, cheaper).
    :param round_offset: added before clipping (0.5 makes a following cast to
        uint8 round instead of truncating).
    :returns: float32 image clipped to ``[0, 255]``.
    """
    import tensorflow as tf

    # Contrast pulls towards the mean of all values (a full reduction is the
    # cheapest; TensorFlow's adjust_contrast uses per-channel means instead).
    mean = tf.reduce_mean(image) * brightness
    offset = (1.0 - contrast) * mean + round_offset
    if saturation is None:
        out = image * (brightness * contrast) + offset
    else:
        weights = tf.constant([0.299, 0.587, 0.114])
        pixels = tf.reshape(image, [-1, 3])
        # out = b*c * (s*I + (1 - s) * 1 w^T) x + (1 - c) * mean
        matrix = (brightness * contrast) * (
            saturation * tf.eye(3) + (1.0 - saturation) * tf.ones([3, 1]) * weights[None, :]
        )
        out = tf.reshape(tf.matmul(pixels, matrix, transpose_b=True) + offset, tf.shape(image))
    return tf.raw_ops.ClipByValue(t=out, clip_value_min=0.0, clip_value_max=255.0)


def flip_if(image: Any, flip: Any) -> Any:
    """Mirror one ``[H, W, C]`` image left-right when ``flip`` is true.

    :param image: the image.
    :param flip: bool tensor.
    :returns: the image, mirrored or not.
    """
    import tensorflow as tf

    return tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)


# -- randaugment ---------------------------------------------------------------------------


@attrs.define(frozen=True)
class RandAugmentPolicy(AugmentPolicy):
    """Random-resized-crop and flip, then Keras's ``RandAugment`` on the batch.

    Keras's layer draws from its own seed generator, so unlike the other
    built-in policies its result does not follow the pipeline's seed.

    :param num_ops: operations applied in sequence.
    :param magnitude: strength of each operation, 0 to 1.
    :param min_scale: smallest share of the image's area a crop covers.
    :param horizontal_flip: flip left-right half the time.
    """

    num_ops: int = attrs.field(default=2, validator=attrs.validators.instance_of(int))
    magnitude: float = attrs.field(default=0.5, validator=_non_negative)
    min_scale: float = attrs.field(default=0.08, validator=_non_negative)
    horizontal_flip: bool = attrs.field(default=True, validator=_flag)

    name = "randaugment"
    num_params = 1

    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        """See :meth:`AugmentPolicy.sample`; ``params`` is the flip bit."""
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, 2)
        box = random_resized_crop_box(image_shape, seeds[0], self.min_scale)
        flip = tf.random.stateless_uniform([1], seeds[1]) < (0.5 if self.horizontal_flip else 0.0)
        return box, tf.cast(flip, tf.float32)

    def prepare(self, crop: Any, image_size: int, params: Any) -> Any:
        """Resize, then flip if drawn; uint8."""
        return flip_if(resize_uint8(crop, image_size), params[0] > 0.5)

    def batch_transform(self) -> BatchTransform:
        """The Keras layer (built here, once, outside the trace) on the batch."""
        import tensorflow as tf

        layer = self._layer()

        def augment(images: Any, params: Any, seed: Any) -> Any:
            images = tf.cast(images, tf.float32)
            return tf.clip_by_value(layer(images, training=True), 0.0, 255.0)

        return augment

    def device_split(self) -> tuple[AugmentPolicy, list[Any]]:
        """The crop stays on the CPU; flip and RandAugment run as Keras layers."""
        import keras

        layers: list[Any] = []
        if self.horizontal_flip:
            layers.append(keras.layers.RandomFlip("horizontal"))
        layers.append(self._layer())
        return attrs.evolve(self, horizontal_flip=False, num_ops=0), layers

    def _layer(self) -> Any:
        import keras

        if self.num_ops == 0:
            return keras.layers.Identity()
        return keras.layers.RandAugment(
            value_range=(0, 255), num_ops=self.num_ops, factor=self.magnitude
        )


# -- none ----------------------------------------------------------------------------------


@attrs.define(frozen=True)
class NoAugmentPolicy(AugmentPolicy):
    """No augmentation: the evaluation transform (centre crop, resize)."""

    name = "none"

    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        """See :meth:`AugmentPolicy.sample`: the centre box, no parameters."""
        import tensorflow as tf

        return center_box(image_shape), tf.zeros([0], tf.float32)


@attrs.define(frozen=True)
class _WholeImage(AugmentPolicy):
    """The whole image, squashed (the CPU part of the reference set on a device)."""

    name = "whole-image"

    def sample(self, image_shape: Any, image_size: int, seed: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        shape = tf.cast(image_shape[:2], tf.int32)
        return tf.stack([0, 0, shape[0], shape[1]]), tf.zeros([0], tf.float32)


def center_box(image_shape: Any, fraction: float = CENTER_CROP_FRACTION) -> Any:
    """The central square covering ``fraction`` of the shorter side, int32 ``[y, x, h, w]``.

    :param image_shape: ``[height, width]`` (a tensor or a sequence).
    :param fraction: share of the shorter side kept.
    :returns: the box.
    """
    import tensorflow as tf

    shape = tf.cast(tf.convert_to_tensor(image_shape)[:2], tf.int32)
    side = tf.maximum(
        1, tf.cast(tf.round(tf.cast(tf.reduce_min(shape), tf.float32) * fraction), tf.int32)
    )
    return tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])


def resize_uint8(image: Any, image_size: int) -> Any:
    """Resize one uint8 image to ``image_size`` square (bilinear, antialiased), back to uint8.

    The training pipeline's resize: the same as evaluation's
    (:func:`food_recognition.datasets.pipeline.eval_transform`), so a model
    sees the same pixels in training and in service (without antialiasing, a
    downscaled crop aliases in training only).

    :param image: uint8 ``[H, W, 3]``.
    :param image_size: the output side.
    :returns: uint8 ``[image_size, image_size, 3]``.
    """
    import tensorflow as tf

    resized = tf.image.resize(image, [image_size, image_size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
