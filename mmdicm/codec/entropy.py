"""Entropy-model state that survives checkpoints of any size.

CompressAI's entropy models keep their CDF tables in buffers whose size is only known after
``update()``: a freshly built model has empty ones. ``CompressionModel.load_state_dict``
resizes them, but only when it is the top-level module; inside a detector (mmengine loads
checkpoints module by module) the sizes clash. A load-state-dict pre-hook on every entropy
model resizes its buffers to the checkpoint's, wherever the model sits in the module tree.

:class:`GaussianConditional` is CompressAI's with a one-op ``build_indexes``.
"""
from typing import Any

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyModel
from compressai.entropy_models import GaussianConditional as _GaussianConditional

__all__ = ['ENTROPY_BUFFERS', 'GaussianConditional', 'resize_entropy_buffers_on_load']

#: buffers whose size depends on ``update()``
ENTROPY_BUFFERS = ('_quantized_cdf', '_offset', '_cdf_length', 'scale_table')


def _resize_hook(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    for name in ENTROPY_BUFFERS:
        key = prefix + name
        buf = module._buffers.get(name)
        if key in state_dict and buf is not None and buf.shape != state_dict[key].shape:
            module._buffers[name] = torch.empty_like(state_dict[key], device=buf.device)


def resize_entropy_buffers_on_load(model: nn.Module) -> nn.Module:
    """Make every CompressAI entropy model inside ``model`` accept CDF buffers of any size
    from a state dict (loaded through any path: torch, mmengine, ``init_cfg``)."""
    for module in model.modules():
        if isinstance(module, EntropyModel):
            module.register_load_state_dict_pre_hook(_resize_hook)
    return model


class GaussianConditional(_GaussianConditional):
    """CompressAI's :class:`~compressai.entropy_models.GaussianConditional`, whose
    :meth:`build_indexes` is one ``torch.bucketize`` instead of a Python loop of three tensor
    ops per scale-table entry (64 by default).

    The loop took ~8 ms of a 512x512 encode or decode on one thread (3 % of the codec's
    decode) and, with threads preempted on a busy machine, seconds. The indexes are the
    same integers: CompressAI's is ``len(table) - 1`` minus the number of entries
    ``table[:-1]`` with ``scale <= s``, i.e. the number of entries ``< scale``, which is
    what ``bucketize(scale, table[:-1])`` (``right=False``) counts. An unsorted custom table
    falls back to CompressAI's loop. State dict, entropy tables and bitstreams are
    CompressAI's.
    """

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self.scale_table[:-1]
        if self.scale_table.numel() == 0 or not bool((table[1:] >= table[:-1]).all()):
            return super().build_indexes(scales)  # no table yet, or an unsorted custom one
        scales = self.lower_bound_scale(scales)
        # contiguous(): bucketize would copy a channels-last input anyway, with a warning
        return torch.bucketize(scales.contiguous(), table.to(scales.dtype), out_int32=True)
