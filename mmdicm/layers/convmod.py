"""Conv2Former's convolutional modulation (ConvMod) block.

From Hou et al., "Conv2Former: A Simple Transformer-Style ConvNet for Visual Recognition",
TPAMI 2024 (https://arxiv.org/abs/2211.11943). The DICM authors' released code builds its
redundancy-elimination (RE) module from this block; the DICM paper names ConvFormer instead
(see :mod:`mmdicm.layers.metaformer`), and mmdicm offers both.

Written for mmdicm after studying the authors' reference code (HVision-NKU/Conv2Former,
``convmod.py`` and ``models/conv2former.py``). Module and parameter names follow it
(``attn.a``, ``attn.v``, ``attn.proj``, ``mlp.pos``, ``layer_scale_1``...), so its block
weights load key for key. Differences: the kernel size, MLP ratio and layer-scale value are
arguments instead of constants, and arguments are validated.
"""
from typing import Optional

import torch
import torch.nn as nn
from timm.layers import DropPath, LayerNorm2d

from ..utils import check_drop_path, check_layer_scale
from ._layer_scale import layer_scale
from .depthwise import DepthwiseConv2d

__all__ = ['ConvMod', 'ConvModMlp', 'ConvModBlock']


def _check_dim(dim: int) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f'dim must be an int >= 1, got {dim!r}')


class ConvMod(nn.Module):
    """Convolutional modulation: a large depthwise kernel gating a linear value branch.

    ::

        x = LN(x)
        a = DWConv_kxk(GELU(Conv1x1(x)))   # large-kernel "attention" weights
        v = Conv1x1(x)                     # value
        out = proj(a * v)

    Args:
        dim (int): Number of input (= output) channels.
        kernel_size (int): Odd size of the depthwise kernel. Defaults to 11.

    Example:
        >>> import torch
        >>> ConvMod(16)(torch.rand(1, 16, 7, 9)).shape
        torch.Size([1, 16, 7, 9])
    """

    def __init__(self, dim: int, kernel_size: int = 11) -> None:
        super().__init__()
        _check_dim(dim)
        if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1
                or kernel_size % 2 == 0):
            raise ValueError(f'kernel_size must be a positive odd int, got {kernel_size!r}')
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.a = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=1),
            nn.GELU(),
            DepthwiseConv2d(dim, dim, kernel_size=kernel_size, padding=kernel_size // 2,
                            groups=dim),
        )
        self.v = nn.Conv2d(dim, dim, kernel_size=1)
        self.proj = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Modulate ``x`` of shape (B, dim, H, W); returns the same shape."""
        x = self.norm(x)
        return self.proj(self.a(x) * self.v(x))


class ConvModMlp(nn.Module):
    """Conv2Former's MLP: 1x1 expand, GELU, a residual 3x3 depthwise conv, 1x1 reduce.

    ::

        h = GELU(Conv1x1(LN(x)));  h = h + GELU(DWConv3x3(h));  out = Conv1x1(h)

    Args:
        dim (int): Number of input (= output) channels.
        mlp_ratio (float): Hidden width / dim. Defaults to 4.0.
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        _check_dim(dim)
        hidden = int(dim * mlp_ratio)
        if hidden < 1:
            raise ValueError(f'mlp_ratio must give at least one hidden channel, got '
                             f'mlp_ratio={mlp_ratio} with dim={dim}')
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.fc1 = nn.Conv2d(dim, hidden, kernel_size=1)
        self.pos = DepthwiseConv2d(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, dim, kernel_size=1)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to ``x`` of shape (B, dim, H, W); returns the same shape."""
        x = self.act(self.fc1(self.norm(x)))
        x = x + self.act(self.pos(x))
        return self.fc2(x)


class ConvModBlock(nn.Module):
    """Conv2Former block: ConvMod and MLP, each pre-normed, layer-scaled and residual.

    ::

        x = x + drop_path(layer_scale_1 * ConvMod(x))      # ConvMod starts with its LN
        x = x + drop_path(layer_scale_2 * ConvModMlp(x))   # so does the MLP

    The MLP follows the released code: its 3x3 depthwise conv is a residual branch
    (``h + GELU(DWConv3x3(h))``) after the first 1x1 conv and GELU.

    Args:
        dim (int): Number of input (= output) channels.
        kernel_size (int): Odd depthwise kernel size of ConvMod. Defaults to 11.
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        drop_path (float): Stochastic depth rate. Defaults to 0.0.
        layer_scale_init_value (float, optional): Initial per-channel layer scale; None or 0
            disables layer scale. Defaults to 1e-6.

    Example:
        >>> import torch
        >>> blk = ConvModBlock(16)
        >>> blk(torch.rand(2, 16, 33, 17)).shape
        torch.Size([2, 16, 33, 17])
    """

    def __init__(self,
                 dim: int,
                 kernel_size: int = 11,
                 mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 layer_scale_init_value: Optional[float] = 1e-6) -> None:
        super().__init__()
        check_drop_path(drop_path)
        check_layer_scale(layer_scale_init_value)
        self.attn = ConvMod(dim, kernel_size=kernel_size)
        self.mlp = ConvModMlp(dim, mlp_ratio=mlp_ratio)
        self.layer_scale_1 = layer_scale(dim, layer_scale_init_value)
        self.layer_scale_2 = layer_scale(dim, layer_scale_init_value)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape (B, dim, H, W); returns the same shape."""
        y = self.attn(x)
        if self.layer_scale_1 is not None:
            y = self.layer_scale_1.view(-1, 1, 1) * y
        x = x + self.drop_path(y)
        y = self.mlp(x)
        if self.layer_scale_2 is not None:
            y = self.layer_scale_2.view(-1, 1, 1) * y
        return x + self.drop_path(y)
