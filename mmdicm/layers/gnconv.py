"""Recursive gated convolution (gnConv) and the HorNet block.

From Rao et al., "HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions", NeurIPS 2022 (https://arxiv.org/abs/2207.14284). DICM's compression network
calls gnConv "recursive gated convolution" (RGC) and builds its analysis / synthesis
transforms from HorNet blocks.

Written for mmdicm after studying the authors' reference code (raoyongming/HorNet,
``hornet.py``). Module and parameter names follow that code (``proj_in``, ``dwconv``,
``pws``, ``proj_out``, ``complex_weight``, ``gamma1``...), so its checkpoints map onto these
blocks key for key. Differences: NCHW layer norm from timm instead of a hand-written one,
argument validation, a configurable depthwise kernel size, no print on construction, and the
global filter's output is cast back to the input dtype (the FFT itself always runs in fp32).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, LayerNorm2d

from ..utils import check_drop_path, check_int, check_layer_scale
from ._layer_scale import layer_scale
from .depthwise import DepthwiseConv2d

__all__ = ['GlobalLocalFilter', 'GnConv', 'HorBlock']


def _check_odd_kernel(name: str, value: int) -> None:
    check_int(name, value)
    if value % 2 == 0:
        raise ValueError(f'{name} must be odd so that "same" padding keeps H and W, '
                         f'got {value}')


class GlobalLocalFilter(nn.Module):
    """HorNet's global-local filter, a drop-in replacement for gnConv's depthwise conv.

    The input is layer-normalised and split along channels: one half goes through a 3x3
    depthwise conv (local), the other half is multiplied in the 2-D Fourier domain by a
    learnable complex filter (global). The halves are interleaved channel-wise and
    layer-normalised again. When the input's spectrum ``(H, W // 2 + 1)`` differs from the
    filter's ``(h, w)``, the complex filter is resized bilinearly (``align_corners=True``)
    to it, as HorNet does, so any ``H, W >= 1`` works.

    Args:
        dim (int): Number of input (= output) channels; must be even.
        h (int): Height of the learnable spectral filter. Defaults to 14.
        w (int): Width of the learnable spectral filter, i.e. ``W // 2 + 1`` of the feature
            size it is made for (8 for 14x14 maps). Defaults to 8.

    Example:
        >>> import torch
        >>> f = GlobalLocalFilter(16, h=14, w=8)
        >>> f(torch.rand(2, 16, 9, 13)).shape
        torch.Size([2, 16, 9, 13])
    """

    def __init__(self, dim: int, h: int = 14, w: int = 8) -> None:
        super().__init__()
        check_int('dim', dim, 2)
        if dim % 2:
            raise ValueError(f'dim must be even (half local, half global), got {dim}')
        check_int('h', h)
        check_int('w', w)
        half = dim // 2
        self.dw = DepthwiseConv2d(half, half, kernel_size=3, padding=1, bias=False, groups=half)
        # Real and imaginary parts stacked last, as torch.view_as_complex expects.
        self.complex_weight = nn.Parameter(torch.empty(half, h, w, 2, dtype=torch.float32))
        nn.init.trunc_normal_(self.complex_weight, std=0.02)
        self.pre_norm = LayerNorm2d(dim, eps=1e-6)
        self.post_norm = LayerNorm2d(dim, eps=1e-6)

    def _spectral_weight(self, size: Tuple[int, int]) -> torch.Tensor:
        """The complex filter, resized to a spectrum of ``size`` if needed."""
        weight = self.complex_weight
        if tuple(weight.shape[1:3]) != tuple(size):
            # (C, h, w, 2) -> (2, C, h, w): resize real and imaginary parts as images.
            weight = F.interpolate(weight.permute(3, 0, 1, 2), size=size, mode='bilinear',
                                   align_corners=True).permute(1, 2, 3, 0)
        return torch.view_as_complex(weight.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Filter ``x`` of shape (B, dim, H, W); returns the same shape."""
        x = self.pre_norm(x)
        x_local, x_global = torch.chunk(x, 2, dim=1)
        x_local = self.dw(x_local)

        b, c, height, width = x_global.shape
        spec = torch.fft.rfft2(x_global.float(), dim=(2, 3), norm='ortho')
        spec = spec * self._spectral_weight(spec.shape[2:4])
        x_global = torch.fft.irfft2(spec, s=(height, width), dim=(2, 3), norm='ortho')
        x_global = x_global.to(x_local.dtype)

        # Interleave channels (local_0, global_0, local_1, ...) exactly like HorNet.
        x = torch.stack([x_local, x_global], dim=2).reshape(b, 2 * c, height, width)
        return self.post_norm(x)


class GnConv(nn.Module):
    """Recursive gated convolution (gnConv), HorNet's n-th order spatial interaction.

    ``proj_in`` (1x1, dim -> 2 dim) gives a gate ``p`` of ``dims[0] = dim / 2**(order-1)``
    channels and ``q_0 .. q_{order-1}`` of widths ``dims = [dim / 2**(order-1), ..., dim / 2,
    dim]``. All ``q`` are mixed spatially by one depthwise conv (or a
    :class:`GlobalLocalFilter`) and multiplied by ``scale``; then each order doubles the
    width of the gated product and ``proj_out`` (1x1) mixes the last one::

        p, q_0..q_{n-1} = split(proj_in(x));   q_k = dwconv(q)_k * scale
        x_0 = p * q_0;   x_k = pws[k-1](x_{k-1}) * q_k   (k = 1 .. n-1)
        out = proj_out(x_{n-1})

    Args:
        dim (int): Number of input (= output) channels. Must be divisible by
            ``2**(order-1)`` (``2**order`` with ``global_local``).
        order (int): Interaction order n >= 1. Defaults to 5.
        kernel_size (int): Odd kernel size of the depthwise conv. Ignored when
            ``global_local`` is True (the filter's local half is 3x3). Defaults to 7.
        scale (float): Scale s applied to the depthwise output (HorNet uses 1/3).
            Defaults to 1/3.
        global_local (bool): Use a :class:`GlobalLocalFilter` instead of the depthwise
            conv. Defaults to False.
        gl_size (Sequence[int]): ``(h, w)`` of the global filter's spectral weight.
            Defaults to (14, 8).

    Example:
        >>> import torch
        >>> g = GnConv(32, order=3)
        >>> g.dims
        [8, 16, 32]
        >>> g(torch.rand(1, 32, 7, 9)).shape
        torch.Size([1, 32, 7, 9])
    """

    def __init__(self,
                 dim: int,
                 order: int = 5,
                 kernel_size: int = 7,
                 scale: float = 1.0 / 3.0,
                 global_local: bool = False,
                 gl_size: Sequence[int] = (14, 8)) -> None:
        super().__init__()
        check_int('dim', dim)
        check_int('order', order)
        _check_odd_kernel('kernel_size', kernel_size)
        if dim % 2**(order - 1):
            raise ValueError(f'dim must be divisible by 2**(order-1) = {2**(order - 1)} so '
                             f'that every gnConv width dim // 2**i is an integer; got '
                             f'dim={dim}, order={order}')
        self.order = order
        self.scale = float(scale)
        # Widths from the smallest (first-order gate) to dim.
        self.dims = [dim // 2**i for i in range(order)][::-1]
        q_channels = sum(self.dims)

        self.proj_in = nn.Conv2d(dim, 2 * dim, kernel_size=1)
        if global_local:
            if q_channels % 2:
                raise ValueError(
                    f'global_local needs an even number of filtered channels; with '
                    f'dim={dim}, order={order} it is {q_channels}: use a dim divisible by '
                    f'2**order = {2**order}')
            if len(gl_size) != 2:
                raise ValueError(f'gl_size must be (h, w), got {gl_size!r}')
            self.dwconv = GlobalLocalFilter(q_channels, h=gl_size[0], w=gl_size[1])
        else:
            self.dwconv = DepthwiseConv2d(q_channels, q_channels, kernel_size=kernel_size,
                                          padding=kernel_size // 2, groups=q_channels)
        self.pws = nn.ModuleList(
            nn.Conv2d(self.dims[i], self.dims[i + 1], kernel_size=1) for i in range(order - 1))
        self.proj_out = nn.Conv2d(dim, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply gnConv to ``x`` of shape (B, dim, H, W); returns the same shape."""
        p, q = torch.split(self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        qs = torch.split(self.dwconv(q) * self.scale, self.dims, dim=1)
        x = p * qs[0]
        for pw, q_k in zip(self.pws, qs[1:]):
            x = pw(x) * q_k
        return self.proj_out(x)


class HorBlock(nn.Module):
    """HorNet block: gnConv spatial mixing and an MLP, each pre-normed with a residual.

    ::

        x = x + drop_path(gamma1 * GnConv(LN(x)))
        x = x + drop_path(gamma2 * Linear(GELU(Linear(LN(x)))))   # MLP over channels

    Args:
        dim (int): Number of input (= output) channels.
        order (int): gnConv interaction order. Defaults to 3.
        scale (float): gnConv scale s. Defaults to 1/3.
        kernel_size (int): gnConv depthwise kernel size. Defaults to 7.
        global_local (bool): Use the global-local filter in gnConv. Defaults to False.
        gl_size (Sequence[int]): ``(h, w)`` of the global filter. Defaults to (14, 8).
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        drop_path (float): Stochastic depth rate. Defaults to 0.0.
        layer_scale_init_value (float, optional): Initial value of the per-channel layer
            scales ``gamma1``/``gamma2``; None or 0 disables layer scale (HorNet's
            convention). Defaults to 1e-6.

    Example:
        >>> import torch
        >>> blk = HorBlock(32, order=3)
        >>> blk(torch.rand(2, 32, 16, 16)).shape
        torch.Size([2, 32, 16, 16])
    """

    def __init__(self,
                 dim: int,
                 order: int = 3,
                 scale: float = 1.0 / 3.0,
                 kernel_size: int = 7,
                 global_local: bool = False,
                 gl_size: Sequence[int] = (14, 8),
                 mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 layer_scale_init_value: Optional[float] = 1e-6) -> None:
        super().__init__()
        check_int('dim', dim)
        hidden = int(dim * mlp_ratio)
        if hidden < 1:
            raise ValueError(f'mlp_ratio must give at least one hidden channel, got '
                             f'mlp_ratio={mlp_ratio} with dim={dim}')
        check_drop_path(drop_path)
        check_layer_scale(layer_scale_init_value)

        self.norm1 = LayerNorm2d(dim, eps=1e-6)
        self.gnconv = GnConv(dim, order=order, kernel_size=kernel_size, scale=scale,
                             global_local=global_local, gl_size=gl_size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden, dim)
        self.gamma1 = layer_scale(dim, layer_scale_init_value)
        self.gamma2 = layer_scale(dim, layer_scale_init_value)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape (B, dim, H, W); returns the same shape."""
        y = self.gnconv(self.norm1(x))
        if self.gamma1 is not None:
            y = self.gamma1.view(-1, 1, 1) * y
        x = x + self.drop_path(y)

        y = x.permute(0, 2, 3, 1)  # (B, H, W, C): the MLP acts on channels
        y = self.pwconv2(self.act(self.pwconv1(self.norm2(y))))
        if self.gamma2 is not None:
            y = self.gamma2 * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))
