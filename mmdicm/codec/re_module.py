"""Redundancy-elimination (RE) module of DICM (Tang, Yi, Wang, IEEE T-BC 2025).

An autoencoder between the backbone head (stem + layer1) and the compression network whose
latent is quantised and rate-costed: in self-supervised pre-training its rate is a bitrate
constraint that squeezes redundancy out of the features. Both halves run on the edge; its
latent is *not* in the bitstream, so its rate is a training term kept apart from the sent bpp.
Blocks are the paper's ConvFormer (default) or the release's Conv2Former ConvMod
(``block_type='convmod'``); the layout: ``docs/codec.md``.
"""
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.models.utils import conv, deconv

from ..layers import build_re_block
from ..utils import check_int
from .entropy import resize_entropy_buffers_on_load

__all__ = ['REModule']


class REModule(nn.Module):
    """RE autoencoder with a quantised, entropy-modelled latent.

    Args:
        in_channels (int): Channels of the input feature f1 (and of the output f2).
            Defaults to 256 (ResNet-50 layer1).
        hidden_channels (int): Width of the blocks. Defaults to 128.
        latent_channels (int): Channels of the quantised latent. Defaults to 192.
        depths (Sequence[int]): Blocks per stage; each stage ends with a stride-2 conv
            (encoder) / starts with a stride-2 transposed conv (decoder). Defaults to (1, 1, 2).
        block_type (str): ``'convformer'`` (the paper's) or ``'convmod'`` (the released
            code's). Defaults to ``'convformer'``.
        block_cfg (dict, optional): Extra keyword arguments of the block. Defaults to None.
        kernel_size (int): Kernel of the stride-2 (transposed) convs. Defaults to 5.

    Example:
        >>> import torch
        >>> re = REModule(in_channels=32, hidden_channels=16, latent_channels=24)
        >>> out = re(torch.rand(1, 32, 16, 24))
        >>> out['f2'].shape, out['latent'].shape, out['likelihoods']['re'].shape
        (torch.Size([1, 32, 16, 24]), torch.Size([1, 24, 2, 3]), torch.Size([1, 24, 2, 3]))
    """

    def __init__(self,
                 in_channels: int = 256,
                 hidden_channels: int = 128,
                 latent_channels: int = 192,
                 depths: Sequence[int] = (1, 1, 2),
                 block_type: str = 'convformer',
                 block_cfg: Optional[Dict[str, Any]] = None,
                 kernel_size: int = 5) -> None:
        super().__init__()
        check_int('in_channels', in_channels)
        check_int('hidden_channels', hidden_channels)
        check_int('latent_channels', latent_channels)
        check_int('kernel_size', kernel_size)
        depths = tuple(depths)
        if not depths:
            raise ValueError('depths must name at least one stage, got ()')
        for i, d in enumerate(depths):
            check_int(f'depths[{i}]', d, minimum=0)
        block_cfg = dict(block_cfg or {})
        self.depths = depths
        self.stride = 2**len(depths)

        def blocks(n: int) -> nn.Sequential:
            return nn.Sequential(
                *[build_re_block(block_type, hidden_channels, **block_cfg) for _ in range(n)])

        enc = [nn.Conv2d(in_channels, hidden_channels, 1)]
        for i, d in enumerate(depths):
            out_ch = latent_channels if i == len(depths) - 1 else hidden_channels
            enc += [blocks(d), conv(hidden_channels, out_ch, kernel_size, stride=2)]
        self.encoder = nn.Sequential(*enc)

        dec = []
        for i, d in reversed(list(enumerate(depths))):
            in_ch = latent_channels if i == len(depths) - 1 else hidden_channels
            dec += [deconv(in_ch, hidden_channels, kernel_size, stride=2), blocks(d)]
        dec.append(nn.Conv2d(hidden_channels, in_channels, 1))
        self.decoder = nn.Sequential(*dec)

        self.entropy_bottleneck = EntropyBottleneck(latent_channels)
        resize_entropy_buffers_on_load(self)

    def forward(self, f1: torch.Tensor) -> Dict[str, Any]:
        """Encode, quantise (noise in training, rounding in eval) and decode ``f1``.

        ``f1``'s height and width must be multiples of :attr:`stride`; the backbone pads.

        Returns:
            dict: ``f2`` (same shape as f1), ``latent`` (the quantised latent) and
            ``likelihoods`` (``{'re': ...}``, for the RE rate term).
        """
        if f1.shape[-2] % self.stride or f1.shape[-1] % self.stride:
            raise ValueError(f'REModule input size {tuple(f1.shape[-2:])} is not a multiple of '
                             f'its stride {self.stride}; pad it first')
        latent = self.encoder(f1)
        latent_hat, likelihoods = self.entropy_bottleneck(latent)
        if not latent.is_contiguous() and latent.is_contiguous(
                memory_format=torch.channels_last):
            # CompressAI's bottleneck returns NCHW; decode in the encoder's layout, as the
            # edge path (quantize on the latent itself) does, so both give the same f2
            latent_hat = latent_hat.contiguous(memory_format=torch.channels_last)
        return dict(f2=self.decoder(latent_hat), latent=latent_hat,
                    likelihoods=dict(re=likelihoods))
