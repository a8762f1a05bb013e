"""The head plan: units halving to a floor, dropout rising linearly (no TensorFlow)."""

from food_recognition.config import ModelConfig
from food_recognition.models import HeadBlock, head_plan


def test_linear_head_has_no_blocks() -> None:
    assert head_plan(ModelConfig(dense_blocks=0)) == ()


def test_units_halve_down_to_the_floor() -> None:
    config = ModelConfig(dense_blocks=4, dense_units=512, dense_units_min=128)
    assert [b.units for b in head_plan(config)] == [512, 256, 128, 128]


def test_dropout_rises_linearly_from_start_to_max() -> None:
    config = ModelConfig(dense_blocks=4, dropout=0.2, dropout_max=0.5)
    assert [b.dropout for b in head_plan(config)] == [0.2, 0.3, 0.4, 0.5]


def test_one_block_takes_the_start_dropout() -> None:
    config = ModelConfig(
        dense_blocks=1, dense_units=64, dense_units_min=16, dropout=0.1, dropout_max=0.5
    )
    assert head_plan(config) == (HeadBlock(units=64, dropout=0.1),)


def test_floor_above_units_never_grows_the_first_block() -> None:
    config = ModelConfig(dense_blocks=2, dense_units=64, dense_units_min=128)
    assert [b.units for b in head_plan(config)] == [128, 128]
