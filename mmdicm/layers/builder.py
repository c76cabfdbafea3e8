"""Choice of block for DICM's redundancy-elimination (RE) module.

The DICM paper (Tang, Yi, Wang, IEEE T-BC 2025) builds the RE encoder/decoder from
ConvFormer blocks; the authors' released code uses Conv2Former's ConvMod block. Both are
offered by name, the paper's as the default of the modules that use this builder.
"""
from typing import Any, Dict, Type

import torch.nn as nn

from .convmod import ConvModBlock
from .metaformer import ConvFormerBlock

__all__ = ['RE_BLOCKS', 'build_re_block']

#: RE block types by name; every class takes ``dim`` first and keeps (B, dim, H, W) shapes.
RE_BLOCKS: Dict[str, Type[nn.Module]] = {
    'convformer': ConvFormerBlock,  # the paper's block (MetaFormer baselines, TPAMI 2024)
    'convmod': ConvModBlock,  # the authors' released code (Conv2Former, TPAMI 2024)
}


def build_re_block(block_type: str, dim: int, **kwargs: Any) -> nn.Module:
    """Build one RE block by name.

    Args:
        block_type (str): A key of :data:`RE_BLOCKS`: ``'convformer'`` or ``'convmod'``.
        dim (int): Number of input (= output) channels.
        **kwargs: Further arguments of the chosen class (e.g. ``mlp_ratio``,
            ``kernel_size``, ``drop_path``, ``layer_scale_init_value``).

    Returns:
        nn.Module: The block, mapping (B, dim, H, W) to the same shape.

    Raises:
        ValueError: If ``block_type`` is not a registered name.

    Example:
        >>> build_re_block('convmod', 16, kernel_size=7).attn.a[2].kernel_size
        (7, 7)
    """
    if block_type not in RE_BLOCKS:
        raise ValueError(f'Unknown RE block_type {block_type!r}; valid names: '
                         f'{sorted(RE_BLOCKS)}')
    return RE_BLOCKS[block_type](dim, **kwargs)
