"""Learning-rate schedules and the one-cycle momentum."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from food_recognition.config import TrainingConfig
from food_recognition.training.schedules import (
    Constant,
    OneCycle,
    WarmupCosine,
    make_schedule,
    one_cycle_momentum,
)


def _values(schedule: object, steps: int) -> np.ndarray:
    return np.array([float(schedule(step)) for step in range(steps)])  # type: ignore[operator]


def test_one_cycle_rises_to_the_peak_then_anneals_far_below_the_start() -> None:
    values = _values(OneCycle(0.1, total_steps=100, warmup_fraction=0.3), 101)
    assert values[0] == pytest.approx(0.1 / 25)
    assert values.argmax() == 30 and values.max() == pytest.approx(0.1)
    assert np.all(np.diff(values[:31]) > 0) and np.all(np.diff(values[30:]) < 0)
    assert values[100] == pytest.approx(0.1 / 25 / 1e4)


def test_warmup_cosine_warms_up_linearly_and_decays_to_zero() -> None:
    values = _values(WarmupCosine(1.0, total_steps=100, warmup_fraction=0.1), 101)
    assert values[0] == pytest.approx(0.1)
    assert values[9] == pytest.approx(1.0)
    assert values[50] == pytest.approx(0.5 * (1 + np.cos(np.pi * 40 / 90)), rel=1e-5)
    assert values[100] == pytest.approx(0.0, abs=1e-7)


def test_constant_is_constant() -> None:
    assert set(_values(Constant(0.01), 5).round(8)) == {0.01}


@pytest.mark.parametrize(
    ("name", "kind"), [("one_cycle", OneCycle), ("cosine", WarmupCosine), ("constant", Constant)]
)
def test_schedules_round_trip_through_keras_serialization(name: str, kind: type) -> None:
    schedule = make_schedule(TrainingConfig(schedule=name, learning_rate=0.02), total_steps=50)
    assert isinstance(schedule, kind)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is kind
    assert _values(restored, 50) == pytest.approx(_values(schedule, 50))


def test_make_schedule_refuses_zero_steps() -> None:
    with pytest.raises(ValueError, match="total_steps=0"):
        make_schedule(TrainingConfig(), 0)


def test_one_cycle_momentum_mirrors_the_learning_rate() -> None:
    momenta = [one_cycle_momentum(step, 100, 0.3, 0.95, 0.85) for step in range(101)]
    assert momenta[0] == pytest.approx(0.95)
    assert min(momenta) == pytest.approx(0.85) and momenta.index(min(momenta)) == 30
    assert momenta[100] == pytest.approx(0.95)
