"""The calls a user needs: train, evaluate, load a package (re-exported by :mod:`food_recognition`).

>>> import food_recognition as fr
>>> package = fr.train(data="digits", backbone="mobilenet_v3_small", epochs=3)  # doctest: +SKIP
>>> report = fr.evaluate(package, "digits", tta="flip")  # doctest: +SKIP
>>> print(package.classify("photo.jpg", top_k=3))  # doctest: +SKIP

Each call is a thin layer over the modules that do the work
(:func:`food_recognition.training.train`, :func:`food_recognition.evaluation.evaluate`,
:func:`food_recognition.package.load_package`), so everything they document holds here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from food_recognition.config import RunConfig, TTAConfig, load_yaml, with_overrides

if TYPE_CHECKING:
    from food_recognition.datasets.splits import Dataset, Split
    from food_recognition.evaluation import EvaluationReport
    from food_recognition.package import ModelPackage

__all__ = ["evaluate", "resolve_config", "train"]


class _Keep(enum.Enum):
    KEEP = "keep"


#: A keyword left at this keeps the configuration's value (``weights=None`` means random init).
_KEEP = _Keep.KEEP


def train(
    config: RunConfig | str | Path | None = None,
    *,
    out: str | Path = "runs/train",
    data: str | Path | None = None,
    backbone: str | None = None,
    weights: str | Path | _Keep | None = _KEEP,
    input_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ModelPackage:
    """Train a model and return its loaded package.

    The run is ``config`` (a :class:`~food_recognition.config.RunConfig`, a YAML
    file, or the defaults) with the keywords given applied on top; any other
    field is set through ``overrides`` by its dotted path, as on the command
    line. Running it again with the same ``out`` resumes from the last checkpoint.

    >>> import food_recognition as fr
    >>> package = fr.train(  # doctest: +SKIP
    ...     data="data/food-101", backbone="resnet50", weights="imagenet", epochs=10,
    ...     out="runs/food", overrides={"augment.policy": "randaugment"},
    ... )

    :param config: the run; ``None`` starts from the defaults.
    :param out: the output folder (``package/``, checkpoints, the MLflow store).
    :param data: ``data.path``: the data-set folder.
    :param backbone: ``model.backbone``: a registered backbone name.
    :param weights: ``model.weights``: ``None`` (random init), ``"imagenet"``
        (needs a network, or Keras's cache), or a local weights file or package.
    :param input_size: ``model.input_size``: the square input side in pixels.
    :param epochs: ``training.epochs``.
    :param batch_size: ``data.batch_size``.
    :param learning_rate: ``training.learning_rate``.
    :param overrides: more fields by dotted path, e.g.
        ``{"augment.options.horizontal_flip": False}``.
    :returns: the trained :class:`~food_recognition.package.ModelPackage`
        (its folder is ``out/package``).
    :raises food_recognition.config.ConfigError: a field or value the
        configuration refuses, or a config the data or model refuses.
    :raises food_recognition.datasets.DatasetLayoutError: ``data`` holds no data set
        (checked before TensorFlow is imported).
    """
    run = resolve_config(
        config,
        data=data,
        backbone=backbone,
        weights=weights,
        input_size=input_size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        overrides=overrides,
    )
    from food_recognition.datasets.layouts import check_data_path
    from food_recognition.package import load_package
    from food_recognition.training import train as train_run

    check_data_path(run)
    return load_package(train_run(run, out))


def resolve_config(
    config: RunConfig | str | Path | None = None,
    *,
    data: str | Path | None = None,
    backbone: str | None = None,
    weights: str | Path | _Keep | None = _KEEP,
    input_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run :func:`train` starts: ``config`` with the keywords applied.

    >>> resolve_config(backbone="mobilenet_v3_small", epochs=3).training.epochs
    3

    :param config: a RunConfig, a YAML file, or ``None`` for the defaults.
    :returns: the :class:`~food_recognition.config.RunConfig`.
    :raises food_recognition.config.ConfigError: a field or value the configuration refuses.
    """
    if config is None:
        run = RunConfig()
    elif isinstance(config, RunConfig):
        run = config
    else:
        run = load_yaml(RunConfig, config)
    fields: dict[str, Any] = {
        "data.path": None if data is None else str(data),
        "model.backbone": backbone,
        "model.input_size": input_size,
        "training.epochs": epochs,
        "data.batch_size": batch_size,
        "training.learning_rate": learning_rate,
    }
    chosen = {path: value for path, value in fields.items() if value is not None}
    if weights is not _KEEP:
        chosen["model.weights"] = None if weights is None else str(weights)
    chosen.update(overrides or {})
    return with_overrides(run, chosen) if chosen else run


def evaluate(
    package: ModelPackage | str | Path,
    data: str | Path | Dataset | Split,
    *,
    split: str = "test",
    tta: TTAConfig | str | bool | None = None,
    batch_size: int = 32,
    save: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Score a package on a data set's split, with test-time augmentation if asked.

    >>> report = fr.evaluate("runs/food/package", "data/food-101", tta=True)  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    >>> report.final.accuracy  # doctest: +SKIP

    :param package: a loaded package or its folder.
    :param data: a data-set folder (read with the package's own data settings,
        so the splits are the ones it trained on), a loaded
        :class:`~food_recognition.datasets.Dataset`, or a
        :class:`~food_recognition.datasets.Split`.
    :param split: which split of a data set: ``test``, ``validation`` or ``train``.
    :param tta: ``None`` or ``False``: single view only; ``True``: the package's
        own policy (``config.tta``); a policy name or a
        :class:`~food_recognition.config.TTAConfig`: that policy, besides single view.
    :param batch_size: images per forward pass.
    :param save: write ``evaluation.json`` and the plots into the package folder.
    :param progress: called with ``(images done, images in all)`` after each batch.
    :returns: the :class:`~food_recognition.evaluation.EvaluationReport`
        (``print(report)`` shows its summary).
    :raises food_recognition.evaluation.EvaluationError: an empty split, or
        classes the package does not know.
    :raises food_recognition.package.PackageError: ``package`` is not a model package.
    """
    from food_recognition.datasets.splits import Split
    from food_recognition.evaluation import evaluate as evaluate_split
    from food_recognition.package import ModelPackage, load_package, resolve_tta

    loaded = package if isinstance(package, ModelPackage) else load_package(package)
    if isinstance(data, Split):
        chosen = data
    else:
        if isinstance(data, (str, Path)):
            from food_recognition.datasets import load_dataset_from_config

            data = load_dataset_from_config(attrs.evolve(loaded.config.data, path=str(data)))
        if split not in ("test", "validation", "train"):
            raise ValueError(f"split={split!r}: choose 'test', 'validation' or 'train'")
        chosen = getattr(data, split)
    return evaluate_split(
        loaded,
        chosen,
        batch_size=batch_size,
        tta=resolve_tta(tta, loaded.config.tta),
        save=save,
        split_name=split,
        progress=progress,
    )
