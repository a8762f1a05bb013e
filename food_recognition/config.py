"""Configuration as values: frozen, validated attrs classes.

Every run of the library is described by a :class:`RunConfig`: where the data
is (:class:`DataConfig`), which model (:class:`ModelConfig`), how training
images are augmented (:class:`AugmentConfig`), how the model is trained
(:class:`TrainingConfig`) and how it is evaluated and served with test-time
augmentation (:class:`TTAConfig`). The CLI, YAML files and sweeps all produce
these values and nothing else.

Each class converts losslessly to and from a plain dict (:func:`to_dict`,
:func:`from_dict`) and a YAML file (:func:`save_yaml`, :func:`load_yaml`).
Changing a value makes a new one: ``attrs.evolve(config, epochs=3)`` or, by
dotted path, :func:`with_overrides`.

>>> cfg = RunConfig()
>>> cfg.model.backbone
'resnet50'
>>> with_overrides(cfg, {"training.epochs": "3"}).training.epochs
3
>>> from_dict(RunConfig, to_dict(cfg)) == cfg
True
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any, TypeAlias, TypeVar

import attrs
import yaml

from food_recognition.errors import FoodRecognitionError

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "Options",
    "RunConfig",
    "TTAConfig",
    "TrainingConfig",
    "did_you_mean",
    "field_paths",
    "from_dict",
    "from_yaml_text",
    "load_yaml",
    "save_yaml",
    "to_dict",
    "with_overrides",
]

#: A configuration class (a type variable): :func:`from_dict`, :func:`load_yaml` and
#: :func:`with_overrides` return a value of the class they are given.
C = TypeVar("C")

#: Values an option mapping may hold (policy options, tags).
OptionValue: TypeAlias = int | float | str | bool


class ConfigError(FoodRecognitionError, ValueError):
    """A configuration value or key is not allowed; the message names the field."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint for an error message: the closest of ``choices`` to a misspelt ``word``.

    >>> did_you_mean("polcy", ["policy", "options"])
    " (did you mean 'policy'?)"
    >>> did_you_mean("zzz", ["policy"])
    ''

    :param word: what the user wrote.
    :param choices: the names allowed there.
    :returns: ``" (did you mean 'x'?)"``, or ``""`` when nothing is close.
    """
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- validators ---------------------------------------------------------------
# attrs validators raise with the field's name; these add what *is* allowed.


def _one_of(*allowed: object) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            raise ConfigError(
                f"{type(instance).__name__}.{attribute.name}={_show(value)} is not allowed; "
                f"choose one of {', '.join(map(repr, allowed))}"
            )

    return check


def _in_range(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    optional: bool = False,
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        name = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, _NotWhole):
            raise ConfigError(f"{name}={_show(value.value)} {value.why}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}={_show(value)} must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            # NaN passes every comparison below, and a NaN rate trains a NaN model.
            raise ConfigError(f"{name}={_show(value)} must be a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            lo = "-inf" if low is None else ("(" if low_open else "[") + str(low)
            hi = "inf)" if high is None else str(high) + "]"
            raise ConfigError(f"{name}={_show(value)} is out of range; allowed: {lo}, {hi}")

    return check


@attrs.define(frozen=True)
class _NotWhole:
    """What the int converters make of 1.5, true or NaN, for :func:`_in_range` to refuse.

    A converter does not know its field's name; the validator does, so the
    converter hands the value on, marked, instead of raising or truncating it.
    """

    value: Any
    why: str


def _int(value: Any) -> Any:
    # YAML and the CLI hand strings and floats like 3.0. A fraction (1.5), a
    # boolean (true is 1 to Python) or a non-finite number is refused, rather
    # than truncated or left to fail inside Keras.
    number: Any = value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        text = value.strip()
        number = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(number, bool):
        return _NotWhole(value, "must be a whole number, not true or false")
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            return _NotWhole(value, "must be a whole number")
        return int(number)
    return number


def _optional_int(value: Any) -> Any:
    return None if value is None or value == "none" else _int(value)


# Digits with an optional sign, fraction and exponent; at most 30 digits before
# any conversion, so a 5,000-digit string cannot reach Python's int-string limit.
_NUMBER = re.compile(r"[+-]?(?=\d|\.\d)\d{0,30}(\.\d{0,30})?([eE][+-]?\d{1,4})?")


def _show(value: Any) -> str:
    """``repr(value)`` for an error message: short, and safe for huge integers."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's int-string conversion limit
        return "<an integer of more than 4,300 digits>"
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def _float(value: Any) -> Any:
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):  # not a number, or an int past float's range
            return value
    return value


def _optional_float(value: Any) -> Any:
    return None if value is None or value == "none" else _float(value)


def _path(value: Any) -> Any:
    return str(value) if isinstance(value, PurePath) else value


def _optional_str(value: Any) -> Any:
    return None if value is None or value in ("", "none", "None") else str(value)


def _bool(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    return value


class Options(Mapping[str, OptionValue]):
    """An immutable, hashable mapping of option name to value (policy options)."""

    def __init__(self, items: Mapping[str, OptionValue] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> OptionValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"Options({self._items!r})"


def _options(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, Options):
        return Options(value)
    return value


def _check_options(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(instance).__name__}.{attribute.name}"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping of option name to value, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, (int, float, str, bool)):
            raise ConfigError(
                f"{name}[{_show(key)}]={_show(item)}: options map names to numbers, strings "
                "or booleans"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{name}[{key!r}]={_show(item)} must be a finite number")


def _is_bool(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(
            f"{type(instance).__name__}.{attribute.name}={_show(value)} must be true or false"
        )


def _is_str(optional: bool = False) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{type(instance).__name__}.{attribute.name}={_show(value)} must be a non-empty "
                "string"
            )

    return check


def _int_field(default: int, low: float | None = None, high: float | None = None) -> Any:
    return attrs.field(default=default, converter=_int, validator=_in_range(low, high))


def _float_field(
    default: float, low: float | None = None, high: float | None = None, low_open: bool = False
) -> Any:
    return attrs.field(
        default=default, converter=_float, validator=_in_range(low, high, low_open=low_open)
    )


def _bool_field(default: bool) -> Any:
    return attrs.field(default=default, converter=_bool, validator=_is_bool)


def _empty_options() -> Options:
    return Options()


# -- the configs ----------------------------------------------------------------

LAYOUTS = ("auto", "food101", "class_folders", "single_folder")


@attrs.define(frozen=True)
class DataConfig:
    """Where the images are and how they become batches.

    :param path: a local folder (Food-101 as published, ``train/`` and
        ``test/`` class folders, or one folder of class folders).
    :param layout: ``"auto"`` detects it; or force one of ``food101``,
        ``class_folders``, ``single_folder``.
    :param batch_size: images per batch (per replica under a distribution strategy).
    :param validation_fraction: share of train carved out, stratified, as validation.
    :param test_fraction: share held out as test when the layout has no test split.
    :param seed: seeds the splits, shuffling and augmentation.
    :param max_per_class: keep at most this many training images per class
        (a quick run on a subset); ``None`` keeps all.
    :param cache: cache decoded images in memory (small data sets only).
    :param tfrecords: read TFRecord shards from this folder instead of the image files.
    :param deterministic: reproducible element order (slower; for tests).
    """

    path: str = attrs.field(default="data/food-101", converter=_path, validator=_is_str())
    layout: str = attrs.field(default="auto", validator=_one_of(*LAYOUTS))
    batch_size: int = _int_field(32, 1)
    validation_fraction: float = _float_field(0.1, 0.0, 0.9)
    test_fraction: float = _float_field(0.2, 0.0, 0.9)
    seed: int = _int_field(42, 0)
    max_per_class: int | None = attrs.field(
        default=None, converter=_optional_int, validator=_in_range(1, optional=True)
    )
    cache: bool = _bool_field(False)
    tfrecords: str | None = attrs.field(
        default=None, converter=_optional_str, validator=_is_str(optional=True)
    )
    deterministic: bool = _bool_field(False)


POOLINGS = ("avg", "max", "flatten")


@attrs.define(frozen=True)
class ModelConfig:
    """A backbone from the registry plus the classification head.

    The head is the reference project's: pooling, then ``dense_blocks`` blocks
    of Dense (units halving from ``dense_units`` down to at least
    ``dense_units_min``) -> optional BatchNorm -> activation -> Dropout
    (rising linearly from ``dropout`` to ``dropout_max``), then a softmax.

    :param backbone: a registered backbone name (``food-recognition backbones``).
    :param weights: ``None`` (random init), ``"imagenet"``, or a path to a weights file.
    :param input_size: square input size in pixels; ``None`` uses the backbone's default.
    :param frozen_layers: freeze the first N backbone layers (batch-norm layers
        stay trainable); ``-1`` freezes the whole backbone.
    :param pooling: ``avg``, ``max`` or ``flatten`` of the last feature map.
    :param dense_blocks: number of hidden dense blocks in the head (0 = linear head).
    :param dense_units: units of the first dense block.
    :param dense_units_min: the floor the units halve down to.
    :param dropout: dropout of the first block (and of a linear head).
    :param dropout_max: dropout of the last block.
    :param batch_norm: add batch normalization in each dense block.
    :param activation: activation of the dense blocks (a Keras activation name).
    :param batch_norm_momentum: override the momentum of the backbone's batch-norm
        layers. Keras applications use 0.99 or 0.999, tuned for long ImageNet runs;
        a short run from scratch needs about 0.9, or the moving statistics used at
        evaluation lag far behind the weights. ``None`` chooses: 0.9 from random
        weights (``weights=None``, logged), the backbone's own from pretrained ones.
    """

    backbone: str = attrs.field(default="resnet50", validator=_is_str())
    weights: str | None = attrs.field(
        default=None, converter=_optional_str, validator=_is_str(optional=True)
    )
    input_size: int | None = attrs.field(
        default=None, converter=_optional_int, validator=_in_range(32, 1024, optional=True)
    )
    frozen_layers: int = _int_field(0, -1)
    pooling: str = attrs.field(default="avg", validator=_one_of(*POOLINGS))
    dense_blocks: int = _int_field(0, 0, 8)
    dense_units: int = _int_field(1024, 1)
    dense_units_min: int = _int_field(128, 1)
    dropout: float = _float_field(0.2, 0.0, 0.95)
    dropout_max: float = _float_field(0.5, 0.0, 0.95)
    batch_norm: bool = _bool_field(False)
    activation: str = attrs.field(default="relu", validator=_is_str())
    batch_norm_momentum: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_in_range(0.0, 1.0, optional=True)
    )


@attrs.define(frozen=True)
class AugmentConfig:
    """Training-time augmentation: a registered policy and its options.

    :param policy: a registered policy name: ``default`` (random-resized-crop,
        flip, light colour jitter), ``reference`` (the reference project's
        rotation/zoom/shift/flip), ``randaugment``, ``none``, or a plugin's.
    :param options: keyword options for the policy, e.g. ``{"rotation": 40}``.
    :param mixup_alpha: MixUp strength; 0 turns it off.
    :param cutmix_alpha: CutMix strength; 0 turns it off.
    :param on_device: run the policy as Keras layers on the accelerator
        instead of in the tf.data pipeline on the CPU.
    """

    policy: str = attrs.field(default="default", validator=_is_str())
    options: Mapping[str, OptionValue] = attrs.field(
        factory=_empty_options, converter=_options, validator=_check_options
    )
    mixup_alpha: float = _float_field(0.0, 0.0)
    cutmix_alpha: float = _float_field(0.0, 0.0)
    on_device: bool = _bool_field(False)


OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("one_cycle", "cosine", "constant")


@attrs.define(frozen=True)
class TrainingConfig:
    """How the model is fitted.

    :param epochs: epochs of the main phase.
    :param head_epochs: epochs training only the head first (two-phase
        fine-tuning); 0 skips that phase.
    :param optimizer: ``adamw``, ``adam`` or ``sgd``.
    :param learning_rate: the peak learning rate (of the head, when the rates
        are discriminative).
    :param weight_decay: decoupled weight decay (AdamW/SGD):
        ``var -= var * weight_decay * rate`` each step, on kernels and matrices
        only (every variable of one dimension or fewer is left alone). 0.05 as
        timm's AdamW recipes; fastai and PyTorch use 0.01.
    :param backbone_lr_ratio: discriminative fine-tuning rates (fastai's
        ``slice(lr * ratio, lr)``): with pretrained ``model.weights``, the first
        half of the backbone trains at this share of the head's rate and the
        second half at its square root; from random weights, or at 1, every
        variable trains at the same rate. The head phase trains the head alone.
    :param fine_tune_lr_factor: after a head phase (``head_epochs``), the main
        phase's peak rate is ``learning_rate`` times this (fastai's
        ``fine_tune`` halves it); 1 keeps it.
    :param schedule: ``one_cycle`` (the reference project's, with cyclical
        momentum), ``cosine`` (with warmup) or ``constant``.
    :param warmup_fraction: share of the steps spent warming up (cosine) or
        rising (one-cycle).
    :param momentum_max: one-cycle momentum at the start and end.
    :param momentum_min: one-cycle momentum at the learning-rate peak.
    :param label_smoothing: smoothing of the one-hot targets.
    :param early_stopping_patience: epochs without improvement of the
        validation loss before stopping; ``None`` never stops. The weights of
        the epoch with the lowest validation loss are restored at the end, and
        the reported ``best_val_accuracy`` is that epoch's. Under ``one_cycle``
        and ``cosine`` the run is never cut short (the low-rate tail of the
        schedule is where the model settles): the patience then only decides
        whether the best epoch's weights replace the last epoch's.
    :param steps_per_epoch: cap the steps of an epoch (quick runs); ``None`` = whole split.
    :param checkpoint_every_steps: also checkpoint every N optimizer steps, so a
        killed run loses at most N steps; 0 checkpoints at epoch ends only.
    :param mixed_precision: float16 compute (GPUs; ignored on the CPU).
    :param xla: compile the train step with XLA (GPUs; ignored on the CPU).
    :param ema: keep an exponential moving average of the weights.
    :param ema_momentum: the EMA's momentum.
    :param seed: seeds weight initialisation and the training loop.
    :param tracking_uri: MLflow tracking URI; ``None`` uses ``MLFLOW_TRACKING_URI``
        or a local store in the output folder.
    :param experiment_name: MLflow experiment name.
    """

    epochs: int = _int_field(10, 1)
    head_epochs: int = _int_field(0, 0)
    optimizer: str = attrs.field(default="adamw", validator=_one_of(*OPTIMIZERS))
    learning_rate: float = _float_field(1e-3, 0.0, 10.0, low_open=True)
    weight_decay: float = _float_field(0.05, 0.0)
    backbone_lr_ratio: float = _float_field(0.01, 0.0, 1.0, low_open=True)
    fine_tune_lr_factor: float = _float_field(0.5, 0.0, 1.0, low_open=True)
    schedule: str = attrs.field(default="one_cycle", validator=_one_of(*SCHEDULES))
    warmup_fraction: float = _float_field(0.3, 0.0, 1.0)
    momentum_max: float = _float_field(0.95, 0.0, 1.0)
    momentum_min: float = _float_field(0.85, 0.0, 1.0)
    label_smoothing: float = _float_field(0.1, 0.0, 0.99)
    early_stopping_patience: int | None = attrs.field(
        default=5, converter=_optional_int, validator=_in_range(1, optional=True)
    )
    steps_per_epoch: int | None = attrs.field(
        default=None, converter=_optional_int, validator=_in_range(1, optional=True)
    )
    checkpoint_every_steps: int = _int_field(0, 0)
    mixed_precision: bool = _bool_field(False)
    xla: bool = _bool_field(False)
    ema: bool = _bool_field(False)
    ema_momentum: float = _float_field(0.999, 0.0, 1.0)
    seed: int = _int_field(42, 0)
    tracking_uri: str | None = attrs.field(
        default=None, converter=_optional_str, validator=_is_str(optional=True)
    )
    experiment_name: str = attrs.field(default="food-recognition", validator=_is_str())


MERGES = ("mean_prob", "mean_logit")


@attrs.define(frozen=True)
class TTAConfig:
    """Test-time augmentation used by evaluation and, by default, serving.

    :param policy: a registered TTA policy: ``identity``, ``flip``, ``five_crop``,
        ``ten_crop``, ``multi_scale``, ``random`` (the reference project's N
        random passes), or a plugin's.
    :param options: keyword options for the policy, e.g. ``{"passes": 10}``.
    :param merge: ``mean_prob`` averages probabilities, ``mean_logit`` averages logits.
    :param threshold: adaptive TTA: only images whose single-view top
        probability is below this get the extra views; ``None`` = all images.
    :param seed: seeds random policies, so a result can be reproduced.
    """

    policy: str = attrs.field(default="identity", validator=_is_str())
    options: Mapping[str, OptionValue] = attrs.field(
        factory=_empty_options, converter=_options, validator=_check_options
    )
    merge: str = attrs.field(default="mean_prob", validator=_one_of(*MERGES))
    threshold: float | None = attrs.field(
        default=None, converter=_optional_float, validator=_in_range(0.0, 1.0, optional=True)
    )
    seed: int = _int_field(0, 0)


def _sub(cls: type[C]) -> Any:
    def convert(value: Any) -> Any:
        if value is None:  # an empty section in YAML ("training:") keeps the defaults
            return cls()
        return value if isinstance(value, cls) else from_dict(cls, value)

    return attrs.field(factory=cls, converter=convert, validator=attrs.validators.instance_of(cls))


@attrs.define(frozen=True)
class RunConfig:
    """Everything a training run needs, as one value.

    :param data: :class:`DataConfig`.
    :param model: :class:`ModelConfig`.
    :param augment: :class:`AugmentConfig`.
    :param training: :class:`TrainingConfig`.
    :param tta: :class:`TTAConfig`.
    """

    data: DataConfig = _sub(DataConfig)
    model: ModelConfig = _sub(ModelConfig)
    augment: AugmentConfig = _sub(AugmentConfig)
    training: TrainingConfig = _sub(TrainingConfig)
    tta: TTAConfig = _sub(TTAConfig)


# -- plain dicts, YAML and overrides -----------------------------------------------


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain dicts, lists and scalars (what YAML and JSON hold)."""

    def plain(_inst: Any, _attr: Any, value: Any) -> Any:
        if isinstance(value, Mapping):
            return dict(value)
        return value

    return attrs.asdict(config, value_serializer=plain)


def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build ``cls`` from a plain mapping, refusing keys ``cls`` does not have.

    :raises ConfigError: an unknown key (with the close matches and the allowed
        keys) or a value a field does not accept.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{cls.__name__} must be a mapping, got {type(data).__name__}")
    fields = {f.name for f in attrs.fields(cls)}  # type: ignore[arg-type]
    unknown = [key for key in data if key not in fields]
    if unknown:
        key = unknown[0]
        hint = did_you_mean(str(key), fields)
        raise ConfigError(
            f"{cls.__name__} has no field {key!r}{hint}; allowed: {', '.join(sorted(fields))}"
        )
    try:
        return cls(**data)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{cls.__name__}: {error}") from error


def save_yaml(config: Any, path: str | Path) -> Path:
    """Write ``config`` as YAML and return the path."""
    path = Path(path)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
    return path


def load_yaml(cls: type[C], path: str | Path) -> C:
    """Read a ``cls`` from a YAML file written by :func:`save_yaml` or by hand.

    :raises ConfigError: the file is not a mapping, or a key or value is not allowed;
        the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a YAML file (not UTF-8 text)") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from error
    try:
        return from_yaml_text(cls, text)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def from_yaml_text(cls: type[C], text: str) -> C:
    """Build ``cls`` from YAML text (what :func:`load_yaml` reads from a file).

    :param cls: the config class.
    :param text: the YAML document.
    :returns: the config.
    :raises ConfigError: the text is empty, not valid YAML, not a mapping, or a
        key or value is not allowed; the message is one line.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML: {error.problem or error.context}{where}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {_first_line(error)}") from error
    except ValueError as error:  # PyYAML's int() and date() refuse some scalars
        reason = _first_line(error)
        if "digits" in reason:  # Python's int-string limit
            reason = "a number of more than 4,300 digits"
        raise ConfigError(f"not valid YAML: {reason}") from error
    except RecursionError as error:
        raise ConfigError("not valid YAML: nested too deeply") from error
    if data is None:
        raise ConfigError(
            f"the file is empty; write the sections to change, e.g. 'training: {{epochs: 3}}' "
            f"(a {cls.__name__} takes {', '.join(f.name for f in attrs.fields(cls))})"  # type: ignore[arg-type]
        )
    return from_dict(cls, data)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def field_paths(cls: type[Any], prefix: str = "") -> dict[str, attrs.Attribute[Any]]:
    """Every leaf field of a config class by dotted path (``"model.backbone"``)."""
    result: dict[str, attrs.Attribute[Any]] = {}
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint = hints[field.name]
        if attrs.has(hint):
            result.update(field_paths(hint, f"{prefix}{field.name}."))
        else:
            result[f"{prefix}{field.name}"] = field
    return result


def with_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """A copy of ``config`` with values set by dotted path.

    Values may be strings (from a command line); fields convert them.
    ``options`` fields take ``"augment.options.rotation"``-style paths.

    :raises ConfigError: a path that names no field, or a value it refuses.
    """
    data = to_dict(config)
    paths = field_paths(type(config))
    for path, value in overrides.items():
        parts = path.split(".")
        parent_path = ".".join(parts[:-1])
        is_option = parent_path in paths and parent_path.endswith("options")
        if path not in paths and not is_option:
            raise ConfigError(f"no configuration field {path!r}{did_you_mean(path, paths)}")
        node = data
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = _parse_option(value) if is_option else value
    return from_dict(type(config), data)


def _parse_option(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError, RecursionError):
        return value  # not a YAML scalar: the text itself ("[" is a string option)
    return parsed if isinstance(parsed, (int, float, str, bool)) else value
