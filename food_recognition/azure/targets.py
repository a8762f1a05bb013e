"""Built-in plugin: registers the ``azureml`` compute target.

The factory imports the Azure SDK only when a target is built, so loading
plugins (and ``food-recognition --help``) stays fast.
"""

from __future__ import annotations

from typing import Any

from food_recognition.plugins.registry import Register, TargetSpec
from food_recognition.plugins.spec import hookimpl

__all__ = ["food_recognition_register_compute_targets"]


def _azureml(**options: Any) -> Any:
    from food_recognition.azure.jobs.target import AzureMLTarget

    return AzureMLTarget(**options)


@hookimpl
def food_recognition_register_compute_targets(register: Register[TargetSpec]) -> None:
    """Register the ``azureml`` target (an Azure ML workspace's compute cluster)."""
    register.add(
        TargetSpec(
            name="azureml",
            factory=_azureml,
            description="an Azure ML compute cluster (v2 command and sweep jobs)",
        )
    )
