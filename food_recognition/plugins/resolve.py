"""Resolve first: a run's every registry name and option checked before anything starts.

:func:`resolve` turns a :class:`~food_recognition.config.RunConfig` and the
plugin manager into a :class:`ResolvedRun`: the backbone looked up, the
augmentation and TTA policies built (they are small values; building them
checks every option against the policy's signature and its values), and the
set of installed distributions whose plugins supplied those names. ``train``,
``azure submit``, ``evaluate``, ``serve`` and ``azure deploy`` call it before
they read any data, start an MLflow run or upload anything, so a typo is one
line and exit code 2 at once, not a traceback on the cluster:

>>> from food_recognition.config import RunConfig, with_overrides
>>> resolve(RunConfig()).distributions
()
>>> typo = {"augment.policy": "reference", "augment.options.rotate": 10}
>>> resolve(with_overrides(RunConfig(), typo))
Traceback (most recent call last):
...
food_recognition.augment.PolicyOptionError: augmentation policy 'reference' has no option ...

This module is not imported by :mod:`food_recognition.plugins` (the policy
packages it uses import the plugin manager themselves).
"""

from __future__ import annotations

from typing import Any

import attrs

from food_recognition.augment import PolicyOptionError
from food_recognition.augment.policies import AugmentPolicy
from food_recognition.config import RunConfig
from food_recognition.plugins.manager import PluginManager, get_plugin_manager
from food_recognition.plugins.registry import Register
from food_recognition.tta.policies import TTAOptionError, TTAPolicy

__all__ = ["PluginDistribution", "ResolvedRun", "required_distributions", "resolve"]


@attrs.define(frozen=True, order=True)
class PluginDistribution:
    """An installed distribution a run needs, because a plugin of it supplied a name.

    :param name: the distribution's name (``food-recognition-tiny-backbone``).
    :param version: its installed version.
    """

    name: str
    version: str

    @property
    def requirement(self) -> str:
        """``name==version``, what ``pip install`` takes."""
        return f"{self.name}=={self.version}"

    def to_dict(self) -> dict[str, str]:
        """``{"name": ..., "version": ...}`` for ``run.yaml`` and package metadata."""
        return {"name": self.name, "version": self.version}


@attrs.define(frozen=True)
class ResolvedRun:
    """A run whose names and options were all checked.

    :param config: the run's configuration, as given.
    :param augment: the training-time augmentation policy, built.
    :param tta: the TTA policy, built.
    :param distributions: the installed plugin distributions the run's names
        come from, sorted; empty when it uses only built-ins.
    """

    config: RunConfig
    augment: AugmentPolicy
    tta: TTAPolicy
    distributions: tuple[PluginDistribution, ...]


def resolve(config: RunConfig, manager: PluginManager | None = None) -> ResolvedRun:
    """Check every registry name and option of ``config``; find the plugins it needs.

    :param config: the run.
    :param manager: the plugin manager; the process-wide one by default.
    :returns: the resolved run.
    :raises food_recognition.plugins.UnknownNameError: an unknown backbone or
        policy (with a did-you-mean and the registered names).
    :raises food_recognition.plugins.DuplicateNameError: two plugins registered the name.
    :raises food_recognition.augment.PolicyOptionError: a bad augmentation option.
    :raises food_recognition.tta.TTAOptionError: a bad TTA option.
    :raises food_recognition.plugins.PluginContractError: a plugin's factory
        built the wrong type.
    """
    manager = manager or get_plugin_manager()
    manager.backbones.get(config.model.backbone)
    augment: AugmentPolicy = manager.augment_policies.create(
        config.augment.policy,
        config.augment.options,
        option_error=PolicyOptionError,
        returns=AugmentPolicy,
    )
    tta: TTAPolicy = manager.tta_policies.create(
        config.tta.policy,
        config.tta.options,
        option_error=TTAOptionError,
        defaults={"seed": config.tta.seed},
        returns=TTAPolicy,
        hint=" (tta.options.NAME in a config)",
    )
    return ResolvedRun(config, augment, tta, required_distributions(config, manager))


def required_distributions(
    config: RunConfig, manager: PluginManager | None = None, *, known_only: bool = False
) -> tuple[PluginDistribution, ...]:
    """The installed plugin distributions whose names ``config`` uses (no policy is built).

    :param config: the run.
    :param manager: the plugin manager; the process-wide one by default.
    :param known_only: skip names no plugin registered instead of raising (a
        model put together by hand under a config that names another backbone).
    :returns: the distributions, sorted; empty when the run uses only built-ins.
    :raises food_recognition.plugins.UnknownNameError: a name no plugin registered.
    """
    manager = manager or get_plugin_manager()
    used: list[tuple[Register[Any], str]] = [
        (manager.backbones, config.model.backbone),
        (manager.augment_policies, config.augment.policy),
        (manager.tta_policies, config.tta.policy),
    ]
    found = {
        register.distribution(name) for register, name in used if not known_only or name in register
    }
    return tuple(sorted(PluginDistribution(*dist) for dist in found if dist is not None))
