"""build(): every head option changes the model as the config claims."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from food_recognition.config import ConfigError, ModelConfig
from food_recognition.models import (
    backbone_of,
    build,
    freeze_backbone,
    get_backbone,
    input_size_for,
    list_backbones,
)
from food_recognition.plugins import PluginManager, UnknownNameError
from tests.models.tiny import TINY_LAYERS, build_tiny, tiny_config, tiny_manager


def _layers(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_model_maps_pixels_to_probabilities() -> None:
    model = build_tiny(num_classes=4)
    assert tuple(model.input_shape) == (None, 32, 32, 3)
    assert [layer.name for layer in model.layers[:3]] == ["image", "preprocess", "backbone"]
    images = np.random.default_rng(0).uniform(0, 255, (5, 32, 32, 3)).astype("float32")
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (5, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_preprocess_layer_takes_the_backbones_mode() -> None:
    model = build_tiny()
    assert model.get_layer("preprocess").mode == "scale_0_1"


@pytest.mark.parametrize("blocks", [0, 1, 3])
def test_dense_blocks_units_and_dropouts(blocks: int) -> None:
    model = build_tiny(
        dense_blocks=blocks, dense_units=64, dense_units_min=16, dropout=0.1, dropout_max=0.4
    )
    hidden = [layer for layer in _layers(model, keras.layers.Dense) if layer.name != "logits"]
    assert [layer.units for layer in hidden] == [64, 32, 16][:blocks]
    rates = [layer.rate for layer in _layers(model, keras.layers.Dropout)]
    expected = {0: [0.1], 1: [0.1], 3: [0.1, 0.25, 0.4]}[blocks]
    assert rates == pytest.approx(expected)


def test_zero_dropout_adds_no_dropout_layer() -> None:
    model = build_tiny(dense_blocks=0, dropout=0.0)
    assert _layers(model, keras.layers.Dropout) == []


@pytest.mark.parametrize("batch_norm", [False, True])
def test_batch_norm_in_every_block(batch_norm: bool) -> None:
    model = build_tiny(dense_blocks=2, dense_units=32, batch_norm=batch_norm)
    head_bn = [layer.name for layer in _layers(model, keras.layers.BatchNormalization)]
    assert head_bn == (["head_bn_0", "head_bn_1"] if batch_norm else [])
    # The batch norm's shift replaces the dense bias.
    assert model.get_layer("head_dense_0").use_bias is not batch_norm


def test_activation_of_the_blocks() -> None:
    model = build_tiny(dense_blocks=1, dense_units=16, activation="gelu")
    assert model.get_layer("head_activation_0").activation.__name__ == "gelu"


def test_unknown_activation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'sparkle' is not a Keras activation"):
        build_tiny(dense_blocks=1, activation="sparkle")


@pytest.mark.parametrize(
    ("pooling", "kind", "features"),
    [
        ("avg", keras.layers.GlobalAveragePooling2D, 16),
        ("max", keras.layers.GlobalMaxPooling2D, 16),
        ("flatten", keras.layers.Flatten, 8 * 8 * 16),
    ],
)
def test_pooling(pooling: str, kind: type, features: int) -> None:
    model = build_tiny(pooling=pooling)
    pool = model.get_layer("pool")
    assert isinstance(pool, kind)
    assert pool.output.shape[-1] == features


def test_frozen_layers_freeze_the_first_n_but_not_batch_norm() -> None:
    model = build_tiny(frozen_layers=5)  # input, conv1, bn1, relu1, conv2
    backbone = backbone_of(model)
    trainable = {layer.name: layer.trainable for layer in backbone.layers}
    assert trainable["tiny_conv1"] is False
    assert trainable["tiny_conv2"] is False
    assert trainable["tiny_bn1"] is True  # inside the frozen range, still trains
    assert trainable["tiny_bn2"] is True
    assert model.get_layer("logits").trainable is True
    frozen = {w.path for w in model.non_trainable_weights}
    assert any("tiny_conv1" in path for path in frozen)
    assert not any("gamma" in path for path in frozen)


def test_frozen_layers_beyond_the_backbone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=f"has {TINY_LAYERS} layers; use -1"):
        build_tiny(frozen_layers=TINY_LAYERS + 1)


def _numpy(variable: keras.Variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable)


def _fit_one_step(model: keras.Model) -> None:
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, 8), 3)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("frozen_layers", [-1, 0])
def test_frozen_backbone_keeps_batch_norm_statistics(frozen_layers: int) -> None:
    model = build_tiny(frozen_layers=frozen_layers)
    bn = backbone_of(model).get_layer("tiny_bn1")
    conv = backbone_of(model).get_layer("tiny_conv1")
    head = model.get_layer("logits")
    before = [_numpy(bn.moving_mean), _numpy(conv.kernel), _numpy(head.kernel)]
    _fit_one_step(model)
    bn_same = np.array_equal(before[0], _numpy(bn.moving_mean))
    conv_same = np.array_equal(before[1], _numpy(conv.kernel))
    assert not np.array_equal(before[2], _numpy(head.kernel))  # the head trained
    # Whole backbone frozen: statistics and weights as pre-training left them.
    # Nothing frozen: both move, so the comparison above could have failed.
    assert bn_same is conv_same is (frozen_layers == -1)


def test_freeze_backbone_then_unfreeze_for_two_phase_fine_tuning() -> None:
    model = build_tiny(frozen_layers=-1)
    assert backbone_of(model).trainable is False
    freeze_backbone(model, 2)
    backbone = backbone_of(model)
    assert backbone.trainable is True
    assert backbone.get_layer("tiny_conv1").trainable is False
    assert backbone.get_layer("tiny_conv2").trainable is True


def test_softmax_is_float32_under_mixed_precision() -> None:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_tiny()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("logits").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    assert model.get_layer("preprocess").compute_dtype == "float32"


def test_config_and_class_count_rebuild_the_same_model() -> None:
    config = tiny_config(dense_blocks=2, dense_units=32, batch_norm=True, pooling="max")
    first = build(config, 5, manager=tiny_manager())
    second = build(config, 5, manager=tiny_manager())
    assert [(w.path, w.shape) for w in first.weights] == [(w.path, w.shape) for w in second.weights]
    second.set_weights(first.get_weights())
    images = np.random.default_rng(2).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(
        first.predict(images, verbose=0), second.predict(images, verbose=0)
    )


def test_input_size_from_config_or_backbone() -> None:
    manager = tiny_manager()
    assert input_size_for(tiny_config(), manager=manager) == 32
    assert input_size_for(tiny_config(input_size=48), manager=manager) == 48
    assert input_size_for(ModelConfig(backbone="efficientnetv2_s")) == 384
    model = build(tiny_config(input_size=48), 3, manager=manager)
    assert tuple(model.input_shape) == (None, 48, 48, 3)


def test_unknown_backbone_lists_what_exists() -> None:
    with pytest.raises(UnknownNameError) as error:
        get_backbone("resnet5O")
    message = str(error.value)
    assert "Did you mean 'resnet50'" in message
    assert "mobilenet_v3_small" in message


def test_a_plugin_object_adds_a_backbone() -> None:
    assert "tiny_cnn" in list_backbones(manager=tiny_manager())
    assert "tiny_cnn" not in list_backbones(manager=PluginManager(load_entry_points=False))


def test_fewer_than_two_classes_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 2 classes"):
        build_tiny(num_classes=1)
