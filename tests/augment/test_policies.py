"""Augmentation policies: lookup by name, options, and what each one does to pixels."""

from __future__ import annotations

import math
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from food_recognition.augment import (
    DefaultPolicy,
    NoAugmentPolicy,
    PolicyOptionError,
    ReferencePolicy,
    augment_images,
    device_augmenter,
    get_policy,
    list_policies,
)
from food_recognition.augment.policies import (
    AugmentPolicy,
    color_jitter,
    nearest_warp,
    reference_window,
)
from food_recognition.config import AugmentConfig
from food_recognition.datasets.pipeline import eval_transform
from food_recognition.plugins import hookimpl
from food_recognition.plugins.manager import PluginManager
from food_recognition.plugins.registry import PolicySpec, UnknownNameError

SIZE = 56  # 0.875 * 64: the centre crop of a 64 px image needs no resize


def photo_like(seed: int = 0, size: int = 64, batch: int = 4) -> np.ndarray:
    """Smooth gradients plus a few blocks: structure a warp visibly moves."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    images = []
    for _ in range(batch):
        r = 128 + 100 * np.sin(x / rng.uniform(5, 9))
        g = 128 + 100 * np.cos(y / rng.uniform(4, 8))
        b = (x + y) * 255 / (2 * size)
        image = np.stack([r, g, b], -1)
        y0, x0 = rng.integers(0, size - 16, 2)
        image[y0 : y0 + 16, x0 : x0 + 16] = rng.uniform(0, 255, 3)
        images.append(image)
    return np.clip(np.stack(images), 0, 255).astype(np.uint8)


def test_builtin_policies_are_registered_with_descriptions() -> None:
    policies = list_policies()
    assert set(policies) >= {"reference", "default", "randaugment", "none"}
    assert all(policies[name] for name in ("reference", "default", "randaugment", "none"))


def test_reference_defaults_are_the_reference_projects_set() -> None:
    policy = get_policy(AugmentConfig(policy="reference"))
    assert isinstance(policy, ReferencePolicy)
    assert (policy.rotation, policy.zoom, policy.width_shift, policy.height_shift) == (
        40.0,
        0.2,
        0.2,
        0.2,
    )
    assert policy.horizontal_flip and policy.fill_mode == "nearest"


def test_options_are_passed_as_keyword_arguments() -> None:
    policy = get_policy(AugmentConfig(policy="default", options={"min_scale": 0.3}))
    assert isinstance(policy, DefaultPolicy) and policy.min_scale == 0.3


def test_unknown_option_lists_the_allowed_ones() -> None:
    with pytest.raises(PolicyOptionError, match=r"no option 'rotaton'.*rotation"):
        get_policy(AugmentConfig(policy="reference", options={"rotaton": 10}))


def test_bad_option_value_names_the_option() -> None:
    with pytest.raises(PolicyOptionError, match="zoom"):
        get_policy(AugmentConfig(policy="reference", options={"zoom": 1.5}))
    with pytest.raises(PolicyOptionError, match="min_scale"):
        get_policy(AugmentConfig(policy="default", options={"min_scale": 0.9, "max_scale": 0.5}))


def test_unknown_policy_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"'referenc'.*Did you mean 'reference'.*default"):
        get_policy(AugmentConfig(policy="referenc"))


def test_a_plugin_adds_a_policy_through_the_hook() -> None:
    plugin = types.SimpleNamespace()

    @hookimpl
    def food_recognition_register_augment_policies(register: object) -> None:
        register.add(PolicySpec("mine", lambda strength=1: NoAugmentPolicy()))  # type: ignore[attr-defined]

    plugin.food_recognition_register_augment_policies = food_recognition_register_augment_policies
    manager = PluginManager(load_entry_points=False, extra_plugins=(plugin,))
    assert isinstance(get_policy(AugmentConfig(policy="mine"), manager), NoAugmentPolicy)
    with pytest.raises(PolicyOptionError, match="allowed options: strength"):
        get_policy(AugmentConfig(policy="mine", options={"power": 2}), manager)


def test_a_factory_returning_something_else_is_refused() -> None:
    plugin = types.SimpleNamespace()

    @hookimpl
    def food_recognition_register_augment_policies(register: object) -> None:
        register.add(PolicySpec("broken", lambda: "not a policy"))  # type: ignore[attr-defined]

    plugin.food_recognition_register_augment_policies = food_recognition_register_augment_policies
    manager = PluginManager(load_entry_points=False, extra_plugins=(plugin,))
    with pytest.raises(TypeError, match="not an AugmentPolicy"):
        get_policy(AugmentConfig(policy="broken"), manager)


@pytest.mark.parametrize("name", ["reference", "default", "randaugment", "none"])
def test_each_policy_gives_float_images_of_the_right_shape(name: str) -> None:
    policy = get_policy(AugmentConfig(policy=name))
    out = augment_images(policy, photo_like(), SIZE, seed=(1, 2)).numpy()
    assert out.shape == (4, SIZE, SIZE, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_none_leaves_the_centre_crop_unchanged() -> None:
    images = photo_like()
    out = augment_images(NoAugmentPolicy(), images, SIZE).numpy()
    np.testing.assert_array_equal(out, images[:, 4:60, 4:60].astype(np.float32))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("reference", {}),
        ("reference", {"interpolation": "nearest"}),
        ("default", {}),
        ("randaugment", {}),
    ],
)
def test_augmenting_policies_change_pixels(name: str, options: dict[str, object]) -> None:
    images = photo_like()
    unchanged = images[:, 4:60, 4:60].astype(np.float32)
    policy = get_policy(AugmentConfig(policy=name, options=options))  # type: ignore[arg-type]
    out = augment_images(policy, images, SIZE, seed=(3, 4)).numpy()
    per_image = np.abs(out - unchanged).mean(axis=(1, 2, 3))
    assert (per_image > 3.0).all(), per_image


def test_same_seed_same_augmentation_other_seed_other() -> None:
    policy = get_policy(AugmentConfig(policy="reference"))
    first = augment_images(policy, photo_like(), SIZE, seed=(5, 6)).numpy()
    again = augment_images(policy, photo_like(), SIZE, seed=(5, 6)).numpy()
    other = augment_images(policy, photo_like(), SIZE, seed=(7, 8)).numpy()
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 3.0


def _warp(image: np.ndarray, interpolation: str = "bilinear", **draws: float) -> np.ndarray:
    """The reference policy's crop + warp of one image for given draws."""
    values = {"angle": 0.0, "zoom_x": 1.0, "zoom_y": 1.0, "shift_x": 0.0, "shift_y": 0.0}
    values.update(draws)
    flip = bool(values.pop("flip", False))
    size = image.shape[0]
    box, transform = reference_window(
        tf.constant(image.shape[:2]),
        size,
        flip=tf.constant(flip),
        **{k: tf.constant(v, tf.float32) for k, v in values.items()},
    )
    policy = ReferencePolicy(interpolation=interpolation)
    y, x, h, w = box.numpy()
    crop = image[y : y + h, x : x + w]
    prepared = policy.prepare(tf.constant(crop), size, transform)
    warp = policy.batch_transform()
    return np.asarray(warp(prepared[None], transform[None], tf.constant([0, 0], tf.int64))[0])


def test_reference_rotation_is_a_rotation_about_the_centre() -> None:
    from scipy import ndimage

    image = photo_like(batch=1, size=64)[0].astype(np.float32)
    ours = _warp(image.astype(np.uint8), angle=math.radians(30))
    expected = ndimage.rotate(image, 30, reshape=False, order=1, mode="nearest")
    inner = (slice(8, 56), slice(8, 56))
    assert np.abs(ours[inner] - expected[inner]).mean() < 1.5
    wrong_way = ndimage.rotate(image, -30, reshape=False, order=1, mode="nearest")
    assert np.abs(ours[inner] - wrong_way[inner]).mean() > 10


def test_reference_zoom_in_is_the_centre_window_resized() -> None:
    image = photo_like(batch=1, size=64)[0]
    ours = _warp(image, zoom_x=0.5, zoom_y=0.5)
    expected = tf.image.resize(image[16:48, 16:48], [64, 64]).numpy()
    assert np.abs(ours - expected).mean() < 2.0


def test_reference_shift_moves_the_image_and_fills_with_the_edge() -> None:
    image = photo_like(batch=1, size=64)[0]
    ours = _warp(image, shift_x=0.25)
    # The window's centre moves right by 16 px: output column u shows input column u + 16
    # (resampled twice, the decoded box being resized first: sharp edges blur a little).
    moved = np.abs(ours[:, :48] - image[:, 16:])
    assert moved.mean() < 1.0 and (moved <= 1.0).mean() > 0.97
    np.testing.assert_allclose(ours[:, 48:], np.repeat(image[:, 63:64], 16, 1), atol=1.0)


def test_reference_zoom_out_shows_the_whole_image_smaller() -> None:
    image = photo_like(batch=1, size=64)[0]
    ours = _warp(image, zoom_x=2.0, zoom_y=2.0)
    expected = tf.image.resize(image, [32, 32], antialias=True).numpy()
    assert np.abs(ours[16:48, 16:48] - expected).mean() < 6.0
    np.testing.assert_allclose(ours[0, 0], image[0, 0], atol=1.0)  # corner: nearest fill


def test_reference_flip_mirrors() -> None:
    image = photo_like(batch=1, size=64)[0]
    np.testing.assert_allclose(_warp(image, flip=True), image[:, ::-1], atol=1.0)


def test_nearest_interpolation_is_close_to_bilinear() -> None:
    image = photo_like(batch=1, size=64)[0]
    draws = {"angle": math.radians(-25), "zoom_x": 0.9, "zoom_y": 1.1, "shift_x": 0.1}
    difference = _warp(image, "nearest", **draws) - _warp(image, "bilinear", **draws)
    assert np.abs(difference).mean() < 8.0


def test_nearest_warp_wraps_around() -> None:
    images = tf.constant(photo_like(batch=1, size=32))
    shift = tf.constant([[1, 0, 16, 0, 1, -8, 0, 0]], tf.float32)
    out = nearest_warp(images, shift, "wrap").numpy()[0]
    np.testing.assert_array_equal(out, np.roll(images.numpy()[0], (8, -16), axis=(0, 1)))


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
def test_nearest_warp_matches_tensorflows_projective_transform(fill_mode: str) -> None:
    images = tf.constant(photo_like(batch=2, size=32))
    angle = math.radians(35)
    cos, sin = math.cos(angle), math.sin(angle)
    transforms = tf.constant(
        [[cos * 1.2, -sin, 9.3, sin, cos * 0.8, -7.1, 0, 0], [-1, 0, 31.2, 0, 1.3, -4, 0, 0]],
        tf.float32,
    )
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=[32, 32],
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode=fill_mode.upper(),
    ).numpy()
    ours = nearest_warp(images, transforms, fill_mode).numpy()
    # Pixels whose source lands exactly on .5 may round either way.
    assert (np.abs(ours - expected).max(axis=-1) > 0).mean() < 0.01


def test_colour_jitter_with_unit_factors_is_the_identity() -> None:
    image = tf.constant(photo_like(batch=1)[0].astype(np.float32))
    np.testing.assert_allclose(color_jitter(image, 1.0, 1.0, 1.0), image, atol=1e-3)
    np.testing.assert_allclose(color_jitter(image, 1.0, 1.0, None), image, atol=1e-3)


def test_colour_jitter_factors_do_what_they_say() -> None:
    image = photo_like(batch=1)[0].astype(np.float32) * 0.5
    brighter = color_jitter(tf.constant(image), 1.2, 1.0, 1.0).numpy()
    np.testing.assert_allclose(brighter, image * 1.2, rtol=1e-4, atol=1e-3)
    grey = color_jitter(tf.constant(image), 1.0, 1.0, 0.0).numpy()
    assert np.abs(grey[..., 0] - grey[..., 1]).max() < 1e-3
    np.testing.assert_allclose(
        color_jitter(tf.constant(image), 1.1, 0.8, None),
        color_jitter(tf.constant(image), 1.1, 0.8, 1.0),
        atol=1e-3,
    )
    flat = color_jitter(tf.constant(image), 1.0, 0.0, 1.0).numpy()
    assert flat.std(axis=(0, 1)).max() < 1e-3  # no contrast left: every pixel the mean grey
    assert color_jitter(tf.constant(image * 3), 1.2, 1.0, 1.0).numpy().max() == 255.0


@pytest.mark.parametrize(
    ("name", "layer_names"),
    [
        ("reference", ["RandomRotation", "RandomZoom", "RandomTranslation", "RandomFlip"]),
        ("default", ["RandomFlip", "RandomColorJitter"]),
        ("randaugment", ["RandomFlip", "RandAugment"]),
        ("none", ["Identity"]),
    ],
)
def test_device_augmenter_uses_keras_layers(name: str, layer_names: list[str]) -> None:
    model = device_augmenter(AugmentConfig(policy=name, on_device=True))
    assert [type(layer).__name__ for layer in model.layers] == layer_names
    images = tf.constant(photo_like().astype(np.float32))
    out = model(images, training=True).numpy()
    assert out.shape == images.shape
    if name != "none":
        assert np.abs(out - images.numpy()).mean() > 1.0


def test_device_split_leaves_only_the_crop_on_the_cpu() -> None:
    cpu, _ = get_policy(AugmentConfig(policy="reference", options={"squash": True})).device_split()
    images = photo_like()
    out = augment_images(cpu, images, 64).numpy()
    np.testing.assert_array_equal(out, images.astype(np.float32))  # whole image, no warp
    cpu, _ = get_policy(AugmentConfig(policy="reference")).device_split()
    out = augment_images(cpu, images, 64).numpy()
    expected = np.stack([eval_transform(image, 64).numpy() for image in images])
    np.testing.assert_array_equal(out, expected)  # evaluation's view, no warp
    cpu, _ = DefaultPolicy().device_split()
    assert isinstance(cpu, AugmentPolicy) and not cpu.horizontal_flip  # type: ignore[attr-defined]


def test_importing_the_plugin_modules_does_not_import_tensorflow() -> None:
    code = (
        "import sys, food_recognition.augment, food_recognition.augment.policies, "
        "food_recognition.datasets.pipeline, food_recognition.datasets.tfrecords;"
        "from food_recognition.plugins.manager import get_plugin_manager;"
        "get_plugin_manager().augment_policies.get('reference');"
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_reference_training_starts_from_the_evaluation_view() -> None:
    """With nothing drawn, the reference policy shows what evaluation shows (not a squash)."""
    image = photo_like(batch=1, size=64)[0][:, :48]  # a 64 x 48 photo
    still = ReferencePolicy(
        rotation=0, zoom=0, width_shift=0, height_shift=0, horizontal_flip=False
    )
    out = augment_images(still, image[None], 32).numpy()[0]
    expected = eval_transform(image, 32).numpy()
    assert np.abs(out - expected).max() <= 1.0
    squashed = ReferencePolicy(
        rotation=0, zoom=0, width_shift=0, height_shift=0, horizontal_flip=False, squash=True
    )
    assert np.abs(augment_images(squashed, image[None], 32).numpy()[0] - expected).mean() > 5
