"""The plugin manager: built-in plugins, installed plugins, and the registries.

Built-in contributions are ordinary plugins, registered through the same hooks
a third party implements; installed distributions are found by their entry
points in the group :data:`ENTRY_POINT_GROUP`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import pluggy

from food_recognition.plugins import spec
from food_recognition.plugins.registry import BackboneSpec, PolicySpec, Register, TargetSpec

ENTRY_POINT_GROUP = "food_recognition"
"""Entry-point group an installed distribution declares to become a plugin."""

#: Modules of this package that are plugins. Each must stay cheap to import:
#: heavy libraries (TensorFlow, the Azure SDK) are imported when a builder or
#: factory is called, never at registration.
BUILTIN_PLUGINS = (
    "food_recognition.models.backbones",
    "food_recognition.augment.policies",
    "food_recognition.tta.policies",
    "food_recognition.compute.local",
    "food_recognition.azure.targets",
)


class PluginManager:
    """Owns the :class:`pluggy.PluginManager` and the registries it fills.

    :param load_entry_points: also load installed plugins (the default);
        ``False`` gives only the built-ins, for tests.
    :param extra_plugins: more plugin objects to register, e.g. a module
        written in a notebook.

    The registries are filled on first access, so registering a plugin after
    construction (:meth:`register`) is seen as long as nothing was looked up.
    """

    def __init__(
        self, *, load_entry_points: bool = True, extra_plugins: tuple[object, ...] = ()
    ) -> None:
        self._pm = pluggy.PluginManager(spec.PROJECT_NAME)
        self._pm.add_hookspecs(spec)
        for module_name in BUILTIN_PLUGINS:
            self._pm.register(importlib.import_module(module_name), name=module_name)
        if load_entry_points:
            self._pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for plugin in extra_plugins:
            self._pm.register(plugin)
        # A misspelt hook implementation fails here instead of being ignored.
        self._pm.check_pending()

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register one more plugin object (a module or an instance with hook functions)."""
        self._pm.register(plugin, name=name)
        self._pm.check_pending()
        # Collected registries are stale now.
        for attribute in ("backbones", "compute_targets", "augment_policies", "tta_policies"):
            self.__dict__.pop(attribute, None)

    @functools.cached_property
    def backbones(self) -> Register[BackboneSpec]:
        """Every registered backbone, by name."""
        return self._collect(
            Register("backbone", BackboneSpec), "food_recognition_register_backbones"
        )

    @functools.cached_property
    def compute_targets(self) -> Register[TargetSpec]:
        """Every registered compute target, by name."""
        return self._collect(
            Register("compute target", TargetSpec), "food_recognition_register_compute_targets"
        )

    @functools.cached_property
    def augment_policies(self) -> Register[PolicySpec]:
        """Every registered training-time augmentation policy, by name."""
        return self._collect(
            Register("augmentation policy", PolicySpec),
            "food_recognition_register_augment_policies",
        )

    @functools.cached_property
    def tta_policies(self) -> Register[PolicySpec]:
        """Every registered test-time augmentation policy, by name."""
        return self._collect(
            Register("TTA policy", PolicySpec), "food_recognition_register_tta_policies"
        )

    def plugins(self) -> list[tuple[str, str]]:
        """``(plugin name, where it comes from)`` for every registered plugin.

        "where" is the distribution and version for an installed plugin,
        ``"built-in"`` for ours.
        """
        dists = {id(plugin): dist for plugin, dist in self._pm.list_plugin_distinfo()}
        result = []
        for name, plugin in self._pm.list_name_plugin():
            dist = dists.get(id(plugin))
            if dist is not None:
                origin = f"{dist.project_name} {dist.version}"
            elif name in BUILTIN_PLUGINS:
                origin = "built-in"
            else:
                origin = "registered in code"
            result.append((name, origin))
        return result

    def contributions(self) -> dict[str, dict[str, list[str]]]:
        """Plugin name -> kind -> the names that plugin registered."""
        result: dict[str, dict[str, list[str]]] = {name: {} for name, _ in self.plugins()}
        registers: tuple[Register[Any], ...] = (
            self.backbones,
            self.compute_targets,
            self.augment_policies,
            self.tta_policies,
        )
        for register in registers:
            for plugin_name, names in register.by_plugin().items():
                result.setdefault(plugin_name, {})[register.kind] = names
        return result

    def _collect(self, register: Register[Any], hook_name: str) -> Register[Any]:
        hook = getattr(self._pm.hook, hook_name)
        # One call per implementation (pluggy calls them last-registered
        # first) so the register knows which plugin added what.
        for impl in reversed(hook.get_hookimpls()):
            register._collecting_for(impl.plugin_name)
            impl.function(register=register)
        register._collecting_for("<direct>")
        return register


@functools.cache
def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built-ins and installed plugins loaded.

    Library functions that look something up by name use this one.
    """
    return PluginManager()
