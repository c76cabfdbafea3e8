"""ConvFormer block: a MetaFormer whose token mixer is an inverted separable convolution.

From Yu et al., "MetaFormer Baselines for Vision", TPAMI 2024
(https://arxiv.org/abs/2210.13452). The DICM paper builds its redundancy-elimination (RE)
module from ConvFormer blocks.

Reused from timm (``timm.models.metaformer``, adapted there from sail-sg/metaformer):
``MetaFormerBlock``, ``SepConv``, ``StarReLU`` and ``LayerNorm2dNoBias`` work on NCHW maps
as they are, so :class:`ConvFormerBlock` is only a thin subclass that wires ConvFormer's
choices together and adds what timm's block lacks: an ``mlp_ratio`` argument (timm fixes
4) and argument validation. Parameter names are timm's, so the blocks of timm's
``convformer_*`` checkpoints load key for key.
"""
from typing import Optional

from timm.layers import Mlp
from timm.models.metaformer import LayerNorm2dNoBias, MetaFormerBlock, SepConv, StarReLU

from ..utils import check_drop_path
from .depthwise import DepthwiseConv2d

__all__ = ['ConvFormerBlock']

_TIMM_MLP_RATIO = 4.0  # hidden width timm's MetaFormerBlock builds its MLP with


class ConvFormerBlock(MetaFormerBlock):
    """ConvFormer block (MetaFormer with a SepConv token mixer), NCHW in and out.

    ::

        x = res_scale1 * x + layer_scale1 * drop_path(SepConv(LN(x)))
        x = res_scale2 * x + layer_scale2 * drop_path(MLP(LN(x)))

        SepConv: 1x1 (dim -> expansion_ratio * dim) -> StarReLU -> kxk depthwise -> 1x1
        MLP:     1x1 (dim -> mlp_ratio * dim) -> StarReLU -> 1x1
        StarReLU(x) = s * relu(x)**2 + b  (learnable scalars s, b); LN has no bias.

    Args:
        dim (int): Number of input (= output) channels.
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        kernel_size (int): Odd kernel size of the depthwise conv. Defaults to 7.
        expansion_ratio (float): SepConv hidden width / dim. Defaults to 2.
        drop_path (float): Stochastic depth rate. Defaults to 0.0.
        layer_scale_init_value (float, optional): Initial per-channel scale of the residual
            branches; None disables it. Defaults to None.
        res_scale_init_value (float, optional): Initial per-channel scale of the shortcut
            (ConvFormer uses 1.0 in its last two stages); None disables it.
            Defaults to None.

    Example:
        >>> import torch
        >>> blk = ConvFormerBlock(16)
        >>> blk(torch.rand(2, 16, 7, 9)).shape
        torch.Size([2, 16, 7, 9])
    """

    def __init__(self,
                 dim: int,
                 mlp_ratio: float = 4.0,
                 kernel_size: int = 7,
                 expansion_ratio: float = 2,
                 drop_path: float = 0.0,
                 layer_scale_init_value: Optional[float] = None,
                 res_scale_init_value: Optional[float] = None) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f'dim must be an int >= 1, got {dim!r}')
        if (isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1
                or kernel_size % 2 == 0):
            raise ValueError(f'kernel_size must be a positive odd int, got {kernel_size!r}')
        if int(dim * mlp_ratio) < 1:
            raise ValueError(f'mlp_ratio must give at least one hidden channel, got '
                             f'mlp_ratio={mlp_ratio} with dim={dim}')
        if int(dim * expansion_ratio) < 1:
            raise ValueError(f'expansion_ratio must give at least one hidden channel, got '
                             f'expansion_ratio={expansion_ratio} with dim={dim}')
        check_drop_path(drop_path)
        super().__init__(
            dim,
            token_mixer=SepConv,
            mlp_act=StarReLU,
            mlp_bias=False,
            norm_layer=LayerNorm2dNoBias,
            drop_path=drop_path,
            use_nchw=True,
            layer_scale_init_value=layer_scale_init_value,
            res_scale_init_value=res_scale_init_value,
            # passed on to SepConv
            kernel_size=kernel_size,
            padding=kernel_size // 2,
            expansion_ratio=expansion_ratio,
        )
        # timm's SepConv builds its depthwise conv as a plain nn.Conv2d: give it the faster
        # CPU backward of DepthwiseConv2d, a subclass with no state of its own (same
        # parameters, same init and RNG draws, same forward)
        self.token_mixer.dwconv.__class__ = DepthwiseConv2d
        if mlp_ratio != _TIMM_MLP_RATIO:
            self.mlp = Mlp(dim, int(mlp_ratio * dim), act_layer=StarReLU, bias=False,
                           use_conv=True)
