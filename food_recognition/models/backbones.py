"""Built-in plugin: the backbones from Keras applications.

Registered through the same hook a third-party plugin implements. Builders
import Keras when called, so registering them costs nothing at start-up.

Each backbone declares the preprocessing its pre-trained weights expect; the
model's :class:`~food_recognition.models.layers.Preprocess` layer applies it
and the Keras application is built without its own preprocessing, except
EfficientNetV2-S, whose Keras preprocessing (``x / 128 - 1``) is none of our
modes and so stays inside the backbone (declared ``none``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from food_recognition.plugins.registry import BackboneSpec, Register
from food_recognition.plugins.spec import hookimpl

__all__ = ["BUILTIN_BACKBONES", "food_recognition_register_backbones"]


def _application(constructor: str, **options: Any) -> Callable[..., Any]:
    def build(input_shape: tuple[int, int, int], weights: str | None) -> Any:
        import keras

        application = getattr(keras.applications, constructor)
        return application(
            include_top=False, weights=weights, input_shape=tuple(input_shape), **options
        )

    build.__name__ = f"build_{constructor}"
    build.__doc__ = f"keras.applications.{constructor} without its top."
    return build


#: The built-in backbones, in the order ``food-recognition backbones`` lists them.
BUILTIN_BACKBONES = (
    BackboneSpec(
        name="resnet50",
        build=_application("ResNet50"),
        preprocessing="caffe",
        default_input_size=224,
        description="ResNet-50 (the reference project's backbone), 23.6M parameters",
    ),
    BackboneSpec(
        name="efficientnetv2_b0",
        build=_application("EfficientNetV2B0", include_preprocessing=False),
        preprocessing="torch",
        default_input_size=224,
        description="EfficientNetV2-B0, 5.9M parameters",
    ),
    BackboneSpec(
        name="efficientnetv2_s",
        build=_application("EfficientNetV2S", include_preprocessing=True),
        preprocessing="none",
        default_input_size=384,
        description="EfficientNetV2-S, 20.3M parameters (Keras's own x/128-1 preprocessing)",
    ),
    BackboneSpec(
        name="convnext_tiny",
        build=_application("ConvNeXtTiny", include_preprocessing=False),
        preprocessing="torch",
        default_input_size=224,
        description="ConvNeXt-Tiny, 27.8M parameters",
    ),
    BackboneSpec(
        name="mobilenet_v3_small",
        build=_application("MobileNetV3Small", include_preprocessing=False),
        preprocessing="tf",
        default_input_size=224,
        description="MobileNetV3-Small, 0.9M parameters (CPU, tests)",
    ),
    BackboneSpec(
        name="mobilenet_v3_small_minimalistic",
        build=_application("MobileNetV3Small", include_preprocessing=False, minimalistic=True),
        preprocessing="tf",
        default_input_size=224,
        description="MobileNetV3-Small without squeeze-excite or hard-swish, 0.4M parameters",
    ),
)


@hookimpl
def food_recognition_register_backbones(register: Register[BackboneSpec]) -> None:
    """Register the Keras-application backbones.

    :param register: the backbone register.
    """
    for spec in BUILTIN_BACKBONES:
        register.add(spec)
