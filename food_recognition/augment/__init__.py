"""Training-time augmentation: policies looked up by name, MixUp and CutMix.

A policy is a frozen value built from an :class:`~food_recognition.config.AugmentConfig`:

>>> from food_recognition.config import AugmentConfig
>>> policy = get_policy(AugmentConfig(policy="reference", options={"rotation": 15}))
>>> policy.rotation, policy.zoom
(15, 0.2)
>>> sorted(list_policies())
['default', 'none', 'randaugment', 'reference']

Policies come from the plugin hook ``food_recognition_register_augment_policies``
(the built-ins, registered by :mod:`food_recognition.augment.builtins`, included), so a
plugin adds one the same way. The input pipeline
(:mod:`food_recognition.datasets.pipeline`) runs them; :func:`device_augmenter`
gives the Keras layers for ``AugmentConfig.on_device``.

Importing this package does not import TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from food_recognition.augment.mixing import mix_batch
from food_recognition.augment.policies import (
    AugmentPolicy,
    DefaultPolicy,
    NoAugmentPolicy,
    RandAugmentPolicy,
    ReferencePolicy,
    resize_uint8,
)
from food_recognition.config import ConfigError
from food_recognition.plugins.manager import PluginManager, get_plugin_manager

if TYPE_CHECKING:
    from food_recognition.config import AugmentConfig

__all__ = [
    "AugmentPolicy",
    "DefaultPolicy",
    "NoAugmentPolicy",
    "PolicyOptionError",
    "RandAugmentPolicy",
    "ReferencePolicy",
    "augment_images",
    "device_augmenter",
    "get_policy",
    "list_policies",
    "mix_batch",
    "resize_uint8",
]


class PolicyOptionError(ConfigError):
    """An augmentation option the policy does not have, or a value it refuses."""


def list_policies(manager: PluginManager | None = None) -> dict[str, str]:
    """Registered augmentation policies: name -> one-line description.

    :param manager: the plugin manager; the process-wide one by default.
    :returns: the policies, sorted by name.
    """
    register = _manager(manager).augment_policies
    return {spec.name: spec.description for spec in register}


def get_policy(config: AugmentConfig, manager: PluginManager | None = None) -> AugmentPolicy:
    """Build the policy ``config.policy`` names, with ``config.options`` as keyword options.

    :param config: the augmentation config.
    :param manager: the plugin manager; the process-wide one by default.
    :returns: the policy value.
    :raises food_recognition.plugins.registry.UnknownNameError: no policy has
        that name; the message lists the registered ones.
    :raises PolicyOptionError: an option the policy does not take (the message
        lists the allowed ones) or a value it refuses.
    :raises food_recognition.plugins.PluginContractError: a plugin's factory
        built something that is not an :class:`AugmentPolicy`.
    """
    policy: AugmentPolicy = _manager(manager).augment_policies.create(
        config.policy, config.options, option_error=PolicyOptionError, returns=AugmentPolicy
    )
    return policy


def device_augmenter(config: AugmentConfig, manager: PluginManager | None = None) -> Any:
    """Keras layers that run the policy on the accelerator (``config.on_device``).

    Pair it with :func:`food_recognition.datasets.pipeline.train_dataset`
    given the same config: the pipeline then runs only the CPU part (the
    crop). MixUp and CutMix stay in the pipeline, where the labels are.

    :param config: the augmentation config.
    :param manager: the plugin manager; the process-wide one by default.
    :returns: a ``keras.Sequential`` of float32 images in ``[0, 255]`` to the same
        (identity for a policy with nothing to do on the device).
    """
    import keras

    _, layers = get_policy(config, manager).device_split()
    return keras.Sequential(layers or [keras.layers.Identity()], name="augment")


def augment_images(
    policy: AugmentPolicy, images: Any, image_size: int, *, seed: tuple[int, int] = (0, 0)
) -> Any:
    """Apply ``policy`` to already decoded images, as the pipeline does to files.

    Useful to look at what a policy does, and in tests.

    :param policy: the policy.
    :param images: uint8 ``[B, H, W, 3]`` (one size for the batch).
    :param image_size: the square output size.
    :param seed: the seed of the stateless random ops.
    :returns: float32 ``[B, image_size, image_size, 3]`` in ``[0, 255]``.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.uint8)
    seeds = tf.random.experimental.stateless_split(tf.constant(seed, tf.int64), len(images) + 1)
    crops, params = [], []
    for index in range(len(images)):
        box, param = policy.sample(tf.shape(images[index])[:2], image_size, seeds[index])
        crop = images[index, box[0] : box[0] + box[2], box[1] : box[1] + box[3]]
        crops.append(policy.prepare(crop, image_size, param))
        params.append(param)
    transform = policy.batch_transform()
    return transform(tf.stack(crops), tf.stack(params), seeds[-1])


def _manager(manager: PluginManager | None) -> PluginManager:
    return get_plugin_manager() if manager is None else manager
