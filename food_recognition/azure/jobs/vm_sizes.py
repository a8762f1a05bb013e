"""GPU VM sizes for a training cluster: the current ones, and the retired ones refused.

Azure retires GPU VM series; a cluster of a retired size never gets a node.
:data:`RETIRED_SERIES` lists the GPU series Azure has retired (each with its
retirement notice) and :func:`check_vm_size` refuses them before anything is
sent. :data:`GPU_SIZES` lists current sizes by GPU, for help texts and docs.
"""

from __future__ import annotations

import re

from food_recognition.errors import CloudError

__all__ = [
    "DEFAULT_VM_SIZE",
    "GPU_SIZES",
    "RETIRED_SERIES",
    "RetiredVMSizeError",
    "check_vm_size",
    "retired_series",
]

#: One NVIDIA T4 (16 GB), 4 vCPUs: the smallest current GPU size; enough for
#: ResNet50 on Food-101 at batch 64 with mixed precision.
DEFAULT_VM_SIZE = "Standard_NC4as_T4_v3"

#: Current GPU sizes by GPU (series in brackets).
GPU_SIZES: dict[str, tuple[str, ...]] = {
    "T4 (NCasT4_v3)": (
        "Standard_NC4as_T4_v3",
        "Standard_NC8as_T4_v3",
        "Standard_NC16as_T4_v3",
        "Standard_NC64as_T4_v3",
    ),
    "A100 (NC_A100_v4, ND_A100_v4)": (
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
    ),
    "H100 (NCads_H100_v5, ND_H100_v5)": (
        "Standard_NC40ads_H100_v5",
        "Standard_NC80adis_H100_v5",
        "Standard_ND96isr_H100_v5",
    ),
}

_VM_DOCS = "https://learn.microsoft.com/azure/virtual-machines/retirement-notices"

#: Retired GPU series: (series, size pattern, retired on, notice).
RETIRED_SERIES: tuple[tuple[str, str, str, str], ...] = (
    ("NC", r"standard_nc(6|12|24|24r)(_promo)?", "2023-09-06", _VM_DOCS),
    ("NCv2", r"standard_nc(6|12|24|24r)s_v2", "2023-09-06", _VM_DOCS),
    (
        "NCv3",
        r"standard_nc(6|12|24|24r)s_v3",
        "2025-09-30",
        "https://learn.microsoft.com/azure/virtual-machines/ncv3-nc6s-nc12s-nc24s-retirement",
    ),
    ("ND", r"standard_nd(6|12|24|24r)s", "2023-09-06", _VM_DOCS),
    ("NDv2", r"standard_nd40rs_v2", "2025-09-30", _VM_DOCS),
    (
        "NV",
        r"standard_nv(6|12|24)(_promo)?",
        "2023-09-06",
        "https://learn.microsoft.com/azure/virtual-machines/sizes/migration-guides/nv-series-retirement",
    ),
)


class RetiredVMSizeError(CloudError, ValueError):
    """A VM size from a retired series; the message names the series and current sizes."""


def retired_series(vm_size: str) -> tuple[str, str, str] | None:
    """The retired series ``vm_size`` belongs to, as (series, retired on, notice), or ``None``.

    >>> retired_series("Standard_NC6s_v3")[:2]
    ('NCv3', '2025-09-30')
    >>> retired_series("Standard_NC4as_T4_v3") is None
    True
    """
    for series, pattern, date, notice in RETIRED_SERIES:
        if re.fullmatch(pattern, vm_size.strip(), re.IGNORECASE):
            return series, date, notice
    return None


def check_vm_size(vm_size: str) -> str:
    """``vm_size`` itself, if it is not from a retired series.

    :param vm_size: an Azure VM size (``Standard_NC4as_T4_v3``).
    :returns: ``vm_size``.
    :raises RetiredVMSizeError: it belongs to a retired series.
    """
    retired = retired_series(vm_size)
    if retired is not None:
        series, date, _notice = retired
        current = ", ".join(sizes[0] for sizes in GPU_SIZES.values())
        raise RetiredVMSizeError(
            f"VM size {vm_size!r} is from the {series} series, retired on {date}: "
            f"choose a current GPU size ({current}, ...)"
        )
    return vm_size
