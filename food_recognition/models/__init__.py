"""Models: a backbone from the plugin registry plus the classification head.

>>> from food_recognition.models import get_backbone, list_backbones
>>> "resnet50" in list_backbones()
True
>>> spec = get_backbone("resnet50")
>>> spec.preprocessing, spec.default_input_size
('caffe', 224)
>>> list_backbones("efficientnet*")
['efficientnetv2_b0', 'efficientnetv2_s']

:func:`build` makes the Keras model (importing Keras then, not before);
:mod:`food_recognition.models.layers` holds the registered layers a saved
model needs; :func:`~food_recognition.models.head.head_plan` shows the head a
config asks for without building it.
"""

from food_recognition.models.factory import (
    BACKBONE_LAYER,
    WeightsError,
    backbone_of,
    build,
    freeze_backbone,
    get_backbone,
    input_size_for,
    list_backbones,
    save_backbone_weights,
)
from food_recognition.models.head import HeadBlock, head_plan

__all__ = [
    "BACKBONE_LAYER",
    "HeadBlock",
    "WeightsError",
    "backbone_of",
    "build",
    "freeze_backbone",
    "get_backbone",
    "head_plan",
    "input_size_for",
    "list_backbones",
    "save_backbone_weights",
]
