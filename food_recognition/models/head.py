"""The classification head as data: what each dense block gets.

The head is the reference project's: pooling of the backbone's last feature
map, then ``dense_blocks`` blocks of Dense -> optional BatchNorm -> activation
-> Dropout, then a softmax. Units halve from ``dense_units`` down to at least
``dense_units_min``; dropout rises linearly from ``dropout`` to ``dropout_max``.
:func:`head_plan` computes that plan without TensorFlow, so it can be read,
tested and shown before anything is built.

>>> from food_recognition.config import ModelConfig
>>> config = ModelConfig(dense_blocks=3, dense_units=1024, dense_units_min=256,
...                      dropout=0.2, dropout_max=0.5)
>>> [(block.units, block.dropout) for block in head_plan(config)]
[(1024, 0.2), (512, 0.35), (256, 0.5)]
"""

from __future__ import annotations

import attrs

from food_recognition.config import ModelConfig

__all__ = ["HeadBlock", "head_plan"]


@attrs.define(frozen=True)
class HeadBlock:
    """One hidden dense block of the head.

    :param units: units of the Dense layer.
    :param dropout: dropout rate after the activation (0 adds no Dropout layer).
    """

    units: int
    dropout: float


def head_plan(config: ModelConfig) -> tuple[HeadBlock, ...]:
    """The hidden dense blocks a model config asks for, first to last.

    :param config: the model configuration.
    :returns: one :class:`HeadBlock` per ``config.dense_blocks`` (empty for a
        linear head, whose single dropout is ``config.dropout``).
    """
    count = config.dense_blocks
    blocks = []
    for index in range(count):
        units = max(config.dense_units >> index, config.dense_units_min)
        units = min(units, max(config.dense_units, config.dense_units_min))
        share = index / (count - 1) if count > 1 else 0.0
        rate = config.dropout + (config.dropout_max - config.dropout) * share
        blocks.append(HeadBlock(units=units, dropout=round(rate, 6)))
    return tuple(blocks)
