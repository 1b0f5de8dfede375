"""Where a model runs and in what form: the device, the autocast precision, the memory layout
and the input tensor. Training and every inference path share these rules, so a model is
scored in the layout and precision it was trained for."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def channels_last_on(device: torch.device, model: nn.Module | None = None) -> bool:
    """Whether ``model`` trains in the channels-last layout on ``device``.

    Always on CUDA. On CPU (where it makes oneDNN's convolutions about 1.4x faster) only for
    models without a strided 1x1 convolution: torch 2.14 segfaults in that layer's weight
    gradient in channels-last on an odd-sized batch (the last partial batch of an epoch). The
    Xception family computes its skip path's strided 1x1 as a subsample and a stride-1 1x1
    (``models.layers.xception.StridedPointwise``) so it trains here too; ``tests/train/test_loop.py``
    keeps a reproduction.
    """
    if device.type == "cuda":
        return True
    return model is not None and not any(
        isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride != (1, 1) for m in model.modules()
    )


def placed(model: nn.Module, device: torch.device, channels_last: bool = True) -> nn.Module:
    """``model`` on ``device``, in channels-last when ``channels_last`` and :func:`channels_last_on`
    allow it: the layout training runs in, and the one a loaded model (saved in the default layout)
    is scored in, where 3x3 convolutions run about 1.5x faster on CPU (ten-crop evaluation of real
    FER2013: 142 -> 86 s per model)."""
    model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last and channels_last_on(device, model) else model


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16, AMX); elsewhere bf16 is emulated, slower than fp32."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype training runs in: ``amp`` on CUDA, bf16 on a CPU that has it, else none (fp32)."""
    dtype = AMP_DTYPES.get(amp)
    if device.type == "cuda":
        return dtype
    return dtype if dtype is torch.bfloat16 and device.type == "cpu" and cpu_has_bf16() else None


def to_input(images: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (n, h, w) images as float (n, 1, h, w) in [0, 1] on ``device``, channels-last on CUDA.

    On CPU the batch stays as it is: a model's channels-last weights set the layout there,
    and a model kept out of it (see channels_last_on) must not be handed channels-last input.
    """
    tensor = torch.as_tensor(images).to(device, non_blocking=True)
    batch = tensor.unsqueeze(1).float().div_(255.0)
    return batch.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else batch
