"""Build a classifier from a model config: a registered backbone plus our head.

The few functions here that touch Keras import it when called, so importing
:mod:`food_recognition.models` (which the plugin manager does at start-up)
stays cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from food_recognition.config import ConfigError, ModelConfig
from food_recognition.models.head import head_plan
from food_recognition.plugins.manager import PluginManager, get_plugin_manager
from food_recognition.plugins.registry import BackboneSpec, PluginContractError

if TYPE_CHECKING:
    import keras

__all__ = [
    "BACKBONE_LAYER",
    "WeightsError",
    "backbone_of",
    "build",
    "freeze_backbone",
    "get_backbone",
    "input_size_for",
    "list_backbones",
    "save_backbone_weights",
]

logger = logging.getLogger(__name__)

#: The backbone's batch-norm momentum when ``model.weights`` is ``None`` and
#: ``model.batch_norm_momentum`` is not set.
SCRATCH_BATCH_NORM_MOMENTUM = 0.9

#: The name of the backbone inside every model :func:`build` makes.
BACKBONE_LAYER = "backbone"
#: Names of the layers after the backbone (the head); see :func:`build`.
LOGITS_LAYER = "logits"
PROBABILITIES_LAYER = "probabilities"

_WEIGHTS_HELP = (
    "ModelConfig.weights takes none, 'imagenet', a backbone weights file (.weights.h5 or a "
    "Keras application's *_notop.h5), or a trained model: a model package folder or a .keras file"
)


class WeightsError(ConfigError):
    """``ModelConfig.weights`` names something that cannot be loaded; the message says why."""


def get_backbone(name: str, *, manager: PluginManager | None = None) -> BackboneSpec:
    """The registered backbone called ``name``.

    :param name: a backbone name, e.g. ``"resnet50"``.
    :param manager: the plugin manager to look in; the process-wide one by default.
    :returns: its :class:`~food_recognition.plugins.BackboneSpec`.
    :raises food_recognition.plugins.UnknownNameError: no plugin registered
        ``name``; the message lists the backbones that exist.
    """
    return (manager or get_plugin_manager()).backbones.get(name)


def list_backbones(pattern: str = "*", *, manager: PluginManager | None = None) -> list[str]:
    """Names of the registered backbones matching a shell-style pattern, sorted.

    :param pattern: e.g. ``"efficientnet*"``; ``"*"`` lists all.
    :param manager: the plugin manager to look in; the process-wide one by default.
    :returns: the matching names.
    """
    return (manager or get_plugin_manager()).backbones.names(pattern)


def input_size_for(config: ModelConfig, *, manager: PluginManager | None = None) -> int:
    """The square input size a model config builds: its own or the backbone's default.

    :param config: the model configuration.
    :param manager: the plugin manager to look in; the process-wide one by default.
    :returns: the size in pixels.
    :raises food_recognition.plugins.UnknownNameError: an unknown backbone.
    """
    if config.input_size is not None:
        return config.input_size
    return get_backbone(config.backbone, manager=manager).default_input_size


def build(
    config: ModelConfig, num_classes: int, *, manager: PluginManager | None = None
) -> keras.Model:
    """Build the classifier a model config describes.

    The model takes float32 RGB images ``[None, S, S, 3]`` with pixel values in
    ``[0, 255]`` (``S`` from :func:`input_size_for`) and returns softmax
    probabilities ``[None, num_classes]`` in float32, also under mixed
    precision. Its layers: ``preprocess`` (the backbone's
    :class:`~food_recognition.models.layers.Preprocess` mode), ``backbone``
    (from the plugin registry, frozen as ``config.frozen_layers`` says, see
    :func:`freeze_backbone`), ``pool``, the dense blocks of
    :func:`~food_recognition.models.head.head_plan` (``head_dense_i``,
    ``head_bn_i``, ``head_activation_i``, ``head_dropout_i``), ``logits`` and
    ``probabilities``.

    ``config.weights`` may be ``None``, ``"imagenet"``, a backbone weights file,
    or a trained model (a package folder or ``.keras`` file). From a trained
    model the backbone's weights are copied, and each head layer whose name and
    shapes match; the others (the output layer when the class count differs)
    start fresh, which is logged.

    :param config: the model configuration.
    :param num_classes: how many classes the softmax has.
    :param manager: the plugin manager to take the backbone from; the
        process-wide one by default.
    :returns: the uncompiled Keras model.
    :raises food_recognition.plugins.UnknownNameError: an unknown backbone.
    :raises WeightsError: ``config.weights`` cannot be found or loaded.
    :raises food_recognition.plugins.PluginContractError: the backbone's
        builder returned something that is not a ``keras.Model``.
    :raises food_recognition.config.ConfigError: ``frozen_layers`` beyond the
        backbone's depth, an unknown activation, or ``num_classes`` below 2.
    """
    import keras

    from food_recognition.models.layers import Preprocess

    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    _check_activation(config.activation)
    spec = get_backbone(config.backbone, manager=manager)
    size = input_size_for(config, manager=manager)
    source = _resolve_weights(config.weights)

    backbone = _build_backbone(spec, size, source)
    if not isinstance(backbone, keras.Model):
        backbones = (manager or get_plugin_manager()).backbones
        raise PluginContractError(
            f"backbone {spec.name!r} of {backbones.describe_plugin(backbones.owner(spec.name))} "
            f"built {type(backbone).__name__}, not a keras.Model; its builder must return one"
        )
    backbone.name = BACKBONE_LAYER
    freeze_backbone(backbone, config.frozen_layers)
    momentum = _batch_norm_momentum(config, source)
    if momentum is not None:
        _set_batch_norm_momentum(backbone, momentum)

    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    # float32 so the normalization is exact under mixed precision; the
    # backbone casts to its own compute dtype.
    x = Preprocess(spec.preprocessing, name="preprocess", dtype="float32")(inputs)
    x = backbone(x)
    x = _head(x, config, num_classes)
    model = keras.Model(inputs, x, name=f"{spec.name}_classifier")
    if isinstance(source, Path) and _is_model_file(source):
        _copy_from_model(source, model)
    return model


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a model :func:`build` made.

    :param model: a model from :func:`build` (or loaded from a package).
    :returns: its ``backbone`` layer.
    :raises ValueError: the model has no layer called ``backbone``.
    """
    try:
        return model.get_layer(BACKBONE_LAYER)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no {BACKBONE_LAYER!r} layer; it was not made by "
            "food_recognition.models.build"
        ) from None


def freeze_backbone(model_or_backbone: keras.Model, frozen_layers: int) -> None:
    """Freeze a backbone the way ``ModelConfig.frozen_layers`` says.

    ``-1`` freezes the whole backbone, batch normalization included: in Keras 3
    a BatchNormalization layer that is not trainable runs in inference mode,
    so its moving statistics stay what pre-training made them while the head
    trains. ``N > 0`` freezes the first ``N`` layers of the backbone (its
    ``layers`` list, input layer included) except BatchNormalization layers,
    which keep training as in the reference project. ``0`` trains everything.

    Two-phase fine-tuning calls this with ``-1`` for the head phase, then with
    the config's value; recompile the model after each change.

    :param model_or_backbone: a model from :func:`build`, or its backbone.
    :param frozen_layers: ``-1``, ``0`` or a layer count.
    :raises food_recognition.config.ConfigError: more layers than the backbone has.
    """
    import keras

    backbone = model_or_backbone
    if model_or_backbone.name != BACKBONE_LAYER:
        backbone = backbone_of(model_or_backbone)
    if frozen_layers == -1:
        backbone.trainable = False
        return
    backbone.trainable = True
    layers = backbone.layers
    if frozen_layers > len(layers):
        raise ConfigError(
            f"ModelConfig.frozen_layers={frozen_layers} but this backbone has {len(layers)} "
            "layers; use -1 to freeze the whole backbone"
        )
    for index, layer in enumerate(layers):
        frozen = index < frozen_layers
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not frozen or is_bn


def save_backbone_weights(model: keras.Model, path: str | Path) -> Path:
    """Save a model's backbone weights, to start another model from them.

    :param model: a model from :func:`build`.
    :param path: a file name ending in ``.weights.h5``.
    :returns: the path written.
    :raises ValueError: the name does not end in ``.weights.h5``.
    """
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"{path}: a Keras weights file name must end in .weights.h5")
    backbone_of(model).save_weights(str(path))
    return path


# -- helpers -------------------------------------------------------------------


def _check_activation(name: str) -> None:
    import keras

    try:
        keras.activations.get(name)
    except ValueError:
        raise ConfigError(
            f"ModelConfig.activation={name!r} is not a Keras activation; try 'relu', "
            "'gelu', 'swish' or 'elu'"
        ) from None


def _resolve_weights(weights: str | None) -> str | Path | None:
    if weights is None or weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist; {_WEIGHTS_HELP}")
    if path.is_dir():
        from food_recognition.package import MODEL_FILE

        if not (path / MODEL_FILE).is_file():
            raise WeightsError(
                f"weights folder {path} is not a model package (it has no {MODEL_FILE}); "
                f"{_WEIGHTS_HELP}"
            )
        return path / MODEL_FILE
    if path.name.endswith((".h5", ".keras")):
        return path
    raise WeightsError(f"weights file {path}: unknown kind of file; {_WEIGHTS_HELP}")


def _is_model_file(path: Path) -> bool:
    return path.name.endswith(".keras")


def _build_backbone(spec: BackboneSpec, size: int, source: str | Path | None) -> keras.Model:
    shape = (size, size, 3)
    if source == "imagenet":
        try:
            return spec.build(shape, "imagenet")
        except Exception as error:
            # Keras fetches ImageNet weights over the network; without one
            # the raw error is a long urllib traceback.
            raise WeightsError(
                f"could not get ImageNet weights for backbone {spec.name!r}: {error}. Without "
                "network access, download the weights file elsewhere and give its path as "
                "model.weights"
            ) from error
    backbone = spec.build(shape, None)
    if isinstance(source, Path) and not _is_model_file(source):
        try:
            backbone.load_weights(str(source))
        except Exception as error:
            raise WeightsError(
                f"could not load {source} into backbone {spec.name!r}: {error}. A weights file "
                "must hold this backbone alone (save_backbone_weights or a Keras application's "
                "*_notop.h5); to start from a trained model give its package folder"
            ) from error
    return backbone


def _head(x: Any, config: ModelConfig, num_classes: int) -> Any:
    import keras

    layers = keras.layers
    pooling = {
        "avg": layers.GlobalAveragePooling2D,
        "max": layers.GlobalMaxPooling2D,
        "flatten": layers.Flatten,
    }[config.pooling]
    x = pooling(name="pool")(x)
    blocks = head_plan(config)
    if not blocks and config.dropout > 0:
        x = layers.Dropout(config.dropout, name="head_dropout")(x)
    for index, block in enumerate(blocks):
        x = layers.Dense(block.units, use_bias=not config.batch_norm, name=f"head_dense_{index}")(x)
        if config.batch_norm:
            x = layers.BatchNormalization(name=f"head_bn_{index}")(x)
        x = layers.Activation(config.activation, name=f"head_activation_{index}")(x)
        if block.dropout > 0:
            x = layers.Dropout(block.dropout, name=f"head_dropout_{index}")(x)
    x = layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    # float32 softmax: under mixed precision a float16 softmax loses the
    # small probabilities that log loss and top-5 depend on.
    return layers.Activation("softmax", dtype="float32", name=PROBABILITIES_LAYER)(x)


def _copy_from_model(path: Path, model: keras.Model) -> None:
    import keras

    import food_recognition.models.layers  # noqa: F401  (registers Preprocess)

    try:
        source = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as error:
        raise WeightsError(f"could not load the model in {path}: {error}") from error
    _copy_backbone(source, model, path)
    reset = _copy_head(source, model)
    if reset:
        logger.info(
            "starting from %s: head layers %s start fresh (source outputs %s classes, "
            "this model %s)",
            path,
            ", ".join(reset),
            source.output_shape[-1],
            model.output_shape[-1],
        )


def _copy_backbone(source: keras.Model, model: keras.Model, path: Path) -> None:
    try:
        source_backbone = backbone_of(source)
    except ValueError as error:
        raise WeightsError(f"{path}: {error}") from None
    target = backbone_of(model)
    source_weights = source_backbone.get_weights()
    target_shapes = [tuple(w.shape) for w in target.weights]
    source_shapes = [tuple(w.shape) for w in source_weights]
    if source_shapes != target_shapes:
        raise WeightsError(
            f"{path}: its backbone ({len(source_shapes)} weights, from "
            f"{source.name!r}) does not fit this model's backbone ({len(target_shapes)} "
            f"weights, {model.name!r}); start from a model with the same backbone"
        )
    target.set_weights(source_weights)


def _copy_head(source: keras.Model, model: keras.Model) -> list[str]:
    source_layers = {layer.name: layer for layer in source.layers}
    reset = []
    for layer in model.layers:
        if layer.name == BACKBONE_LAYER or not layer.weights:
            continue
        match = source_layers.get(layer.name)
        weights = match.get_weights() if match is not None else None
        shapes = [tuple(w.shape) for w in layer.weights]
        if weights is None or [tuple(w.shape) for w in weights] != shapes:
            reset.append(layer.name)
            continue
        layer.set_weights(weights)
    return reset


def _batch_norm_momentum(config: ModelConfig, source: str | Path | None) -> float | None:
    """The backbone's batch-norm momentum: the config's, or one that learns from scratch."""
    if config.batch_norm_momentum is not None or source is not None:
        return config.batch_norm_momentum
    # 0.99/0.999 average over hundreds of steps: on a short run from random
    # weights the statistics used at evaluation lag the weights, and accuracy
    # stays at chance. Pretrained statistics are already right, so they keep theirs.
    logger.info(
        "model.weights is None (random init): batch-norm momentum %s so the statistics "
        "keep up on a short run (set model.batch_norm_momentum to choose another)",
        SCRATCH_BATCH_NORM_MOMENTUM,
    )
    return SCRATCH_BATCH_NORM_MOMENTUM


def _set_batch_norm_momentum(backbone: keras.Model, momentum: float) -> None:
    import keras

    # The layer reads ``momentum`` on every training call and writes it in
    # get_config, so the saved model keeps the value.
    for layer in backbone._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
