"""Batched multi-view prediction: same answers as one view at a time, merges, adaptive TTA."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from food_recognition.config import TTAConfig
from food_recognition.plugins.registry import PolicySpec, Register
from food_recognition.tta import TTAResult, merge_views, predict_with_tta
from food_recognition.tta.policies import builtin_policies, get_tta_policy

SIZE = 16


@pytest.fixture(scope="module")
def policies() -> Register[PolicySpec]:
    return builtin_policies()


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    """A small random CNN: its outputs depend on position, colour and orientation."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def random_images(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, SIZE, SIZE, 3)).astype(np.float32)


class Recorder:
    """A predict function that remembers every batch it was called with.

    Every image is one grey level; images below ``bright`` get an uncertain answer
    (top probability 0.6), the others a confident one (0.95).
    """

    def __init__(self, bright: float = 128.0) -> None:
        self.bright = bright
        self.batches: list[np.ndarray] = []

    def __call__(self, views: np.ndarray) -> np.ndarray:
        assert isinstance(views, np.ndarray)
        self.batches.append(views.copy())
        level = views.mean(axis=(1, 2, 3))
        top = np.where(level < self.bright, 0.6, 0.95)
        return np.stack([top, 1.0 - top], axis=1)

    @property
    def levels_seen(self) -> list[float]:
        return [float(v) for batch in self.batches for v in batch.mean(axis=(1, 2, 3))]


def grey_images(levels: list[float]) -> np.ndarray:
    return np.stack([np.full((SIZE, SIZE, 3), level, np.float32) for level in levels])


@pytest.mark.parametrize("name", ["flip", "five_crop", "ten_crop", "multi_scale", "random"])
def test_batched_views_give_the_probabilities_of_one_view_at_a_time(
    tiny_model: Any, policies: Register[PolicySpec], name: str
) -> None:
    images = random_images(5)
    policy = get_tta_policy(TTAConfig(policy=name, options={}), policies=policies)
    result = predict_with_tta(
        tiny_model, images, TTAConfig(), batch_size=64, return_views=True, policy=policy
    )
    views = np.asarray(policy.make_views(images))
    one_at_a_time = np.array(
        [
            [tiny_model.predict_on_batch(views[i, k][None])[0] for k in range(views.shape[1])]
            for i in range(len(images))
        ]
    )
    assert result.view_probabilities is not None
    np.testing.assert_allclose(result.view_probabilities, one_at_a_time, atol=1e-5)
    np.testing.assert_allclose(result.probabilities, one_at_a_time.mean(axis=1), atol=1e-5)
    # and the views differ enough for this to mean something
    assert np.abs(one_at_a_time - one_at_a_time[:, :1]).max() > 1e-3


def test_the_batch_size_does_not_change_the_answer(
    tiny_model: Any, policies: Register[PolicySpec]
) -> None:
    images = random_images(7, seed=1)
    policy = get_tta_policy(TTAConfig(policy="random", options={"passes": 3}), policies=policies)
    results = [
        predict_with_tta(tiny_model, images, TTAConfig(), batch_size=size, policy=policy)
        for size in (1, 5, 64)
    ]
    for result in results[1:]:
        np.testing.assert_allclose(result.probabilities, results[0].probabilities, atol=1e-5)


def test_all_views_of_an_image_go_in_one_forward_pass(policies: Register[PolicySpec]) -> None:
    recorder = Recorder()
    policy = get_tta_policy("five_crop", policies=policies)
    result = predict_with_tta(
        recorder, grey_images([10.0 * i for i in range(12)]), batch_size=23, policy=policy
    )
    # 23 // 5 = 4 images (20 views) a pass: 3 passes, not 60 calls
    assert [len(batch) for batch in recorder.batches] == [20, 20, 20]
    # each pass holds whole images: its views come in runs of 5 of one image
    for batch in recorder.batches:
        levels = batch.mean(axis=(1, 2, 3)).reshape(-1, 5)
        np.testing.assert_allclose(levels, levels[:, :1].repeat(5, axis=1))
    assert (result.forward_views, result.extra_view_images, result.views_per_image) == (60, 12, 5)


def test_a_keras_model_a_package_and_a_function_give_the_same_answer(tiny_model: Any) -> None:
    class Package:  # what predict_with_tta uses of a ModelPackage
        model = tiny_model

    images = random_images(3, seed=2)
    config = TTAConfig(policy="flip")
    from_model = predict_with_tta(tiny_model, images, config)
    from_package = predict_with_tta(Package(), images, config)
    from_function = predict_with_tta(lambda v: tiny_model.predict_on_batch(v), images, config)
    np.testing.assert_allclose(from_package.probabilities, from_model.probabilities, atol=1e-6)
    np.testing.assert_allclose(from_function.probabilities, from_model.probabilities, atol=1e-6)
    assert from_model.policy == "flip" and from_model.seconds > 0


def crafted(rows: list[list[float]]) -> Callable[[np.ndarray], np.ndarray]:
    """A predict function answering view k of every image with ``rows[k]``."""
    table = np.array(rows, np.float32)

    def predict(views: np.ndarray) -> np.ndarray:
        return np.tile(table, (len(views) // len(table), 1))

    return predict


def test_mean_logit_and_mean_prob_differ_as_expected(policies: Register[PolicySpec]) -> None:
    # one view is sure of class 0, another sure it is not class 0, the third leans to 0
    rows = [[0.99, 0.01], [0.001, 0.999], [0.6, 0.4]]
    images = random_images(2)
    policy = get_tta_policy("multi_scale", policies=policies)

    def merged(merge: str) -> TTAResult:
        config = TTAConfig(policy="multi_scale", merge=merge)
        return predict_with_tta(crafted(rows), images, config, batch_size=6, policy=policy)

    by_prob, by_logit = merged("mean_prob"), merged("mean_logit")
    np.testing.assert_allclose(by_prob.probabilities[0], [0.530333, 0.469667], atol=1e-5)
    geometric = np.cbrt(np.prod(np.array(rows), axis=0))
    np.testing.assert_allclose(by_logit.probabilities[0], geometric / geometric.sum(), atol=1e-5)
    assert by_prob.probabilities.argmax(axis=1).tolist() == [0, 0]
    assert by_logit.probabilities.argmax(axis=1).tolist() == [1, 1]


def test_merges_agree_when_the_views_agree() -> None:
    same = np.array([[[0.2, 0.5, 0.3]] * 4], np.float32)
    np.testing.assert_allclose(merge_views(same, "mean_prob"), same[:, 0], atol=1e-6)
    np.testing.assert_allclose(merge_views(same, "mean_logit"), same[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="mean_logit"):
        merge_views(same, "median")


# five_crop's centre view is the plain view, reused: 4 extra views an image.
@pytest.mark.parametrize(("name", "extra_per_image"), [("flip", 1), ("five_crop", 4)])
def test_adaptive_tta_touches_only_the_uncertain_images(
    policies: Register[PolicySpec], name: str, extra_per_image: int
) -> None:
    levels = [20.0, 200.0, 40.0, 220.0, 240.0, 60.0, 230.0]  # under 128: uncertain
    uncertain = [level < 128 for level in levels]
    recorder = Recorder()
    policy = get_tta_policy(name, policies=policies)
    config = TTAConfig(policy=name, threshold=0.9)
    result = predict_with_tta(
        recorder, grey_images(levels), config, return_views=True, policy=policy
    )
    # one plain pass over all seven, then views of the three uncertain ones only
    assert recorder.levels_seen[:7] == pytest.approx(levels)
    extra_levels = recorder.levels_seen[7:]
    assert len(extra_levels) == 3 * extra_per_image
    assert set(np.round(extra_levels)) == {20.0, 40.0, 60.0}
    assert result.extra_view_images == 3
    assert result.took_extra_views.tolist() == uncertain
    assert result.forward_views == 7 + 3 * extra_per_image
    # confident images keep their plain answer; their skipped views are NaN
    assert result.single_view_probabilities is not None
    np.testing.assert_allclose(result.probabilities, result.single_view_probabilities)
    assert result.view_probabilities is not None
    assert result.view_probabilities.shape == (7, policy.num_views, 2)
    assert np.isnan(result.view_probabilities[1, 1:]).all()
    assert not np.isnan(result.view_probabilities[0]).any()


def test_adaptive_tta_merges_the_uncertain_images_like_full_tta(
    tiny_model: Any, policies: Register[PolicySpec]
) -> None:
    images = random_images(8, seed=3)
    policy = get_tta_policy("ten_crop", policies=policies)
    full = predict_with_tta(tiny_model, images, TTAConfig(merge="mean_logit"), policy=policy)
    plain = predict_with_tta(tiny_model, images)
    threshold = float(np.median(plain.probabilities.max(axis=1)))
    adaptive = predict_with_tta(
        tiny_model, images, TTAConfig(merge="mean_logit", threshold=threshold), policy=policy
    )
    took = adaptive.took_extra_views
    assert 0 < took.sum() < len(images)
    assert took.tolist() == (plain.probabilities.max(axis=1) < threshold).tolist()
    np.testing.assert_allclose(adaptive.probabilities[took], full.probabilities[took], atol=1e-5)
    np.testing.assert_allclose(adaptive.probabilities[~took], plain.probabilities[~took], atol=1e-5)
    assert adaptive.forward_views == 8 + 9 * int(took.sum())  # view 0 is the plain pass


def test_a_threshold_above_every_confidence_is_full_tta(policies: Register[PolicySpec]) -> None:
    recorder = Recorder()
    policy = get_tta_policy("flip", policies=policies)
    result = predict_with_tta(
        recorder, grey_images([200.0, 30.0]), TTAConfig(threshold=1.0), policy=policy
    )
    assert result.extra_view_images == 2 and result.forward_views == 4


def test_identity_is_one_plain_pass() -> None:
    recorder = Recorder()
    result = predict_with_tta(recorder, grey_images([10.0, 200.0, 30.0]), batch_size=2)
    assert [len(b) for b in recorder.batches] == [2, 1]
    assert (result.extra_view_images, result.views_per_image, result.forward_views) == (0, 1, 3)
    np.testing.assert_allclose(result.probabilities[:, 0], [0.6, 0.95, 0.6])


def test_the_process_wide_registry_is_used_by_default() -> None:
    recorder = Recorder()
    config = TTAConfig(policy="random", options={"passes": 3}, seed=5)
    result = predict_with_tta(recorder, grey_images([10.0]), config)
    assert result.views_per_image == 3 and len(recorder.levels_seen) == 3


def test_bad_images_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"add a batch axis.*image\[None\]"):
        predict_with_tta(Recorder(), np.zeros((SIZE, SIZE, 3), np.float32))
    with pytest.raises(ValueError, match="at least one image"):
        predict_with_tta(Recorder(), np.zeros((0, SIZE, SIZE, 3), np.float32))


def test_logits_instead_of_probabilities_are_refused() -> None:
    with pytest.raises(ValueError, match="end the model with a softmax"):
        predict_with_tta(lambda v: np.ones((len(v), 3)) * 2.0, grey_images([1.0]))
    with pytest.raises(ValueError, match=r"expected probabilities \[1, num_classes\]"):
        predict_with_tta(lambda v: np.ones(3) / 3, grey_images([1.0]))


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size=0"):
        predict_with_tta(Recorder(), grey_images([1.0]), batch_size=0)
