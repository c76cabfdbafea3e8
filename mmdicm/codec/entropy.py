"""Entropy-model state that survives checkpoints of any size.

CompressAI's entropy models keep their CDF tables in buffers whose size is only known after
``update()``: a freshly built model has empty ones. ``CompressionModel.load_state_dict``
resizes them, but only when it is the top-level module; inside a detector (mmengine loads
checkpoints module by module) the sizes clash. A load-state-dict pre-hook on every entropy
model resizes its buffers to the checkpoint's, wherever the model sits in the module tree.
"""
from typing import Any

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyModel

__all__ = ['ENTROPY_BUFFERS', 'resize_entropy_buffers_on_load']

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
