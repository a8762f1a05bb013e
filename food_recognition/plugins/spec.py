"""Hook specifications: the whole contract a plugin author implements.

Each hook receives a :class:`~food_recognition.plugins.registry.Register` to
add to, rather than returning loose lists, so names and types are checked in
one place and a name taken twice is reported with both plugins named.

A plugin implements any subset of these hooks::

    from food_recognition.plugins import BackboneSpec, hookimpl

    @hookimpl
    def food_recognition_register_backbones(register):
        register.add(BackboneSpec(name="tiny_cnn", build=build_tiny_cnn,
                                  preprocessing="scale_0_1", default_input_size=64))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from food_recognition.plugins.registry import BackboneSpec, PolicySpec, Register, TargetSpec

PROJECT_NAME = "food_recognition"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function in this module as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's function as the implementation of a hook."""


@hookspec
def food_recognition_register_backbones(register: Register[BackboneSpec]) -> None:
    """Add image backbones (feature extractors without a classification top).

    Each :class:`~food_recognition.plugins.registry.BackboneSpec` names the
    builder, the preprocessing the backbone expects, its default input size
    and what "freeze the first N layers" counts for it.

    :param register: call ``register.add(spec)`` once per backbone.
    """


@hookspec
def food_recognition_register_compute_targets(register: Register[TargetSpec]) -> None:
    """Add compute targets a training job can run on (``local``, ``azureml``, ...).

    A :class:`~food_recognition.plugins.registry.TargetSpec` carries a factory
    returning an object that can submit a job spec, follow its status and
    fetch its outputs (see :class:`food_recognition.compute.ComputeTarget`).

    :param register: call ``register.add(spec)`` once per target.
    """


@hookspec
def food_recognition_register_augment_policies(register: Register[PolicySpec]) -> None:
    """Add training-time augmentation policies, looked up by name.

    :param register: call ``register.add(spec)`` once per policy; the spec's
        factory takes the policy's options as keyword arguments.
    """


@hookspec
def food_recognition_register_tta_policies(register: Register[PolicySpec]) -> None:
    """Add test-time augmentation policies, looked up by name.

    :param register: call ``register.add(spec)`` once per policy; the spec's
        factory takes the policy's options as keyword arguments.
    """


@hookspec
def food_recognition_load_layers() -> None:
    """Register with Keras the custom layers this plugin's models contain.

    Called before a model package whose metadata names this plugin's
    distribution is loaded (serving, evaluation, ``load_package``), so a
    plugin keeps Keras out of its import and still loads its layers by name.
    Import the module that defines them (with
    ``keras.saving.register_keras_serializable``) here.
    """


__all__ = [
    "PROJECT_NAME",
    "food_recognition_load_layers",
    "food_recognition_register_augment_policies",
    "food_recognition_register_backbones",
    "food_recognition_register_compute_targets",
    "food_recognition_register_tta_policies",
    "hookimpl",
    "hookspec",
]
