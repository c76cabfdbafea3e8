"""Estimated rate from likelihoods: bits per input pixel (framework-free; the training hooks of
mmdet/mmpretrain and of detectron2 both use it)."""
from typing import Dict, Optional, Sequence

import torch

__all__ = ['likelihood_bpp']


def likelihood_bpp(likelihoods: Dict[str, torch.Tensor], keys: Sequence[str],
                   num_pixels: int) -> Optional[torch.Tensor]:
    """Estimated bits per input pixel of the latents ``keys``: ``Σ -log2(lik) / num_pixels``.

    Returns None if none of ``keys`` is in ``likelihoods``.
    """
    present = [likelihoods[k] for k in keys if k in likelihoods]
    if not present:
        return None
    if num_pixels <= 0:
        raise RuntimeError(f'num_pixels must be positive to compute bpp, got {num_pixels}')
    return sum(torch.log2(lik).sum() for lik in present) / (-num_pixels)
