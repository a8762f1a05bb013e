"""Plugins: hook specifications, the registers hooks fill, and the manager.

A plugin is any module or object with functions marked by :data:`hookimpl`.
Built-in backbones, policies and compute targets are registered through the
same hooks as third-party ones. An installed distribution becomes a plugin by
declaring an entry point in the group ``food_recognition``::

    [project.entry-points.food_recognition]
    my_backbones = "my_package.plugin"
"""

from food_recognition.plugins.manager import (
    ENTRY_POINT_GROUP,
    BrokenPlugin,
    PluginManager,
    get_plugin_manager,
)
from food_recognition.plugins.registry import (
    BackboneSpec,
    DuplicateNameError,
    PluginContractError,
    PolicySpec,
    Register,
    TargetSpec,
    UnknownNameError,
)
from food_recognition.plugins.spec import hookimpl, hookspec

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackboneSpec",
    "BrokenPlugin",
    "DuplicateNameError",
    "PluginContractError",
    "PluginManager",
    "PolicySpec",
    "Register",
    "TargetSpec",
    "UnknownNameError",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]
