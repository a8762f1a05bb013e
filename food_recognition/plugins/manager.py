"""The plugin manager: built-in plugins, installed plugins, and the registries.

Built-in contributions are ordinary plugins, registered through the same hooks
a third party implements; installed distributions are found by their entry
points in the group :data:`ENTRY_POINT_GROUP`.

A plugin fails alone: one whose entry point does not import, that implements a
hook that does not exist (a misspelt name), whose hook raises (a spec that
fails validation) or registers a name another plugin has, is recorded as a
:class:`BrokenPlugin`, logged as one warning line naming it and its
distribution, and skipped; everything else keeps working.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import re
import types
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy

from food_recognition.config import did_you_mean
from food_recognition.errors import one_line
from food_recognition.plugins import spec
from food_recognition.plugins.registry import (
    BackboneSpec,
    Distribution,
    PolicySpec,
    Register,
    TargetSpec,
)

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "PluginManager",
    "get_plugin_manager",
]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "food_recognition"
"""Entry-point group an installed distribution declares to become a plugin."""

#: Modules of this package that are plugins. Each must stay cheap to import:
#: heavy libraries (TensorFlow, the Azure SDK) are imported when a builder or
#: factory is called, never at registration.
BUILTIN_PLUGINS = (
    "food_recognition.models.backbones",
    "food_recognition.augment.builtins",
    "food_recognition.tta.builtins",
    "food_recognition.compute.local",
    "food_recognition.azure.targets",
)

_HOOKS = tuple(name for name in spec.__all__ if name.startswith("food_recognition_"))

_REGISTERS: dict[str, tuple[str, type[Any], str]] = {
    # attribute -> (kind, spec type, hook)
    "backbones": ("backbone", BackboneSpec, "food_recognition_register_backbones"),
    "compute_targets": ("compute target", TargetSpec, "food_recognition_register_compute_targets"),
    "augment_policies": (
        "augmentation policy",
        PolicySpec,
        "food_recognition_register_augment_policies",
    ),
    "tta_policies": ("TTA policy", PolicySpec, "food_recognition_register_tta_policies"),
}


@attrs.define(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped, and why.

    :param name: the plugin's name (an entry point's name).
    :param origin: ``"<distribution> <version>"``, or ``"registered in code"``.
    :param reason: what is wrong, one line.
    """

    name: str
    origin: str
    reason: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.origin}) is broken and skipped: {self.reason}"


class PluginManager:
    """Owns the :class:`pluggy.PluginManager` and the registries it fills.

    :param load_entry_points: also load installed plugins (the default);
        ``False`` gives only the built-ins, for tests.
    :param extra_plugins: more plugin objects to register, e.g. a module
        written in a notebook.

    The registries are filled on first access, so registering a plugin after
    construction (:meth:`register`) is seen as long as nothing was looked up.
    Hooks are called through pluggy (one plugin at a time, so what each adds
    is credited to it), so hook wrappers and pluggy's tracing run.
    """

    def __init__(
        self, *, load_entry_points: bool = True, extra_plugins: tuple[object, ...] = ()
    ) -> None:
        self._pm = pluggy.PluginManager(spec.PROJECT_NAME)
        self._pm.add_hookspecs(spec)
        self._distributions: dict[str, Distribution] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        for module_name in BUILTIN_PLUGINS:
            self._pm.register(importlib.import_module(module_name), name=module_name)
        if load_entry_points:
            self._load_entry_points()
        for plugin in extra_plugins:
            self.register(plugin)

    @property
    def pluggy_manager(self) -> pluggy.PluginManager:
        """The underlying :class:`pluggy.PluginManager` (for tracing and hook wrappers)."""
        return self._pm

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register one more plugin object (a module or an instance with hook functions).

        A plugin with an unknown (misspelt) hook is recorded in :attr:`broken`
        instead, with a did-you-mean.
        """
        self._add(plugin, name, None)
        # Collected registries are stale now.
        for attribute in _REGISTERS:
            self.__dict__.pop(attribute, None)

    @functools.cached_property
    def backbones(self) -> Register[BackboneSpec]:
        """Every registered backbone, by name."""
        return self._collect("backbones")

    @functools.cached_property
    def compute_targets(self) -> Register[TargetSpec]:
        """Every registered compute target, by name."""
        return self._collect("compute_targets")

    @functools.cached_property
    def augment_policies(self) -> Register[PolicySpec]:
        """Every registered training-time augmentation policy, by name."""
        return self._collect("augment_policies")

    @functools.cached_property
    def tta_policies(self) -> Register[PolicySpec]:
        """Every registered test-time augmentation policy, by name."""
        return self._collect("tta_policies")

    @property
    def broken(self) -> list[BrokenPlugin]:
        """Every plugin that was skipped, with its reason (all registers collected first)."""
        self._all_registers()
        return list(self._broken.values())

    def distribution(self, plugin_name: str) -> Distribution | None:
        """``(name, version)`` of the distribution a plugin came from; ``None`` for ours."""
        return self._distributions.get(plugin_name)

    def load_layers(self, distributions: Iterable[str]) -> None:
        """Call ``food_recognition_load_layers`` of the plugins of these distributions.

        :param distributions: distribution names (a model package's ``plugins.json``).
        """
        wanted = {_normalise(name) for name in distributions}
        names = {n for n, dist in self._distributions.items() if _normalise(dist[0]) in wanted}
        others = [p for n, p in self._pm.list_name_plugin() if n not in names]
        self._pm.subset_hook_caller("food_recognition_load_layers", remove_plugins=others)()

    def plugins(self) -> list[tuple[str, str]]:
        """``(plugin name, where it comes from)`` for every plugin, broken ones included.

        "where" is the distribution and version for an installed plugin,
        ``"built-in"`` for ours.
        """
        result = [(name, self._origin(name)) for name, _ in self._pm.list_name_plugin()]
        seen = {name for name, _ in result}
        result += [(b.name, b.origin) for b in self._broken.values() if b.name not in seen]
        return result

    def contributions(self) -> dict[str, dict[str, list[str]]]:
        """Plugin name -> kind -> the names that plugin registered."""
        result: dict[str, dict[str, list[str]]] = {name: {} for name, _ in self.plugins()}
        for register in self._all_registers():
            for plugin_name, names in register.by_plugin().items():
                result.setdefault(plugin_name, {})[register.kind] = names
        return result

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self._pm.get_plugin(entry_point.name) or self._pm.is_blocked(entry_point.name):
                continue
            dist = entry_point.dist
            if dist is not None:
                self._distributions[entry_point.name] = (dist.metadata["Name"], dist.version)
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken plugin must not stop the others
                self._mark_broken(
                    entry_point.name, f"{entry_point.value!r} does not import: {one_line(error)}"
                )
                continue
            self._add(plugin, entry_point.name, dist)

    def _add(self, plugin: object, name: str | None, dist: object) -> None:
        if _unhashable(plugin):
            plugin = _hashable_copy(plugin)
        plugin_name = name or self._pm.get_canonical_name(plugin)
        for attribute in dir(plugin):
            if attribute.startswith("_") or attribute in _HOOKS:
                continue
            if self._pm.parse_hookimpl_opts(plugin, attribute) is not None:
                self._mark_broken(
                    plugin_name,
                    f"it implements {attribute!r}, which is not a hook"
                    f"{did_you_mean(attribute, _HOOKS)}",
                )
                return
        try:
            self._pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as error:
            self._mark_broken(plugin_name, one_line(error))

    def _mark_broken(self, plugin_name: str, reason: str) -> None:
        if plugin_name in self._broken:
            return
        broken = BrokenPlugin(plugin_name, self._origin(plugin_name), reason)
        self._broken[plugin_name] = broken
        _log.warning("%s", broken)

    def _origin(self, plugin_name: str) -> str:
        dist = self._distributions.get(plugin_name)
        if dist is not None:
            return f"{dist[0]} {dist[1]}"
        return "built-in" if plugin_name in BUILTIN_PLUGINS else "registered in code"

    # -- collecting ------------------------------------------------------------------------

    def _all_registers(self) -> tuple[Register[Any], ...]:
        return (self.backbones, self.compute_targets, self.augment_policies, self.tta_policies)

    def _collect(self, attribute: str) -> Register[Any]:
        kind, spec_type, hook_name = _REGISTERS[attribute]
        register: Register[Any] = Register(kind, spec_type, distributions=self._distributions)
        hook = getattr(self._pm.hook, hook_name)
        plain = [i for i in hook.get_hookimpls() if not (i.hookwrapper or i.wrapper)]
        # Through pluggy (wrappers and tracing run), one plugin at a time, in
        # the order they were registered: the register credits each name to
        # its plugin, and a plugin that raises is taken back alone.
        for impl in plain:
            if impl.plugin_name in self._broken:
                continue
            others = [i.plugin for i in plain if i is not impl]
            caller = self._pm.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                register.collect(impl.plugin_name, _hook_call(caller, register))
            except Exception as error:  # a broken plugin must not stop the others
                self._mark_broken(impl.plugin_name, f"its {kind} hook: {one_line(error)}")
        return register


def _hashable_copy(plugin: object) -> types.ModuleType:
    """A module holding the attributes of a plugin object that cannot be hashed
    (a ``SimpleNamespace``): pluggy calls one plugin at a time through a set of the others."""
    copy = types.ModuleType(f"{type(plugin).__name__}_{id(plugin)}")
    for name in dir(plugin):
        if not name.startswith("__"):
            setattr(copy, name, getattr(plugin, name))
    return copy


def _unhashable(plugin: object) -> bool:
    try:
        hash(plugin)
    except TypeError:
        return True
    return False


def _normalise(name: str) -> str:
    # PEP 503: "Food_Recognition.Tiny" and "food-recognition-tiny" are one project.
    return re.sub(r"[-_.]+", "-", name).lower()


def _hook_call(caller: Any, register: Register[Any]) -> Callable[[], object]:
    return lambda: caller(register=register)


@functools.cache
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built-ins and installed plugins loaded.

    Library functions that look something up by name use this one.
    """
    return PluginManager()
