"""The base images of the Azure ML environments, pinned to dated tags.

Azure ML publishes its base images on MCR under ``azureml/`` and lists each
image's tags in its release notes (github.com/Azure/AzureML-Containers); a
dated tag never changes, so a rebuilt environment gets the same image. The
``openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04`` image the library used before is
deprecated (no more patches).

The GPU driver comes from the VM, not the image: the image brings the CUDA
12 user-space, and TensorFlow's ``and-cuda`` wheels bring their own CUDA
libraries; a driver too old for them is only found on the cluster (see the
docs' list of what is not proven offline).
"""

from __future__ import annotations

__all__ = ["DEFAULT_IMAGE", "IMAGE_RELEASE", "INFERENCE_IMAGE"]

#: The release of the Azure ML base images both environments use (release notes:
#: https://github.com/Azure/AzureML-Containers).
IMAGE_RELEASE = "20250701.v1"

#: Training: Ubuntu 22.04, OpenMPI 5.0, CUDA 12.4.1 and cuDNN (a supported image).
DEFAULT_IMAGE = f"mcr.microsoft.com/azureml/openmpi5.0-cuda12.4-ubuntu22.04:{IMAGE_RELEASE}"

#: Serving: Ubuntu 22.04 with OpenMPI 4.1 and conda; the model runs on CPU
#: (``tensorflow-cpu``), so the image carries no CUDA.
INFERENCE_IMAGE = f"mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:{IMAGE_RELEASE}"
