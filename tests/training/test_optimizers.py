"""The recipe's optimizers: weight decay on kernels only, EMA warm-up, per-variable rates."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from food_recognition.config import TrainingConfig
from food_recognition.training.callbacks import CyclicalMomentum
from food_recognition.training.optimizers import discriminative_factors, ema_momentum_at
from food_recognition.training.recipe import make_optimizer


@keras.saving.register_keras_serializable(package="tests")
class _Scale(keras.layers.Layer):  # type: ignore[misc]
    """A ConvNeXt-style layer scale: one vector, named like nothing Keras excludes."""

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4, name="dense", bias_initializer="ones")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = _Scale(name="layer_scale")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def _zero_gradient_step(optimizer: Any, model: keras.Model) -> None:
    optimizer.build(model.trainable_variables)
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables])


def test_default_weight_decay_is_in_the_published_range() -> None:
    # fastai and PyTorch: 0.01; timm's AdamW recipes: 0.05. 1e-4 is effectively off.
    assert 0.01 <= TrainingConfig().weight_decay <= 0.05


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_shrinks_kernels_and_leaves_every_vector_alone(name: str) -> None:
    model = _model()
    before = {v.path: v.numpy() for v in model.trainable_variables}
    config = TrainingConfig(optimizer=name, weight_decay=0.5, schedule="constant")
    optimizer = make_optimizer(config, 0.1)
    _zero_gradient_step(optimizer, model)  # a zero gradient: only the decay moves anything
    for variable in model.trainable_variables:
        after = variable.numpy()
        if len(variable.shape) > 1:
            np.testing.assert_allclose(after, before[variable.path] * (1 - 0.5 * 0.1), rtol=1e-6)
        else:  # bias, batch-norm gamma/beta, the layer scale
            np.testing.assert_array_equal(after, before[variable.path], err_msg=variable.path)


def test_the_backbone_steps_at_its_share_of_the_rate() -> None:
    model = _model()
    first, second = model.get_layer("dense").kernel, model.get_layer("out").kernel
    factors = {id(first): 0.01}
    start = {id(v): v.numpy() for v in (first, second)}
    config = TrainingConfig(optimizer="sgd", weight_decay=0.0, momentum_max=0.0)
    optimizer = make_optimizer(config, 0.1, factors)
    optimizer.build(model.trainable_variables)
    optimizer.apply([keras.ops.ones_like(v) for v in model.trainable_variables])
    np.testing.assert_allclose(first.numpy(), start[id(first)] - 0.1 * 0.01, rtol=1e-5)
    np.testing.assert_allclose(second.numpy(), start[id(second)] - 0.1, rtol=1e-5)


def test_discriminative_factors_follow_fastais_slice() -> None:
    variables = [object() for _ in range(4)]
    factors = discriminative_factors(variables, 0.01)
    assert [factors[id(v)] for v in variables] == pytest.approx([0.01, 0.01, 0.1, 0.1])
    assert discriminative_factors(variables, 1.0) == {}


def test_the_weight_average_warms_up() -> None:
    """A short run's EMA follows the weights instead of staying near the initial ones."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    config = TrainingConfig(
        optimizer="sgd", schedule="constant", ema=True, ema_momentum=0.999, momentum_max=0.0
    )
    model.compile(make_optimizer(config, 0.1), "mae")
    seen: list[float] = [float(model.get_weights()[0][0, 0])]

    class Record(keras.callbacks.Callback):  # type: ignore[misc]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append(float(self.model.get_weights()[0][0, 0]))

    x, y = np.ones((20, 1), "float32"), np.full((20, 1), -100.0, "float32")
    model.fit(x, y, batch_size=1, epochs=1, callbacks=[Record()], verbose=0, shuffle=False)
    average = 0.0
    for step, weight in enumerate(seen[1:]):
        momentum = ema_momentum_at(step, 0.999)
        average = momentum * average + (1 - momentum) * weight
    ema = float(model.optimizer._model_variables_moving_average[0].numpy()[0, 0])
    assert ema == pytest.approx(average, rel=1e-4)
    # Without the warm-up the average would sit within 2% of the first step's weight.
    assert abs(ema - seen[1]) > 0.3 * abs(seen[-1] - seen[1])


def test_the_momentum_keeps_cycling_in_a_second_fit_call() -> None:
    """A resumed epoch runs fit() twice on one compiled model; both must follow the cycle."""
    total, warmup, high, low = 8, 0.5, 0.9, 0.0
    callback = CyclicalMomentum(total, warmup, high, low)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(np.zeros((1, 1), "float32"))
    model.compile(keras.optimizers.SGD(0.1, momentum=high), "mae")
    x, y = np.ones((4, 1), "float32"), np.full((4, 1), -100.0, "float32")
    for _ in range(2):  # two calls of four steps, as a resume does
        model.fit(x, y, batch_size=1, epochs=1, callbacks=[callback], verbose=0, shuffle=False)
    # The gradient of |w - y| is 1 at every step: SGD's velocity is v = m v - lr, w += v.
    velocity = weight = 0.0
    for step in range(total):
        velocity = callback.momentum_at(step) * velocity - 0.1
        weight += velocity
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(weight, rel=1e-5)
