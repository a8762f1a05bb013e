"""The learning-rate finder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from food_recognition.config import RunConfig, with_overrides
from food_recognition.training import find_learning_rate
from food_recognition.training.lr_finder import suggest_learning_rate, suggest_learning_rates
from tests.training.tiny import register_tiny, tiny_data


def test_suggestions_fall_before_divergence() -> None:
    rates = [10 ** (-5 + 4 * i / 99) for i in range(100)]
    # Falls fastest around 1e-3, then blows up past 1e-2.
    losses = [
        2.0 - math.tanh(2 * (math.log10(lr) + 3)) + (50 * (lr - 1e-2) if lr > 1e-2 else 0)
        for lr in rates
    ]
    smoothed, suggested = suggest_learning_rate(rates, losses, beta=0.0)
    assert smoothed == pytest.approx(losses)
    assert 1e-4 < suggested < 2e-3  # valley: a little below the steepest point
    assert 5e-4 < suggest_learning_rates(rates, losses, beta=0.0)[1].steep < 2e-3


def test_suggestion_needs_points() -> None:
    with pytest.raises(ValueError, match="at least 3 points"):
        suggest_learning_rate([1e-3, 1e-2], [1.0, 0.5])
    with pytest.raises(ValueError, match="3 learning rates but 2 losses"):
        suggest_learning_rate([1e-3, 1e-2, 1e-1], [1.0, 0.5])


@pytest.mark.slow
def test_finder_sweeps_and_plots(tmp_path: Path) -> None:
    register_tiny()
    config = with_overrides(RunConfig(), {"model.backbone": "tiny_cnn"})
    result = find_learning_rate(
        config, tmp_path, min_lr=1e-5, max_lr=10.0, steps=40, data=tiny_data()
    )
    assert 3 <= len(result.learning_rates) <= 40
    assert list(result.learning_rates) == sorted(result.learning_rates)
    assert result.learning_rates[0] == pytest.approx(1e-5)
    assert 1e-5 <= result.suggested <= 10.0
    assert result.plot == tmp_path / "lr_finder.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_noisy_dip_after_the_minimum_is_not_suggested() -> None:
    """The loss bottoms out near 1e-2 and climbs; a noisy dip at 0.1 is no advice."""
    rates = [10 ** (-5 + 5 * i / 99) for i in range(100)]
    losses = []
    for lr in rates:
        falling = 2.0 - math.tanh(2 * (math.log10(lr) + 3))
        climbing = 3.0 * max(0.0, math.log10(lr) + 2)  # rises past 1e-2, up to 3x the minimum
        losses.append(falling + climbing)
    dip = min(range(100), key=lambda i: abs(rates[i] - 0.1))
    losses[dip] -= 1.0
    losses[dip + 1] -= 2.0  # a sharp noisy fall where the loss is already climbing
    smoothed, suggestions = suggest_learning_rates(rates, losses, beta=0.0)
    lowest = rates[min(range(100), key=smoothed.__getitem__)]
    assert lowest < 0.05
    for value in (suggestions.valley, suggestions.steep, suggestions.minimum):
        assert value < lowest
    assert 1e-4 < suggestions.valley < 3e-3
    assert 3e-4 < suggestions.steep < 3e-3
    assert suggestions.minimum == pytest.approx(lowest / 10)
    assert suggest_learning_rate(rates, losses, beta=0.0)[1] == suggestions.valley
