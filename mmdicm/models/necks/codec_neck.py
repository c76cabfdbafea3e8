"""``DICMCodecNeck``: DICM's RE + compression network on one level of any stock backbone.

For backbones that are not ResNets (Swin, ConvNeXt, ...), the codec can sit right after the
backbone instead of inside it. mmengine builds a list of necks as a ``Sequential``, so in a
stock detector::

    neck=[dict(type='DICMCodecNeck', in_channels=256, level=0),
          dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)]

Only the chosen level is compressed and replaced by its decoded version; the other levels
pass through unchanged, so this is a faithful DICM setup only when the task consumes that one
level (or the levels after it are computed from it). Use :class:`DICMResNet` for the paper's
split backbone.
"""
from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS

from ...codec import DICMFeatureCodec
from ...utils import check_int

__all__ = ['DICMCodecNeck']


@MODELS.register_module()
class DICMCodecNeck(BaseModule):
    """Compress one level of a multi-level feature tuple with DICM's feature codec.

    Args:
        in_channels (int): Channels of the compressed level.
        level (int): Index of the level in the backbone's output tuple. Defaults to 0.
        input_stride (int): That level's stride relative to the image (for containers and bits
            per pixel). Defaults to 4.
        codec (dict): :class:`~mmdicm.codec.DICMFeatureCodec` arguments (``re``, ``net``).
            Defaults to ``{}``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Attributes:
        last_likelihoods, last_num_pixels: as :class:`~mmdicm.models.DICMResNet`'s, so the
            rate hooks treat both alike.
    """

    def __init__(self,
                 in_channels: int,
                 level: int = 0,
                 input_stride: int = 4,
                 codec: Dict[str, Any] = {},  # noqa: B006 (never mutated)
                 init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        check_int('in_channels', in_channels)
        check_int('level', level, minimum=0)
        check_int('input_stride', input_stride)
        if not isinstance(codec, dict):
            raise TypeError(f'codec must be a dict of DICMFeatureCodec arguments, got {codec!r}')
        self.level = level
        self.codec = DICMFeatureCodec(
            **{**codec, 'in_channels': in_channels, 'input_stride': input_stride})
        self.last_likelihoods: Dict[str, torch.Tensor] = {}
        self.last_num_pixels = 0

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Replace ``inputs[level]`` by its decoded version; other levels pass through."""
        if not 0 <= self.level < len(inputs):
            raise ValueError(f'level={self.level} but the backbone gave {len(inputs)} levels')
        outs: List[torch.Tensor] = list(inputs)
        x = outs[self.level]
        h, w = x.shape[-2:]
        m = self.codec.stride
        padded = F.pad(x, (0, (-w) % m, 0, (-h) % m))
        out = self.codec(padded)
        self.last_likelihoods = out['likelihoods']
        self.last_num_pixels = x.shape[0] * h * w * self.codec.input_stride**2
        outs[self.level] = out['f3'][..., :h, :w]
        return tuple(outs)
