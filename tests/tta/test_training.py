"""TTA matched to the training augmentation."""

from __future__ import annotations

from food_recognition.config import AugmentConfig, TTAConfig
from food_recognition.tta import get_tta_policy
from food_recognition.tta.training import match_training, trained_with_flips, tta_warnings

DIGITS = AugmentConfig(
    policy="reference",
    options={"horizontal_flip": False, "rotation": 10, "zoom": 0.1, "width_shift": 0.1},
)


def test_random_tta_draws_from_the_training_augmentation() -> None:
    policy = get_tta_policy(match_training(TTAConfig(policy="random"), DIGITS))
    views = policy.views  # type: ignore[attr-defined]
    assert all(abs(view.rotation) <= 10 and not view.flip for view in views)
    assert all(0.9 <= view.size <= 1.1 for view in views)
    # Unmatched, the reference's 40 degrees and mirrors.
    plain = get_tta_policy(TTAConfig(policy="random")).views  # type: ignore[attr-defined]
    assert max(abs(view.rotation) for view in plain) > 10 and any(view.flip for view in plain)


def test_options_the_user_set_are_kept() -> None:
    tta = TTAConfig(policy="random", options={"rotation": 5, "passes": 4})
    options = dict(match_training(tta, DIGITS).options)
    assert options["rotation"] == 5 and options["passes"] == 4 and options["flip"] is False
    assert match_training(TTAConfig(policy="five_crop"), DIGITS) == TTAConfig(policy="five_crop")


def test_mirroring_tta_on_a_model_trained_without_mirrors_is_flagged() -> None:
    assert not trained_with_flips(DIGITS) and trained_with_flips(AugmentConfig())
    for policy in ("flip", "ten_crop", "random"):
        (warning,) = tta_warnings(TTAConfig(policy=policy), DIGITS)
        assert f"{policy!r} mirrors the image" in warning and "flip=false" in warning
    assert tta_warnings(TTAConfig(policy="flip"), AugmentConfig()) == []
    assert tta_warnings(match_training(TTAConfig(policy="random"), DIGITS), DIGITS) == []
    assert tta_warnings(TTAConfig(policy="five_crop"), DIGITS) == []
