"""Sweeps as plain data: a search space over config fields, sampling, early termination, limits.

A :class:`SweepSpec` is checked against the training configuration before
anything is submitted: every swept path must name a config field, every
value it can take must be one that field accepts, and the primary metric must
be one the training entry point logs
(:data:`~food_recognition.training.metric_names.LOGGED_METRICS`). A sweep
file (YAML) reads::

    primary_metric: val_accuracy        # goal defaults to the metric's (maximize)
    sampling: random                    # random | grid | bayesian
    search_space:
      model.input_size: {type: choice, values: [192, 224, 256]}
      training.learning_rate: {type: loguniform, min_value: 1.0e-4, max_value: 1.0e-2}
    early_termination: {policy: bandit, evaluation_interval: 2, slack_factor: 0.1}
    limits: {max_total_trials: 15, max_concurrent_trials: 4, timeout_minutes: 1440}

``loguniform`` and ``qloguniform`` take the bounds as values (``1e-4``), not
as their logarithms; :mod:`food_recognition.azure.jobs` converts them to
Azure ML's natural-log bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from food_recognition.config import (
    ConfigError,
    RunConfig,
    did_you_mean,
    field_paths,
    with_overrides,
)
from food_recognition.training.metric_names import GOALS, LOGGED_METRICS

__all__ = [
    "DISTRIBUTIONS",
    "POLICIES",
    "SAMPLINGS",
    "Distribution",
    "EarlyTermination",
    "SweepError",
    "SweepLimits",
    "SweepSpec",
    "load_sweep",
    "search_name",
]

#: Each distribution and the parameters it takes.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "choice": ("values",),
    "randint": ("upper",),
    "uniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "loguniform": ("min_value", "max_value"),
    "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}

#: Sampling algorithms and the distributions each accepts.
SAMPLINGS: dict[str, tuple[str, ...]] = {
    "random": tuple(DISTRIBUTIONS),
    "grid": ("choice",),
    "bayesian": ("choice", "uniform", "quniform"),
}

#: Early-termination policies and the parameters each takes.
POLICIES: dict[str, tuple[str, ...]] = {
    "bandit": ("evaluation_interval", "delay_evaluation", "slack_factor", "slack_amount"),
    "median_stopping": ("evaluation_interval", "delay_evaluation"),
    "truncation_selection": ("evaluation_interval", "delay_evaluation", "truncation_percentage"),
}

# Distributions whose samples are not whole numbers; an int field cannot take them.
_CONTINUOUS = ("uniform", "loguniform", "normal", "lognormal", "quniform", "qloguniform")


class SweepError(ConfigError):
    """A sweep is not allowed; the message names the problem and the fix."""


def search_name(path: str) -> str:
    """The search-space name of a config path (``model.input_size`` -> ``model__input_size``).

    Azure ML binds ``${{search_space.NAME}}`` by identifier, so dots become ``__``.
    """
    return path.replace(".", "__")


def _optional_tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


@attrs.define(frozen=True)
class Distribution:
    """What values one swept field takes.

    :param type: one of :data:`DISTRIBUTIONS`.
    :param values: ``choice``: the values.
    :param min_value: lower bound (``uniform``, ``loguniform`` and their ``q`` forms).
    :param max_value: upper bound.
    :param q: quantization step of the ``q`` forms.
    :param mu: mean of the ``normal`` forms (of the logarithm for ``lognormal``).
    :param sigma: standard deviation of the ``normal`` forms.
    :param upper: ``randint``: integers in ``[0, upper)``.
    """

    type: str
    values: tuple[Any, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    min_value: float | None = None
    max_value: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None
    upper: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.type not in DISTRIBUTIONS:
            hint = did_you_mean(self.type, DISTRIBUTIONS)
            raise SweepError(
                f"unknown distribution {self.type!r}{hint}; choose one of "
                f"{', '.join(DISTRIBUTIONS)}"
            )
        wanted = DISTRIBUTIONS[self.type]
        given = {n for n in ("values", "min_value", "max_value", "q", "mu", "sigma", "upper")}
        given = {n for n in given if getattr(self, n) is not None}
        if given != set(wanted):
            raise SweepError(
                f"{self.type} takes {', '.join(wanted)}; got {', '.join(sorted(given)) or 'none'}"
            )
        if self.type == "choice" and not self.values:
            raise SweepError("choice needs at least one value")
        if self.min_value is not None and self.max_value is not None:
            if self.min_value >= self.max_value:
                raise SweepError(
                    f"{self.type}: min_value {self.min_value} must be below max_value "
                    f"{self.max_value}"
                )
            if "log" in self.type and self.min_value <= 0:
                raise SweepError(
                    f"{self.type} bounds are values, not logarithms: min_value must be > 0, "
                    f"got {self.min_value}"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Distribution:
        """Build from a sweep file's mapping (``{type: choice, values: [...]}``).

        :raises SweepError: a missing type or an unknown key.
        """
        if not isinstance(data, Mapping) or "type" not in data:
            raise SweepError(f"a distribution is a mapping with a 'type'; got {data!r}")
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SweepError(
                f"distribution {data['type']!r}: unknown key {unknown[0]!r}; allowed: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**dict(data))

    def endpoints(self) -> list[Any]:
        """Values that bound what the distribution produces (for checking a config field)."""
        if self.values is not None:
            return list(self.values)
        if self.upper is not None:
            return [0, self.upper - 1]
        if self.min_value is not None and self.max_value is not None:
            return [self.min_value, self.max_value]
        return []


@attrs.define(frozen=True)
class EarlyTermination:
    """Stop trials that fall behind.

    :param policy: ``bandit``, ``median_stopping`` or ``truncation_selection``.
    :param evaluation_interval: check every N metric reports (epochs).
    :param delay_evaluation: skip the first N reports.
    :param slack_factor: bandit: stop a trial below ``best / (1 + slack_factor)``.
    :param slack_amount: bandit: or below ``best - slack_amount``.
    :param truncation_percentage: truncation: stop the worst N percent.
    """

    policy: str = attrs.field(validator=attrs.validators.in_(tuple(POLICIES)))
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None

    def __attrs_post_init__(self) -> None:
        allowed = POLICIES[self.policy]
        for name in ("slack_factor", "slack_amount", "truncation_percentage"):
            if getattr(self, name) is not None and name not in allowed:
                raise SweepError(f"{self.policy} does not take {name}")
        if self.policy == "bandit" and (self.slack_factor is None) == (self.slack_amount is None):
            raise SweepError("bandit needs exactly one of slack_factor or slack_amount")
        if self.policy == "truncation_selection" and self.truncation_percentage is None:
            raise SweepError("truncation_selection needs truncation_percentage (1-99)")
        if self.evaluation_interval < 1 or self.delay_evaluation < 0:
            raise SweepError("evaluation_interval must be >= 1 and delay_evaluation >= 0")


@attrs.define(frozen=True)
class SweepLimits:
    """How much a sweep may run.

    :param max_total_trials: trials in all.
    :param max_concurrent_trials: trials at once (at most the cluster's nodes / job nodes).
    :param timeout_minutes: the whole sweep's time limit; ``None``: none.
    :param trial_timeout_minutes: each trial's time limit; ``None``: none.
    """

    max_total_trials: int = 20
    max_concurrent_trials: int = 4
    timeout_minutes: int | None = None
    trial_timeout_minutes: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.max_total_trials < 1 or self.max_concurrent_trials < 1:
            raise SweepError("max_total_trials and max_concurrent_trials must be >= 1")


def _space(value: Any) -> dict[str, Distribution]:
    if not isinstance(value, Mapping):
        raise SweepError(f"search_space must map config paths to distributions; got {value!r}")
    return {
        str(k): v if isinstance(v, Distribution) else Distribution.from_dict(v)
        for k, v in value.items()
    }


def _termination(value: Any) -> EarlyTermination | None:
    if value is None or isinstance(value, EarlyTermination):
        return value
    if not isinstance(value, Mapping):
        raise SweepError(f"early_termination must be a mapping; got {value!r}")
    return EarlyTermination(**dict(value))


def _limits(value: Any) -> SweepLimits:
    if isinstance(value, SweepLimits):
        return value
    return SweepLimits(**dict(value or {}))


@attrs.define(frozen=True)
class SweepSpec:
    """A hyperparameter sweep over a training job's configuration.

    :param search_space: config path (``model.input_size``,
        ``augment.options.rotation``) -> :class:`Distribution`.
    :param primary_metric: the metric to optimise; one of
        :data:`~food_recognition.training.metric_names.LOGGED_METRICS`.
    :param goal: ``maximize`` or ``minimize``; ``None`` takes the metric's natural goal.
    :param sampling: one of :data:`SAMPLINGS`.
    :param early_termination: an :class:`EarlyTermination`, or ``None``.
    :param limits: :class:`SweepLimits`.
    :raises SweepError: on construction, for a metric the training never logs
        (the message lists those it does), an empty search space, or a
        distribution the sampling does not support.
    """

    search_space: Mapping[str, Distribution] = attrs.field(converter=_space)
    primary_metric: str = "val_accuracy"
    goal: str | None = None
    sampling: str = "random"
    early_termination: EarlyTermination | None = attrs.field(default=None, converter=_termination)
    limits: SweepLimits = attrs.field(factory=SweepLimits, converter=_limits)

    def __attrs_post_init__(self) -> None:
        if self.primary_metric not in LOGGED_METRICS:
            hint = did_you_mean(self.primary_metric, LOGGED_METRICS)
            raise SweepError(
                f"primary metric {self.primary_metric!r} is never logged by the training"
                f"{hint}; choose one of {', '.join(LOGGED_METRICS)}"
            )
        if self.goal not in (None, "maximize", "minimize"):
            raise SweepError(f"goal {self.goal!r} must be 'maximize' or 'minimize'")
        if self.sampling not in SAMPLINGS:
            raise SweepError(f"sampling {self.sampling!r} is not one of {', '.join(SAMPLINGS)}")
        if not self.search_space:
            raise SweepError("the search space is empty; sweep at least one config field")
        allowed = SAMPLINGS[self.sampling]
        for path, dist in self.search_space.items():
            if dist.type not in allowed:
                raise SweepError(
                    f"{self.sampling} sampling does not take {dist.type} ({path}); "
                    f"it takes {', '.join(allowed)}"
                )
        if self.sampling == "bayesian" and self.early_termination is not None:
            raise SweepError("bayesian sampling does not support early termination; drop it")

    @property
    def resolved_goal(self) -> str:
        """:attr:`goal`, or the primary metric's natural goal."""
        return self.goal or GOALS[self.primary_metric]

    def check(self, config: RunConfig) -> None:
        """Check every swept path and its values against ``config``.

        :raises SweepError: a path that names no field, a value the field
            refuses, or a fractional distribution on a whole-number field.
        """
        paths = field_paths(RunConfig)
        for path, dist in self.search_space.items():
            field = paths.get(path)
            parent = path.rsplit(".", 1)[0]
            if field is None and not (parent in paths and parent.endswith(".options")):
                hint = did_you_mean(path, paths)
                raise SweepError(f"search space: no configuration field {path!r}{hint}")
            if field is not None and _is_int(field) and dist.type in _CONTINUOUS:
                raise SweepError(
                    f"{path} takes whole numbers; {dist.type} gives fractions: "
                    "use choice or randint"
                )
            for value in dist.endpoints():
                try:
                    with_overrides(config, {path: value})
                except ConfigError as error:
                    raise SweepError(f"search space {path}: {error}") from error

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Build from a sweep file's mapping.

        :raises SweepError: an unknown key or a value that is not allowed.
        """
        if not isinstance(data, Mapping):
            raise SweepError(f"a sweep is a mapping; got {type(data).__name__}")
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise SweepError(
                f"sweep: unknown key {unknown[0]!r}{hint}; allowed: {', '.join(sorted(known))}"
            )
        if "search_space" not in data:
            raise SweepError("sweep: 'search_space' is missing")
        try:
            return cls(**dict(data))
        except TypeError as error:
            raise SweepError(f"sweep: {error}") from error


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a :class:`SweepSpec` from a YAML file (format in the module docstring).

    :raises SweepError: the file's content is not a valid sweep; the message names the file.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SweepError(f"{path}: not valid YAML: {error}") from error
    try:
        return SweepSpec.from_dict(data or {})
    except SweepError as error:
        raise SweepError(f"{path}: {error}") from error


def _is_int(field: attrs.Attribute[Any]) -> bool:
    text = str(field.type)
    return "int" in text and "float" not in text
