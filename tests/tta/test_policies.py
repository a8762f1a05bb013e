"""TTA policies make the views they claim: counts, mirrors, crop windows, scales, seeds."""

from __future__ import annotations

import subprocess
import sys

import attrs
import numpy as np
import pytest

from food_recognition.augment.policies import CENTER_CROP_FRACTION
from food_recognition.config import TTAConfig
from food_recognition.plugins import PluginManager, UnknownNameError
from food_recognition.plugins.registry import PolicySpec, Register
from food_recognition.tta.policies import (
    DEFAULT_CROP,
    EVAL_VIEW_FRACTION,
    TTAOptionError,
    TTAPolicy,
    View,
    ViewsPolicy,
    apply_views,
    builtin_policies,
    get_tta_policy,
)

SIZE = 32
BUILTINS = ("five_crop", "flip", "identity", "multi_scale", "random", "ten_crop")


@pytest.fixture(scope="module")
def policies() -> Register[PolicySpec]:
    return builtin_policies()


def coordinate_image(size: int = SIZE) -> np.ndarray:
    """One image whose channel 0 is the pixel's x index and channel 1 its y index.

    Bilinear sampling reproduces a linear ramp exactly, so every pixel of a view
    tells where in the image it was sampled.
    """
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([x, y, np.full_like(x, 7.0)], axis=-1)[None]


def views_of(name: str, policies: Register[PolicySpec], **options: object) -> np.ndarray:
    policy = get_tta_policy(TTAConfig(policy=name, options=options), policies=policies)
    views: np.ndarray = np.asarray(policy.make_views(coordinate_image()))
    return np.asarray(views[0])


def window_ramp(left: float, side: float, size: int = SIZE) -> np.ndarray:
    """Where output pixels 0..size-1 sample a window [left, left + side) resized to size.

    Half-pixel centres, as tf.image.resize; samples past the image repeat the edge.
    """
    j = np.arange(size, dtype=np.float32)
    return np.clip(left + (j + 0.5) * side / size - 0.5, 0, size - 1)


def test_the_builtins_are_registered_through_the_hook() -> None:
    manager = PluginManager(load_entry_points=False)
    assert set(BUILTINS) <= set(manager.tta_policies.names())
    assert manager.tta_policies.owner("ten_crop") == "food_recognition.tta.builtins"


@pytest.mark.parametrize(
    ("name", "views", "identity_first"),
    [
        ("identity", 1, True),
        ("flip", 2, True),
        ("five_crop", 5, True),  # its centre view is the evaluation view itself
        ("ten_crop", 10, True),
        ("multi_scale", 3, True),
        ("random", 10, False),
    ],
)
def test_each_policy_makes_its_number_of_views(
    policies: Register[PolicySpec], name: str, views: int, identity_first: bool
) -> None:
    policy = get_tta_policy(TTAConfig(policy=name), policies=policies)
    assert isinstance(policy, TTAPolicy)
    assert (policy.num_views, policy.first_view_is_identity) == (views, identity_first)
    images = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    out = np.asarray(policy.make_views(images))
    assert out.shape == (3, views, SIZE, SIZE, 3)
    assert out.min() >= 0.0 and out.max() <= 255.0
    # image-major: view 0 of image 1 comes from image 1, not from image 0
    if identity_first:
        np.testing.assert_array_equal(out[:, 0], images)


def test_identity_and_flip_are_exact(policies: Register[PolicySpec]) -> None:
    image = coordinate_image()[0]
    views = views_of("flip", policies)
    np.testing.assert_array_equal(views[0], image)
    np.testing.assert_array_equal(views[1], image[:, ::-1])


@pytest.mark.parametrize(
    ("view", "left", "top"),
    [
        (0, "centre", "centre"),
        (1, "left", "top"),
        (2, "right", "top"),
        (3, "left", "bottom"),
        (4, "right", "bottom"),
    ],
)
def test_five_crop_windows_sit_where_they_claim(
    policies: Register[PolicySpec], view: int, left: str, top: str
) -> None:
    # The input is the central 0.875 of the decoded image; the windows are
    # DEFAULT_CROP of the decoded image, at its centre and corners.
    side = DEFAULT_CROP / CENTER_CROP_FRACTION * SIZE
    shift = (1 - DEFAULT_CROP) / (2 * CENTER_CROP_FRACTION) * SIZE
    centre = (SIZE - side) / 2
    edge = {"left": centre - shift, "top": centre - shift, "centre": centre}
    edge["right"] = edge["bottom"] = centre + shift
    crop = views_of("five_crop", policies)[view]
    xs, ys = window_ramp(edge[left], side), window_ramp(edge[top], side)
    np.testing.assert_allclose(crop[..., 0], np.broadcast_to(xs, (SIZE, SIZE)), atol=1e-3)
    np.testing.assert_allclose(crop[..., 1], np.broadcast_to(ys[:, None], (SIZE, SIZE)), atol=1e-3)
    np.testing.assert_allclose(crop[..., 2], 7.0, atol=1e-4)


def test_a_corner_crops_top_left_pixel_tells_where_it_came_from(
    policies: Register[PolicySpec],
) -> None:
    crops = views_of("five_crop", policies, crop=0.5)
    # x, y of each crop's top-left pixel: its window's corner (the centre window
    # starts at 32 * (1 - 0.5 / 0.875) / 2 = 6.86; corners 9.14 either side), plus
    # where the first output pixel's centre samples (half an output pixel,
    # 0.5 * side / 32, less half an input pixel), clipped to the edge.
    side = 0.5 / CENTER_CROP_FRACTION * SIZE
    centre, shift = (SIZE - side) / 2, 0.5 / (2 * CENTER_CROP_FRACTION) * SIZE
    near, far = centre - shift, centre + shift
    corners = crops[:, 0, 0, :2]
    windows = np.array([[centre, centre], [near, near], [far, near], [near, far], [far, far]])
    expected = windows + 0.5 * side / SIZE - 0.5
    np.testing.assert_allclose(corners, np.clip(expected, 0, None), atol=1e-3)


def test_the_centre_crop_is_the_evaluation_view_not_a_zoom_of_it(
    policies: Register[PolicySpec],
) -> None:
    assert EVAL_VIEW_FRACTION == CENTER_CROP_FRACTION
    np.testing.assert_allclose(views_of("five_crop", policies)[0], coordinate_image()[0], atol=1e-4)


def test_ten_crop_is_five_crop_and_their_mirrors(policies: Register[PolicySpec]) -> None:
    ten = views_of("ten_crop", policies, crop=0.75)
    five = views_of("five_crop", policies, crop=0.75)
    np.testing.assert_allclose(ten[:5], five, atol=1e-4)
    np.testing.assert_allclose(ten[5:], five[:, :, ::-1], atol=1e-4)


def test_multi_scale_zooms_about_the_centre(policies: Register[PolicySpec]) -> None:
    # the image as given comes first, whatever the order of the scales
    views = views_of("multi_scale", policies, scales="0.8,1,1.25")
    np.testing.assert_array_equal(views[0], coordinate_image()[0])
    views = views[[1, 0, 2]]
    for view, scale in ((views[0], 0.8), (views[2], 1.25)):
        side = SIZE / scale
        xs = window_ramp((SIZE - side) / 2, side)
        np.testing.assert_allclose(view[0, :, 0], xs, atol=1e-3)
        np.testing.assert_allclose(view[:, 0, 1], xs, atol=1e-3)
    # zooming out repeats the edge pixels; zooming in never reaches the edge
    assert views[0][0, 0, 0] == 0.0 and views[0][-1, -1, 0] == SIZE - 1
    assert views[2][..., 0].min() > 2.0 and views[2][..., 0].max() < SIZE - 3.0


def test_random_views_reproduce_with_a_seed_and_change_with_another(
    policies: Register[PolicySpec],
) -> None:
    images = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)

    def views(config_seed: int, **options: object) -> np.ndarray:
        config = TTAConfig(policy="random", options=options, seed=config_seed)
        return np.asarray(get_tta_policy(config, policies=policies).make_views(images))

    first, again, other = views(3, passes=4), views(3, passes=4), views(4, passes=4)
    assert first.shape == (2, 4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1.0
    # the passes differ from each other and from the image
    assert np.abs(first[:, 0] - first[:, 1]).mean() > 1.0
    assert np.abs(first[:, 0] - images).mean() > 1.0
    # a seed in the options wins over the config's
    np.testing.assert_array_equal(views(9, passes=4, seed=3), first)
    with_identity = views(3, passes=3, include_identity=True)
    np.testing.assert_array_equal(with_identity[:, 0], images)


def test_random_ranges_are_those_of_the_reference_augmentation(
    policies: Register[PolicySpec],
) -> None:
    policy = get_tta_policy(TTAConfig(policy="random", options={"passes": 200}), policies=policies)
    assert isinstance(policy, ViewsPolicy)
    rotations = np.array([v.rotation for v in policy.views])
    sizes = np.array([v.size for v in policy.views])
    shifts = np.array([v.center_x - 0.5 for v in policy.views])
    flips = np.array([v.flip for v in policy.views])
    assert np.abs(rotations).max() <= 40.0 and np.abs(rotations).max() > 30.0
    assert sizes.min() >= 0.8 and sizes.max() <= 1.2
    assert np.abs(shifts).max() <= 0.2
    assert 0.3 < flips.mean() < 0.7


def test_a_rotation_turns_the_picture_counter_clockwise() -> None:
    image = coordinate_image()
    turned = np.asarray(apply_views(image, [View(rotation=90.0), View(rotation=-90.0)]))[0]
    np.testing.assert_allclose(turned[0], np.rot90(image[0], 1), atol=1e-3)
    np.testing.assert_allclose(turned[1], np.rot90(image[0], -1), atol=1e-3)


@pytest.mark.parametrize("flip", [False, True])
def test_rotated_and_unrotated_windows_sample_the_same_points(flip: bool) -> None:
    # unrotated windows take a faster path (crop_and_resize); a rotation too small to
    # matter takes the general one (a projective transform): they must agree
    windows = [
        View(size=0.6, center_x=0.3, center_y=0.7, flip=flip),
        View(size=1.3, center_x=0.55, center_y=0.45, flip=flip),
    ]
    nearly = [attrs.evolve(window, rotation=1e-4) for window in windows]
    image = coordinate_image()
    fast = np.asarray(apply_views(image, windows))
    general = np.asarray(apply_views(image, nearly))
    np.testing.assert_allclose(fast, general, atol=0.01)
    assert fast[0, 1, ..., 0].min() == 0.0  # the zoomed-out window reads the edge


def test_views_from_a_start_skip_the_first(policies: Register[PolicySpec]) -> None:
    policy = get_tta_policy("ten_crop", policies=policies)
    images = coordinate_image()
    np.testing.assert_array_equal(
        np.asarray(policy.make_views(images, start=3)), np.asarray(policy.make_views(images))[:, 3:]
    )
    with pytest.raises(ValueError, match="out of range"):
        policy.make_views(images, start=10)


def test_unknown_policy_lists_the_registered_ones(policies: Register[PolicySpec]) -> None:
    with pytest.raises(UnknownNameError, match=r"'ten_crop'.*Available: five_crop, flip"):
        get_tta_policy(TTAConfig(policy="tencrop"), policies=policies)


def test_unknown_option_lists_the_policys_options(policies: Register[PolicySpec]) -> None:
    with pytest.raises(
        TTAOptionError, match=r"no option 'crops' \(did you mean 'crop'\?\); allowed options: crop"
    ):
        get_tta_policy(TTAConfig(policy="five_crop", options={"crops": 3}), policies=policies)
    with pytest.raises(TTAOptionError, match="takes no options"):
        get_tta_policy(TTAConfig(policy="flip", options={"passes": 3}), policies=policies)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("five_crop", {"crop": 1.5}, "crop=1.5 is out of range"),
        ("multi_scale", {"scales": "big"}, "scales='big' must be numbers"),
        ("multi_scale", {"scales": "0.1"}, "scale 0.1 is out of range"),
        ("random", {"passes": 0}, "passes=0 must be an integer >= 1"),
        ("random", {"zoom": 2.0}, "zoom=2.0 is out of range"),
    ],
)
def test_bad_option_values_are_refused(
    policies: Register[PolicySpec], name: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(TTAOptionError, match=message):
        get_tta_policy(TTAConfig(policy=name, options=options), policies=policies)


def test_a_plugin_policy_is_found_by_name() -> None:
    register: Register[PolicySpec] = Register("TTA policy", PolicySpec)

    def shifted(pixels: int = 2) -> ViewsPolicy:
        return ViewsPolicy("shifted", (View(), View(center_x=0.5 + pixels / SIZE)))

    register.add(PolicySpec(name="shifted", factory=shifted))
    policy = get_tta_policy(TTAConfig(policy="shifted", options={"pixels": 4}), policies=register)
    view = np.asarray(policy.make_views(coordinate_image()))[0, 1]
    np.testing.assert_allclose(view[0, :4, 0], [4, 5, 6, 7], atol=1e-4)


def test_a_factory_returning_something_else_is_reported() -> None:
    register: Register[PolicySpec] = Register("TTA policy", PolicySpec)
    register.add(PolicySpec(name="broken", factory=lambda: "not a policy"))
    with pytest.raises(TypeError, match=r"'broken'.*see TTAPolicy"):
        get_tta_policy("broken", policies=register)


def test_a_non_batch_input_gets_a_clear_error(policies: Register[PolicySpec]) -> None:
    with pytest.raises(ValueError, match=r"image\[None\]"):
        get_tta_policy("flip", policies=policies).make_views(coordinate_image()[0])


def test_importing_the_policies_imports_neither_tensorflow_nor_numpy() -> None:
    # the plugin manager imports this module whenever the command line starts
    code = (
        "import sys, food_recognition.tta, food_recognition.tta.policies as p;"
        "p.get_tta_policy('ten_crop', policies=p.builtin_policies());"
        "sys.exit('tensorflow' in sys.modules or 'numpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
