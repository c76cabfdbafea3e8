"""Framework-free building blocks of DICM (torch + timm only, no OpenMMLab imports).

- :mod:`~mmdicm.layers.gnconv`: HorNet's recursive gated convolution (gnConv, the paper's
  RGC), its global-local filter and the HorNet block: the compression network's blocks.
- :mod:`~mmdicm.layers.metaformer`: ConvFormer block (the paper's RE block).
- :mod:`~mmdicm.layers.convmod`: Conv2Former's ConvMod block (the released code's RE block).
- :mod:`~mmdicm.layers.vit`: Transformer block on NCHW maps (the hyperprior's block).
- :mod:`~mmdicm.layers.context`: bidirectional masked Transformer (the context model of y),
  and its blocks unmasked (the released hyper-coder's).
- :mod:`~mmdicm.layers.builder`: RE block choice by name.
- :mod:`~mmdicm.layers.depthwise`: ``nn.Conv2d`` for depthwise convolutions with a faster CPU
  backward (same forward and parameters), used by every block above.

Every block maps (B, C, H, W) to the same shape for any H, W >= 1. Down/up-scaling layers
are CompressAI's (``compressai.models.utils.conv/deconv``,
``compressai.layers.subpel_conv3x3``), used directly where needed.
"""
from .builder import RE_BLOCKS, build_re_block
from .context import MaskedContextTransformer, RelPosTransformer
from .convmod import ConvMod, ConvModBlock, ConvModMlp
from .depthwise import DepthwiseConv2d, depthwise_conv2d
from .gnconv import GlobalLocalFilter, GnConv, HorBlock
from .metaformer import ConvFormerBlock
from .vit import ViTBlock

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'HorBlock', 'ConvFormerBlock', 'ConvMod', 'ConvModMlp',
    'ConvModBlock', 'ViTBlock', 'RE_BLOCKS', 'build_re_block', 'DepthwiseConv2d',
    'depthwise_conv2d', 'MaskedContextTransformer', 'RelPosTransformer'
]
