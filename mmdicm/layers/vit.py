"""A pre-norm Transformer (ViT) block applied to NCHW feature maps.

From Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale", ICLR 2021 (https://arxiv.org/abs/2010.11929). DICM's hyper-encoder and
hyper-decoder use one such block per stage to model spatial dependencies of the latent.

Reused from timm (``timm.models.vision_transformer.Block``); this module only flattens the
H x W positions of a map into tokens and back. No positional embedding is added: the
surrounding (zero-padded) convolutions of the hyperprior carry position.
"""
import torch
import torch.nn as nn
from timm.models.vision_transformer import Block

from ..utils import check_drop_path

__all__ = ['ViTBlock']


class ViTBlock(nn.Module):
    """Transformer block over the spatial positions of an NCHW map.

    ::

        t = flatten(x)                      # (B, C, H, W) -> (B, H*W, C)
        t = t + drop_path(MHSA(LN(t)))
        t = t + drop_path(MLP(LN(t)))       # Linear -> GELU -> Linear
        out = unflatten(t)                  # -> (B, C, H, W)

    Attention is global over all H*W positions, so memory grows with (H*W)**2: meant for
    small (hyperprior) maps.

    Args:
        dim (int): Number of channels (token width); divisible by ``num_heads``.
        num_heads (int): Number of attention heads. Defaults to 6.
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        drop_path (float): Stochastic depth rate. Defaults to 0.0.
        qkv_bias (bool): Learnable bias on the query/key/value projection, as in ViT.
            Defaults to True.

    Example:
        >>> import torch
        >>> blk = ViTBlock(48, num_heads=6)
        >>> blk(torch.rand(2, 48, 5, 3)).shape
        torch.Size([2, 48, 5, 3])
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 6,
                 mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f'dim must be an int >= 1, got {dim!r}')
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f'num_heads must be an int >= 1, got {num_heads!r}')
        if dim % num_heads:
            raise ValueError(f'dim must be divisible by num_heads, got dim={dim}, '
                             f'num_heads={num_heads}')
        if int(dim * mlp_ratio) < 1:
            raise ValueError(f'mlp_ratio must give at least one hidden channel, got '
                             f'mlp_ratio={mlp_ratio} with dim={dim}')
        check_drop_path(drop_path)
        self.block = Block(dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                           drop_path=drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape (B, dim, H, W); returns the same shape."""
        b, c, h, w = x.shape
        tokens = self.block(x.flatten(2).transpose(1, 2))
        return tokens.transpose(1, 2).reshape(b, c, h, w)
