"""Per-channel layer scale (CaiT), shared by the HorNet and ConvMod blocks."""
from typing import Optional

import torch
import torch.nn as nn


def layer_scale(dim: int, init_value: Optional[float]) -> Optional[nn.Parameter]:
    """A learnable (dim,) scale filled with ``init_value``; None when it is None or 0."""
    if not init_value:
        return None
    return nn.Parameter(torch.full((dim, ), float(init_value)))
