"""Depthwise convolution with a faster CPU backward: the same forward, the same parameters.

:class:`DepthwiseConv2d` is an ``nn.Conv2d`` (same arguments, parameter names, ``state_dict``
and bit-identical ``F.conv2d`` forward in every grad mode) whose CPU backward for stride 1,
dilation 1 and zero ``'same'`` padding of an odd square kernel is made of forward convolutions
(torch's depthwise weight-gradient kernel is 7-9x its forward); anything else, GPU included,
is plain ``nn.Conv2d``. No double backward on the fast path. Why and measured: ``docs/codec.md``.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ['DepthwiseConv2d', 'depthwise_conv2d']


class _DepthwiseConv2dFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                padding: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        x, weight = ctx.saved_tensors
        p = ctx.padding
        n, c, h, w = x.shape
        k = weight.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = F.conv2d(grad, weight.flip(-1, -2), padding=p, groups=c)
        if ctx.needs_input_grad[1]:
            # zero-padded NCHW copy of x in one pass (x is often channels-last)
            x_pad = x.new_zeros(1, n * c, h + 2 * p, w + 2 * p)
            x_pad.view(n, c, h + 2 * p, w + 2 * p)[:, :, p:p + h, p:p + w] = x
            kernels = grad.contiguous().view(n * c, 1, h, w)
            grad_w = F.conv2d(x_pad, kernels, groups=n * c).view(n, c, k, k).sum(0)
            grad_w = grad_w.unsqueeze(1).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                     padding: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)`` with the fast backward
    (stride 1, ``weight`` of shape (C, 1, k, k), odd k, ``padding = k // 2``)."""
    return _DepthwiseConv2dFunction.apply(x, weight, bias, padding)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels)`` with a faster
    CPU backward (docs/codec.md). Takes ``nn.Conv2d``'s arguments."""

    def _fast_backward_applies(self, x: torch.Tensor) -> bool:
        k = self.kernel_size[0]
        return (torch.is_grad_enabled() and x.device.type == 'cpu' and x.dim() == 4
                and (x.requires_grad or self.weight.requires_grad)
                and self.groups == self.in_channels == self.out_channels == x.shape[1]
                and self.kernel_size == (k, k) and k % 2 == 1
                and self.stride == (1, 1) and self.dilation == (1, 1)
                and self.padding == (k // 2, k // 2) and self.padding_mode == 'zeros')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fast_backward_applies(x):
            return depthwise_conv2d(x, self.weight, self.bias, self.padding[0])
        return super().forward(x)
