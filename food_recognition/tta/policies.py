"""Test-time augmentation policies: which views of an image a prediction averages.

A policy is data: a tuple of :class:`View` values, each a window of the image
(size, centre, rotation, mirror) resampled back to the full input size. The
built-in policies are registered through the hook
``food_recognition_register_tta_policies`` (by :mod:`food_recognition.tta.builtins`),
like a third party's, and looked up with :func:`get_tta_policy`:

=============== ===== =========================================================
name            views what they are
=============== ===== =========================================================
``identity``    1     the image as given (no TTA)
``flip``        2     the image and its left-right mirror
``five_crop``   5     the centre and the four corner windows of side ``crop``
``ten_crop``    10    ``five_crop`` and the mirror of each
``multi_scale`` 3     the image as given and zoomed out/in about the centre
``random``      N     ``passes`` random rotation/zoom/shift/flip views (seeded)
=============== ===== =========================================================

Views are windows of the image *as given*: the input is already resized and
centre-cropped to the model's size ``S`` by
:func:`food_recognition.datasets.pipeline.eval_transform` (the central square
of 0.875 of the decoded image's shorter side). ``five_crop``'s ``crop`` is a
share of the *decoded* image's shorter side, as in the classic 224-of-256
ImageNet crops, so at the default 0.875 its centre view is the evaluation view
itself (not zoomed in again) and its corner views are that window moved to
the decoded image's corners; the strip beyond the evaluation view that they
reach (1/14 of the side) repeats its edge pixels. A window that reaches past
the image (a zoom out, a shift, a rotation) repeats the edge pixels, as the
reference project's Keras ``ImageDataGenerator`` did (``fill_mode="nearest"``).

>>> from food_recognition.config import TTAConfig
>>> policy = get_tta_policy(TTAConfig(policy="ten_crop"))
>>> policy.num_views, policy.first_view_is_identity
(10, True)
>>> get_tta_policy(TTAConfig(policy="random", options={"passes": 4}, seed=1)).num_views
4

This module is imported when the plugin manager starts, so it imports
TensorFlow only inside :meth:`ViewsPolicy.make_views`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from food_recognition.config import ConfigError, TTAConfig
from food_recognition.plugins.manager import get_plugin_manager
from food_recognition.plugins.registry import PolicySpec, Register

__all__ = [
    "DEFAULT_CROP",
    "DEFAULT_SCALES",
    "EVAL_VIEW_FRACTION",
    "TTAOptionError",
    "TTAPolicy",
    "View",
    "ViewsPolicy",
    "apply_views",
    "builtin_policies",
    "five_crop",
    "flip",
    "get_tta_policy",
    "identity",
    "list_tta_policies",
    "multi_scale",
    "random",
    "ten_crop",
]

#: Side of a ``five_crop``/``ten_crop`` window as a fraction of the decoded
#: image's shorter side (224 of 256, the classic ImageNet evaluation crop).
DEFAULT_CROP = 0.875

#: Share of the decoded image's shorter side the evaluation view (the TTA
#: input) covers: :data:`food_recognition.augment.policies.CENTER_CROP_FRACTION`.
EVAL_VIEW_FRACTION = 0.875

#: Magnifications of ``multi_scale``: zoom out a little, as given, zoom in a little.
DEFAULT_SCALES = (0.875, 1.0, 1.15)


class TTAOptionError(ConfigError):
    """A TTA policy was given an option it does not have, or a value it refuses.

    A :class:`~food_recognition.config.ConfigError`, so the command line prints
    it as one line.
    """


# -- policies as data -------------------------------------------------------------------------


def _number_range(low: float, high: float) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TTAOptionError(f"View.{attribute.name}={value!r} must be a number")
        if not low <= value <= high:
            raise TTAOptionError(
                f"View.{attribute.name}={value!r} is out of range; allowed: [{low}, {high}]"
            )

    return check


@attrs.define(frozen=True)
class View:
    """One view of an image: a window of it, resampled to the full input size.

    :param size: side of the window as a fraction of the image side: ``1.0``
        is the whole image, below 1 crops (zooms in), above 1 zooms out (the
        edge pixels fill the border).
    :param center_x: the window's centre, as a fraction of the width from the left.
    :param center_y: the window's centre, as a fraction of the height from the top.
    :param rotation: rotation of the window in degrees; positive turns the
        picture counter-clockwise (``90`` is ``numpy.rot90``).
    :param flip: mirror the view left-right.
    """

    size: float = attrs.field(default=1.0, converter=float, validator=_number_range(0.05, 4.0))
    center_x: float = attrs.field(default=0.5, converter=float, validator=_number_range(-1.0, 2.0))
    center_y: float = attrs.field(default=0.5, converter=float, validator=_number_range(-1.0, 2.0))
    rotation: float = attrs.field(
        default=0.0, converter=float, validator=_number_range(-360.0, 360.0)
    )
    flip: bool = False

    @property
    def xy_center(self) -> tuple[float, float]:
        """``(center_x, center_y)``."""
        return (self.center_x, self.center_y)

    @property
    def is_identity(self) -> bool:
        """Whether the view is the image exactly as given."""
        return self == View()

    def flipped(self) -> View:
        """The same window, mirrored left-right."""
        return attrs.evolve(self, flip=not self.flip)


@runtime_checkable
class TTAPolicy(Protocol):
    """What :func:`~food_recognition.tta.predict_with_tta` needs from a policy.

    A plugin's policy factory may return any object with these members;
    :class:`ViewsPolicy` is the built-in one.
    """

    @property
    def name(self) -> str:
        """The registry name, for reports."""
        ...

    @property
    def num_views(self) -> int:
        """How many views each image gets (``V``)."""
        ...

    @property
    def first_view_is_identity(self) -> bool:
        """Whether view 0 is the image as given (adaptive TTA then reuses its first pass)."""
        ...

    def make_views(self, images: Any, *, start: int = 0) -> Any:
        """Views ``start`` to ``V - 1`` of each image.

        :param images: float32 ``[N, H, W, 3]`` in ``[0, 255]`` (a tensor or array).
        :param start: the first view to return (``1`` skips an identity view 0).
        :returns: a float32 tensor ``[N, V - start, H, W, 3]``, image-major.
        """
        ...


def _to_views(value: Iterable[View]) -> tuple[View, ...]:
    return tuple(value)


@attrs.define(frozen=True)
class ViewsPolicy:
    """A TTA policy that is a fixed tuple of :class:`View` values.

    :param name: the registry name (``"ten_crop"``), for reports.
    :param views: the views, in order; at least one.
    :param description: one line for listings.

    Applying it is one batched TensorFlow op over all ``N * V`` views
    (a projective transform with bilinear sampling), never a loop per image.
    """

    name: str
    views: tuple[View, ...] = attrs.field(converter=_to_views)
    description: str = ""

    @views.validator
    def _check_views(self, attribute: attrs.Attribute[Any], value: tuple[View, ...]) -> None:
        if not value:
            raise TTAOptionError(f"TTA policy {self.name!r} has no views; give at least one")
        for view in value:
            if not isinstance(view, View):
                raise TTAOptionError(f"TTA policy {self.name!r}: {view!r} is not a View")

    @property
    def num_views(self) -> int:
        """How many views each image gets."""
        return len(self.views)

    @property
    def first_view_is_identity(self) -> bool:
        """Whether view 0 is the image as given."""
        return self.views[0].is_identity

    def make_views(self, images: Any, *, start: int = 0) -> Any:
        """Views ``start`` to ``V - 1`` of each image, as one batched op.

        :param images: float32 ``[N, H, W, C]`` (a tensor or array).
        :param start: the first view to return.
        :returns: float32 tensor ``[N, V - start, H, W, C]``: ``result[i, k]`` is view
            ``start + k`` of image ``i``.
        :raises ValueError: ``images`` is not rank 4, or ``start`` is out of range.
        """
        if not 0 <= start < self.num_views:
            raise ValueError(
                f"start={start} is out of range for TTA policy {self.name!r} "
                f"with {self.num_views} views"
            )
        return apply_views(images, self.views[start:])


# -- applying views with TensorFlow --------------------------------------------------------


def apply_views(images: Any, views: Sequence[View]) -> Any:
    """Every view of every image, as one batched TensorFlow graph.

    Output pixel ``(j, i)`` of a view samples the input at the point of the
    view's window that corresponds to it (pixel centres at half-integers, as
    ``tf.image.resize`` with half-pixel centres), so a ``size=1`` unrotated,
    unflipped view reproduces the image exactly. All resampled views of all
    images are one projective-transform op; the image as given and its plain
    mirror are copied exactly, without resampling.

    :param images: float32 ``[N, H, W, C]``.
    :param views: the views to take of each image.
    :returns: float32 tensor ``[N, len(views), H, W, C]``.
    :raises ValueError: ``images`` is not rank 4.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, dtype=tf.float32)
    if images.shape.rank != 4:
        raise ValueError(
            f"TTA views need a batch of images [N, H, W, C]; got shape {images.shape}. "
            "Add a batch axis for a single image (image[None])."
        )
    return _compiled_views(tuple(views))(images)


@functools.cache
def _compiled_views(views: tuple[View, ...]) -> Callable[[Any], Any]:
    """A graph function making ``views`` of a batch, traced once per policy (not per call).

    Three kinds of view, each batched over all images: the image as given and its
    mirror are copies; axis-aligned windows (crops, zooms, their mirrors) are one
    ``crop_and_resize`` from an edge-padded copy (no image repeated ``V`` times, and
    2-3x faster than the general op); rotated windows are one projective transform.
    All three sample the same points with the same edge rule.
    """
    import tensorflow as tf

    plain, mirror = View(), View(flip=True)
    aligned = [v for v in views if v not in (plain, mirror) and v.rotation == 0.0]
    rotated = [v for v in views if v not in (plain, mirror) and v.rotation != 0.0]
    # How far, as a fraction of the side, an aligned window reaches past the image.
    overflow = max(
        [0.0] + [max(v.size / 2 - c, c + v.size / 2 - 1.0) for v in aligned for c in v.xy_center]
    )

    def make(images: Any) -> Any:
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        size_h, size_w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        made: dict[int, Any] = {}
        if aligned:
            # Pad by repeating the edge pixels, so samples past the image read the edge
            # (crop_and_resize alone would fill a whole row with a constant).
            pad = tf.cast(tf.math.ceil(overflow * tf.maximum(size_h, size_w)), tf.int32) + 2
            rows = tf.clip_by_value(tf.range(-pad, height + pad), 0, height - 1)
            cols = tf.clip_by_value(tf.range(-pad, width + pad), 0, width - 1)
            padded = tf.gather(tf.gather(images, rows, axis=1), cols, axis=2)
            pad_f = tf.cast(pad, tf.float32)
            boxes = tf.stack([_box(v, size_h, size_w, pad_f) for v in aligned], axis=0)  # [Va, 4]
            crops = tf.image.crop_and_resize(
                padded,
                tf.tile(boxes, [n, 1]),
                tf.repeat(tf.range(n), len(aligned)),
                tf.stack([height, width]),
            )
            crops = tf.reshape(crops, tf.concat([[n, len(aligned)], shape[1:]], axis=0))
            if len(aligned) == len(views):
                return crops  # only crops, in order: no copy into a new stack
            for k, view in enumerate(aligned):
                made[id(view)] = crops[:, k]
        if rotated:
            params = tf.constant(
                [
                    (v.size, *v.xy_center, math.radians(v.rotation), -1.0 if v.flip else 1.0)
                    for v in rotated
                ],
                dtype=tf.float32,
            )
            out = tf.raw_ops.ImageProjectiveTransformV3(
                images=tf.repeat(images, len(rotated), axis=0),
                transforms=tf.tile(_transforms(params, size_h, size_w), [n, 1]),
                output_shape=tf.stack([height, width]),
                fill_value=tf.constant(0.0, tf.float32),
                interpolation="BILINEAR",
                fill_mode="NEAREST",
            )
            out = tf.reshape(out, tf.concat([[n, len(rotated)], shape[1:]], axis=0))
            if len(rotated) == len(views):
                return out
            for k, view in enumerate(rotated):
                made[id(view)] = out[:, k]
        stacked = []
        for view in views:
            if view == plain:
                stacked.append(images)
            elif view == mirror:
                stacked.append(tf.reverse(images, axis=[2]))
            else:
                stacked.append(made[id(view)])
        return tf.stack(stacked, axis=1)

    signature = [tf.TensorSpec([None, None, None, None], tf.float32)]
    function = tf.function(make, input_signature=signature, autograph=False)
    return function  # type: ignore[no-any-return]


def _box(view: View, height: Any, width: Any, pad: Any) -> Any:
    """The ``crop_and_resize`` box of an unrotated view, in the padded image.

    ``crop_and_resize`` samples output pixel ``j`` of ``S`` at ``x1 (W' - 1) + j (x2 -
    x1) (W' - 1) / (S - 1)``; the box makes that the point :func:`_transforms` maps
    ``j`` to (``x1 > x2`` mirrors), shifted by the padding.
    """
    import tensorflow as tf

    def ends(center: float, side: Any, mirrored: bool) -> tuple[Any, Any]:
        first = center * side + view.size * (0.5 - side / 2.0) - 0.5
        last = first + view.size * (side - 1.0)
        if mirrored:
            first, last = last, first
        span = side + 2.0 * pad - 1.0
        return (first + pad) / span, (last + pad) / span

    x1, x2 = ends(view.center_x, width, view.flip)
    y1, y2 = ends(view.center_y, height, False)
    return tf.stack([y1, x1, y2, x2])


def _transforms(params: Any, height: Any, width: Any) -> Any:
    """Projective transforms ``[V, 8]`` mapping output pixel indices to input coordinates.

    With ``f = ±1`` (mirror), ``s`` the window size, ``θ`` the rotation and
    ``(cx, cy)`` the centre, output pixel ``(j, i)`` is at ``u = f (j + ½ - W/2)``,
    ``v = i + ½ - H/2`` from the view's centre, and samples the input at
    ``(cx W, cy H) + s R(θ) (u, v) - ½``: affine in ``(j, i)``.
    """
    import tensorflow as tf

    size, cx, cy, theta, mirror = tf.unstack(params, axis=1)
    cos, sin = tf.cos(theta) * size, tf.sin(theta) * size
    u0 = mirror * (0.5 - width / 2.0)
    v0 = 0.5 - height / 2.0
    a0, a1 = cos * mirror, -sin
    b0, b1 = sin * mirror, cos
    a2 = cos * u0 - sin * v0 + cx * width - 0.5
    b2 = sin * u0 + cos * v0 + cy * height - 0.5
    zeros = tf.zeros_like(size)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


# -- the built-in policies ----------------------------------------------------------------


def identity() -> ViewsPolicy:
    """The image as given: one view, no TTA."""
    return ViewsPolicy("identity", (View(),), "the image as given (no TTA)")


def flip() -> ViewsPolicy:
    """The image and its left-right mirror."""
    return ViewsPolicy("flip", (View(), View(flip=True)), "the image and its mirror")


def five_crop(crop: float = DEFAULT_CROP) -> ViewsPolicy:
    """The centre window and the four corner windows, each resized back to the input size.

    :param crop: side of each window as a fraction of the decoded image's shorter side,
        in ``(0, 1]`` (the input, the evaluation view, covers 0.875 of it).
    :raises TTAOptionError: ``crop`` is out of range.
    """
    return ViewsPolicy(
        "five_crop", _five_windows(crop, "five_crop"), f"centre and 4 corner crops of {crop:g}"
    )


def ten_crop(crop: float = DEFAULT_CROP) -> ViewsPolicy:
    """``five_crop`` and the mirror of each of its windows (views 5-9 mirror views 0-4).

    :param crop: side of each window as a fraction of the decoded image's shorter side,
        in ``(0, 1]`` (the input, the evaluation view, covers 0.875 of it).
    :raises TTAOptionError: ``crop`` is out of range.
    """
    windows = _five_windows(crop, "ten_crop")
    return ViewsPolicy(
        "ten_crop",
        windows + tuple(w.flipped() for w in windows),
        f"five crops of {crop:g} and their mirrors",
    )


def multi_scale(scales: str | Iterable[float] = DEFAULT_SCALES) -> ViewsPolicy:
    """The image magnified by each scale about its centre, at the input size.

    A scale above 1 zooms in (a centre window of side ``1/scale``); below 1
    zooms out (the edge pixels fill the border); ``1.0`` is the image as given,
    and comes first when present (adaptive TTA reuses its plain pass for it).

    :param scales: magnifications, as numbers or a comma-separated string
        (``"0.875,1,1.15"``, the form a config option holds).
    :raises TTAOptionError: a scale is not a positive number.
    """
    values = _parse_floats(scales, "multi_scale", "scales")
    for scale in values:
        if not 0.25 <= scale <= 4.0:
            raise TTAOptionError(
                f"TTA policy 'multi_scale': scale {scale:g} is out of range; allowed: [0.25, 4]"
            )
    # The image as given goes first: adaptive TTA reuses its plain pass for it.
    ordered = sorted(values, key=lambda scale: scale != 1.0)
    return ViewsPolicy(
        "multi_scale",
        tuple(View(size=1.0 / scale) for scale in ordered),
        f"scales {', '.join(f'{s:g}' for s in values)}",
    )


def random(
    passes: int = 10,
    rotation: float = 40.0,
    zoom: float = 0.2,
    shift: float = 0.2,
    flip: bool = True,
    include_identity: bool = False,
    seed: int = 0,
) -> ViewsPolicy:
    """The reference project's TTA: ``passes`` random augmentations, averaged.

    Each pass is a random rotation, zoom, shift and mirror in the ranges of
    the reference's training augmentation. The transforms are drawn once
    from ``seed`` and pass ``k`` applies transform ``k`` to every image, so a
    result is reproducible and does not depend on the batch size, the order of
    the images or which images adaptive TTA picks.

    :param passes: number of random views per image.
    :param rotation: rotations are uniform in ``[-rotation, rotation]`` degrees.
    :param zoom: window sizes are uniform in ``[1 - zoom, 1 + zoom]``.
    :param shift: the centre moves uniformly up to ``shift`` of the side each way.
    :param flip: mirror each view with probability one half.
    :param include_identity: make view 0 the image as given (then ``passes - 1`` random ones).
    :param seed: seeds the transforms (:attr:`TTAConfig.seed` by default).
    :raises TTAOptionError: an option is out of range.
    """
    import numpy as np

    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise TTAOptionError(f"TTA policy 'random': passes={passes!r} must be an integer >= 1")
    for option, value, high in (("rotation", rotation, 180.0), ("zoom", zoom, 0.9)):
        if not 0.0 <= float(value) <= high:
            raise TTAOptionError(
                f"TTA policy 'random': {option}={value!r} is out of range; allowed: [0, {high}]"
            )
    if not 0.0 <= float(shift) <= 0.5:
        raise TTAOptionError(
            f"TTA policy 'random': shift={shift!r} is out of range; allowed: [0, 0.5]"
        )
    rng = np.random.default_rng(seed)
    count = passes - 1 if include_identity else passes
    views = [View()] if include_identity else []
    for _ in range(count):
        views.append(
            View(
                size=float(rng.uniform(1.0 - zoom, 1.0 + zoom)),
                center_x=0.5 + float(rng.uniform(-shift, shift)),
                center_y=0.5 + float(rng.uniform(-shift, shift)),
                rotation=float(rng.uniform(-rotation, rotation)),
                flip=bool(flip and rng.random() < 0.5),
            )
        )
    return ViewsPolicy("random", tuple(views), f"{passes} random passes (seed {seed})")


_BUILTINS: tuple[tuple[str, Callable[..., ViewsPolicy], str], ...] = (
    ("identity", identity, "the image as given (no TTA); 1 view"),
    ("flip", flip, "the image and its left-right mirror; 2 views"),
    ("five_crop", five_crop, "centre + 4 corner crops (option crop=0.875); 5 views"),
    ("ten_crop", ten_crop, "five_crop + their mirrors (option crop=0.875); 10 views"),
    ("multi_scale", multi_scale, "zoom 0.875, 1, 1.15 about the centre (option scales); 3 views"),
    (
        "random",
        random,
        "the reference's N random rotation/zoom/shift/flip passes (option passes=10), seeded",
    ),
)


# -- lookup ---------------------------------------------------------------------------------


def get_tta_policy(
    config: TTAConfig | str | None = None, *, policies: Register[PolicySpec] | None = None
) -> TTAPolicy:
    """The TTA policy a config names, built with its options.

    :attr:`TTAConfig.options <food_recognition.config.TTAConfig.options>` are
    passed to the policy's factory as keyword arguments; a factory that takes
    ``seed`` gets :attr:`TTAConfig.seed` unless the options set it.

    :param config: a :class:`~food_recognition.config.TTAConfig`, a policy name,
        or ``None`` for ``identity``.
    :param policies: the register to look in; the process-wide plugin
        manager's (:attr:`PluginManager.tta_policies
        <food_recognition.plugins.PluginManager.tta_policies>`) by default.
    :returns: the policy (a :class:`TTAPolicy`).
    :raises ~food_recognition.plugins.UnknownNameError: no plugin registered that
        name; the message lists the policies.
    :raises TTAOptionError: an option the policy does not have (the message lists
        the ones it has) or a value it refuses.
    """
    if config is None:
        config = TTAConfig()
    elif isinstance(config, str):
        config = TTAConfig(policy=config)
    if policies is None:
        policies = get_plugin_manager().tta_policies
    policy: TTAPolicy = policies.create(
        config.policy,
        config.options,
        option_error=TTAOptionError,
        defaults={"seed": config.seed},
        returns=TTAPolicy,
        hint=" (tta.options.NAME in a config)",
    )
    return policy


def list_tta_policies(policies: Register[PolicySpec] | None = None) -> list[PolicySpec]:
    """Every registered TTA policy, sorted by name.

    :param policies: the register to look in; the process-wide plugin manager's by default.
    """
    return list(get_plugin_manager().tta_policies if policies is None else policies)


def builtin_policies() -> Register[PolicySpec]:
    """A register holding only the built-in TTA policies (no plugins loaded)."""
    register: Register[PolicySpec] = Register("TTA policy", PolicySpec)
    for name, factory, description in _BUILTINS:
        register.add(PolicySpec(name=name, factory=factory, description=description))
    return register


# -- helpers ----------------------------------------------------------------------------------


def _five_windows(crop: float, policy: str) -> tuple[View, ...]:
    if isinstance(crop, bool) or not isinstance(crop, (int, float)) or not 0.1 <= crop <= 1.0:
        raise TTAOptionError(
            f"TTA policy {policy!r}: crop={crop!r} is out of range; allowed: [0.1, 1] "
            "(the window side as a fraction of the image side)"
        )
    # In units of the evaluation view (the input), which is the central
    # EVAL_VIEW_FRACTION of the decoded image's shorter side.
    size = crop / EVAL_VIEW_FRACTION
    offset = (1.0 - crop) / (2.0 * EVAL_VIEW_FRACTION)
    near, far = 0.5 - offset, 0.5 + offset
    return (
        View(size=size),
        View(size=size, center_x=near, center_y=near),
        View(size=size, center_x=far, center_y=near),
        View(size=size, center_x=near, center_y=far),
        View(size=size, center_x=far, center_y=far),
    )


def _parse_floats(value: str | Iterable[float], policy: str, option: str) -> tuple[float, ...]:
    try:
        if isinstance(value, str):
            result = tuple(float(part) for part in value.split(",") if part.strip())
        elif isinstance(value, (int, float)):
            result = (float(value),)
        else:
            result = tuple(float(part) for part in value)
    except (TypeError, ValueError):
        result = ()
    if not result:
        raise TTAOptionError(
            f'TTA policy {policy!r}: {option}={value!r} must be numbers, e.g. "0.875,1.0,1.15"'
        )
    return result
