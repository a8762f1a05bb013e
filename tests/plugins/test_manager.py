"""The plugin manager: built-ins through the hooks, duplicates, lookups, typos."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from food_recognition.plugins import (
    BackboneSpec,
    DuplicateNameError,
    PluginContractError,
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


def test_same_name_from_two_plugins_names_both_and_breaks_only_the_second() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(BackbonePlugin("twin"), name="first_plugin")
    manager.register(BackbonePlugin("twin", "extra"), name="second_plugin")
    with pytest.raises(DuplicateNameError) as info:
        manager.backbones.get("twin")
    message = str(info.value)
    assert "'twin'" in message and "first_plugin" in message and "second_plugin" in message
    assert "\n" not in message
    # The clash breaks the second plugin alone: its other names are taken back,
    # every other backbone still resolves.
    assert [b.name for b in manager.broken] == ["second_plugin"]
    assert "extra" not in manager.backbones
    assert manager.backbones.get("resnet50").name == "resnet50"


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


def test_misspelt_hook_breaks_that_plugin_alone_with_a_did_you_mean() -> None:
    plugin = SimpleNamespace()

    @hookimpl
    def food_recognition_register_backbone(register: Any) -> None:  # no trailing "s"
        """Misspelt on purpose."""

    plugin.food_recognition_register_backbone = food_recognition_register_backbone
    manager = PluginManager(load_entry_points=False, extra_plugins=(plugin,))
    (broken,) = manager.broken
    assert "food_recognition_register_backbone'" in broken.reason
    assert "did you mean 'food_recognition_register_backbones'" in broken.reason
    assert "\n" not in str(broken)
    assert "resnet50" in manager.backbones  # everything else works


class _BadSpecPlugin:
    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(
            BackboneSpec(
                name="bad", build=_builder, preprocessing="imagenet", default_input_size=64
            )
        )


def test_a_spec_failing_validation_is_one_line_naming_the_field_and_allowed_values() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_BadSpecPlugin(), name="bad_spec")
    assert "resnet50" in manager.backbones
    (broken,) = manager.broken
    assert broken.name == "bad_spec"
    assert "BackboneSpec.preprocessing='imagenet' is not allowed; use one of caffe" in str(broken)
    assert "Attribute(" not in str(broken) and "\n" not in str(broken)


class _WrongTypePlugin:
    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(BackboneSpec("fine", _builder, "tf", 64))
        register.add(PolicySpec(name="x", factory=dict))  # type: ignore[arg-type]


def test_registering_the_wrong_type_takes_back_the_plugins_names() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_WrongTypePlugin(), name="wrong_type")
    assert "fine" not in manager.backbones
    (broken,) = manager.broken
    assert "expected a BackboneSpec" in broken.reason and broken.name == "wrong_type"


class _NonePolicyPlugin:
    @hookimpl
    def food_recognition_register_augment_policies(self, register: Register[PolicySpec]) -> None:
        register.add(PolicySpec(name="nothing", factory=lambda strength=1: None))

    @hookimpl
    def food_recognition_register_tta_policies(self, register: Register[PolicySpec]) -> None:
        register.add(PolicySpec(name="nothing", factory=lambda: None))


def test_a_factory_returning_the_wrong_type_names_the_plugin() -> None:
    from food_recognition.augment import get_policy
    from food_recognition.config import AugmentConfig, TTAConfig
    from food_recognition.tta.policies import get_tta_policy

    manager = PluginManager(load_entry_points=False)
    manager.register(_NonePolicyPlugin(), name="none_policies")
    with pytest.raises(PluginContractError, match=r"plugin 'none_policies'.*not an AugmentPolicy"):
        get_policy(AugmentConfig(policy="nothing"), manager)
    with pytest.raises(PluginContractError, match=r"plugin 'none_policies'.*not a TTAPolicy"):
        get_tta_policy(TTAConfig(policy="nothing"), policies=manager.tta_policies)


def test_hooks_run_through_pluggy_so_wrappers_and_tracing_see_them() -> None:
    seen: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def food_recognition_register_backbones(self, register: Any) -> Any:
            seen.append("before")
            result = yield
            seen.append("after")
            return result

    manager = PluginManager(load_entry_points=False, extra_plugins=(Wrapper(),))
    traced: list[str] = []
    manager.pluggy_manager.trace.root.setwriter(traced.append)
    undo = manager.pluggy_manager.enable_tracing()
    try:
        assert "resnet50" in manager.backbones
    finally:
        undo()
    assert seen and seen.count("before") == seen.count("after")
    assert any("food_recognition_register_backbones" in line for line in traced)


def test_create_checks_options_against_the_factory_with_a_did_you_mean() -> None:
    register: Register[PolicySpec] = Register("TTA policy", PolicySpec)
    register.add(PolicySpec("policy", lambda crop=0.5, seed=0: (crop, seed)))
    assert register.create("policy", {}, option_error=ValueError, defaults={"seed": 7}) == (0.5, 7)
    with pytest.raises(
        ValueError,
        match=r"no option 'crp' \(did you mean 'crop'\?\); "
        r"allowed options: crop$",
    ):
        register.create("policy", {"crp": 1}, option_error=ValueError, defaults={"seed": 7})
    with pytest.raises(UnknownNameError, match="Did you mean 'policy'"):
        register.create("polcy", {}, option_error=ValueError)


def test_register_checks_types() -> None:
    register: Register[TargetSpec] = Register("compute target", TargetSpec)
    with pytest.raises(PluginContractError, match="expected a TargetSpec"):
        register.add(PolicySpec(name="x", factory=dict))  # type: ignore[arg-type]


def test_spec_names_are_validated() -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        PolicySpec(name="Bad Name", factory=dict)
    with pytest.raises(ValueError, match="preprocessing"):
        BackboneSpec(name="x", build=_builder, preprocessing="imagenet", default_input_size=64)


class _NoneBackbonePlugin:
    @hookimpl
    def food_recognition_register_backbones(self, register: Register[BackboneSpec]) -> None:
        register.add(BackboneSpec("hollow", _builder, "tf", 64))


def test_a_builder_returning_none_is_one_line_naming_the_plugin() -> None:
    from food_recognition.config import ModelConfig
    from food_recognition.models import build

    manager = PluginManager(load_entry_points=False)
    manager.register(_NoneBackbonePlugin(), name="hollow_plugin")
    with pytest.raises(PluginContractError) as info:
        build(ModelConfig(backbone="hollow", weights=None), 3, manager=manager)
    assert "plugin 'hollow_plugin'" in str(info.value)
    assert "built NoneType, not a keras.Model" in str(info.value)
