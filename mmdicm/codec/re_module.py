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
from timm.layers import LayerNorm2d

from ..layers import build_re_block
from ..utils import check_int
from .entropy import resize_entropy_buffers_on_load

__all__ = ['REModule', 'NORMS']

#: values of ``REModule(norm=...)``
NORMS = (None, 'layernorm')


def _check_layout_on_load(module: 'REModule', state_dict: dict, prefix: str,
                          *args: Any) -> None:
    """Refuse, in one line, an RE checkpoint of another layout (norm, depths, block type):
    loaded with ``strict=False`` (mmengine's default) it would leave RE half random."""
    parts = (prefix + 'encoder.', prefix + 'decoder.')
    theirs = {k[len(prefix):] for k in state_dict if k.startswith(parts)}
    if not theirs:
        return  # nothing of RE in it (a plain ResNet checkpoint, a partial load)
    own = {k for k in module.state_dict() if k.startswith(('encoder.', 'decoder.'))}
    if theirs != own:
        differ = sorted(theirs ^ own)
        raise ValueError(f'checkpoint\'s RE module has another layout than this one '
                         f'({len(differ)} keys differ, e.g. {differ[0]!r}); this one is '
                         f'{module.layout}: set the RE options (or the codec preset) the '
                         'checkpoint was trained with')


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
        down_kernel_size (int, optional): Kernel of the encoder's stride-2 convs, if not
            ``kernel_size`` (the release: 3, its decoder's transposed convs 5). Defaults to
            None.
        norm (str, optional): ``'layernorm'``: a channel LayerNorm after every stride-2
            (transposed) conv, the latent included, as in the release. Checkpoints with and
            without it do not load into each other. Defaults to None.
        straight_through (bool): In training, feed the decoder the *rounded* latent with a
            straight-through gradient, as the release does (and as the edge does outside
            training), instead of the noisy one; the rate term keeps the noisy likelihoods.
            Defaults to False.

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
                 kernel_size: int = 5,
                 down_kernel_size: Optional[int] = None,
                 norm: Optional[str] = None,
                 straight_through: bool = False) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f'RE norm must be one of {NORMS}, got {norm!r}')
        if not isinstance(straight_through, bool):
            raise TypeError(f'straight_through must be True or False, got {straight_through!r}')
        down_kernel_size = kernel_size if down_kernel_size is None else down_kernel_size
        check_int('down_kernel_size', down_kernel_size)
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

        def normed(layer: nn.Module, channels: int) -> nn.Module:
            return layer if norm is None else nn.Sequential(layer, LayerNorm2d(channels))

        enc = [nn.Conv2d(in_channels, hidden_channels, 1)]
        for i, d in enumerate(depths):
            out_ch = latent_channels if i == len(depths) - 1 else hidden_channels
            enc += [blocks(d),
                    normed(conv(hidden_channels, out_ch, down_kernel_size, stride=2), out_ch)]
        self.encoder = nn.Sequential(*enc)

        dec = []
        for i, d in reversed(list(enumerate(depths))):
            in_ch = latent_channels if i == len(depths) - 1 else hidden_channels
            dec += [normed(deconv(in_ch, hidden_channels, kernel_size, stride=2),
                           hidden_channels), blocks(d)]
        dec.append(nn.Conv2d(hidden_channels, in_channels, 1))
        self.decoder = nn.Sequential(*dec)
        self.straight_through = straight_through
        self.layout = dict(norm=norm, kernel_size=kernel_size,
                           down_kernel_size=down_kernel_size, depths=depths,
                           block_type=block_type)

        self.entropy_bottleneck = EntropyBottleneck(latent_channels)
        resize_entropy_buffers_on_load(self)
        self.register_load_state_dict_pre_hook(_check_layout_on_load)

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
        if self.training and self.straight_through:
            rounded = self.entropy_bottleneck.quantize(
                latent, 'dequantize', self.entropy_bottleneck._get_medians())
            latent_hat = latent + (rounded - latent).detach()
        if not latent.is_contiguous() and latent.is_contiguous(
                memory_format=torch.channels_last):
            # CompressAI's bottleneck returns NCHW; decode in the encoder's layout, as the
            # edge path (quantize on the latent itself) does, so both give the same f2
            latent_hat = latent_hat.contiguous(memory_format=torch.channels_last)
        return dict(f2=self.decoder(latent_hat), latent=latent_hat,
                    likelihoods=dict(re=likelihoods))
