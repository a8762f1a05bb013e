"""The plugin manager: built-ins through the hooks, duplicates, lookups, typos."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from food_recognition.plugins import (
    BackboneSpec,
    DuplicateNameError,
    PluginManager,
    PolicySpec,
    Register,
    TargetSpec,
    UnknownNameError,
    hookimpl,
)
from food_recognition.plugins.manager import BUILTIN_PLUGINS


def _builder(input_shape: Any, weights: Any = None) -> None:
    return None


class BackbonePlugin:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        for name in self.names:
            register.add(
                BackboneSpec(name=name, build=_builder, preprocessing="tf", default_input_size=64)
            )


def test_builtins_are_registered_as_ordinary_plugins() -> None:
    manager = PluginManager(load_entry_points=False)
    names = [name for name, _ in manager.plugins()]
    assert names == list(BUILTIN_PLUGINS)
    assert all(origin == "built-in" for _, origin in manager.plugins())


def test_a_plugin_object_adds_a_backbone_and_is_credited() -> None:
    manager = PluginManager(load_entry_points=False, extra_plugins=(BackbonePlugin("my_net"),))
    assert "my_net" in manager.backbones
    assert manager.backbones.get("my_net").default_input_size == 64
    owner = manager.backbones.owner("my_net")
    assert manager.contributions()[owner]["backbone"] == ["my_net"]


def test_same_name_from_two_plugins_names_both() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(BackbonePlugin("twin"), name="first_plugin")
    manager.register(BackbonePlugin("twin"), name="second_plugin")
    with pytest.raises(DuplicateNameError) as info:
        _ = manager.backbones
    message = str(info.value)
    assert "'twin'" in message and "first_plugin" in message and "second_plugin" in message


def test_unknown_name_lists_what_exists_and_suggests() -> None:
    manager = PluginManager(load_entry_points=False, extra_plugins=(BackbonePlugin("my_net"),))
    with pytest.raises(UnknownNameError) as info:
        manager.backbones.get("my_nett")
    assert "Did you mean 'my_net'" in str(info.value)
    assert "Available:" in str(info.value)


def test_pattern_discovery() -> None:
    manager = PluginManager(
        load_entry_points=False, extra_plugins=(BackbonePlugin("net_a", "net_b", "other"),)
    )
    assert manager.backbones.names("net_*") == ["net_a", "net_b"]


def test_misspelt_hook_fails_loudly() -> None:
    plugin = SimpleNamespace()

    @hookimpl
    def food_recognition_register_backbone(register: Any) -> None:  # no trailing "s"
        """Misspelt on purpose."""

    plugin.food_recognition_register_backbone = food_recognition_register_backbone
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook"):
        PluginManager(load_entry_points=False, extra_plugins=(plugin,))


def test_register_checks_types() -> None:
    register: Register[TargetSpec] = Register("compute target", TargetSpec)
    with pytest.raises(TypeError, match="expected a TargetSpec"):
        register.add(PolicySpec(name="x", factory=dict))  # type: ignore[arg-type]


def test_spec_names_are_validated() -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        PolicySpec(name="Bad Name", factory=dict)
    with pytest.raises(ValueError, match="preprocessing"):
        BackboneSpec(name="x", build=_builder, preprocessing="imagenet", default_input_size=64)
