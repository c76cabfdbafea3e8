"""Entropy-model state that survives checkpoints of any size.

CompressAI's entropy models keep their CDF tables in buffers whose size is only known after
``update()``: a freshly built model has empty ones. ``CompressionModel.load_state_dict``
resizes them, but only when it is the top-level module; inside a detector (mmengine loads
checkpoints module by module) the sizes clash. A load-state-dict pre-hook on every entropy
model resizes its buffers to the checkpoint's, wherever the model sits in the module tree.

:class:`EntropyBottleneck` and :class:`GaussianConditional` are CompressAI's, decoding with
the bounds-checked :mod:`mmdicm.codec.rans` (the latter also with a one-op ``build_indexes``).
"""
from typing import Any, List, Optional

import numpy as np
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck as _EntropyBottleneck
from compressai.entropy_models import EntropyModel
from compressai.entropy_models import GaussianConditional as _GaussianConditional

from . import rans
from .bitstream import BitstreamError

__all__ = ['ENTROPY_BUFFERS', 'EntropyBottleneck', 'GaussianConditional', 'bounded_decompress',
           'check_bypass', 'check_encodable', 'resize_entropy_buffers_on_load']

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


def bounded_decompress(model: EntropyModel,
                       strings: List[bytes],
                       indexes: torch.Tensor,
                       dtype: torch.dtype = torch.float,
                       means: Optional[torch.Tensor] = None,
                       what: str = 'string') -> torch.Tensor:
    """``EntropyModel.decompress`` with :func:`mmdicm.codec.rans.decode`: a string that is
    not exactly what the encoder wrote raises :class:`BitstreamError`, never reads out of
    bounds. Same outputs as CompressAI's for every valid string."""
    if not isinstance(strings, (list, tuple)) or len(strings) != indexes.size(0):
        raise ValueError(f'got {len(strings)} strings for {indexes.size(0)} index maps')
    for name in ('_quantized_cdf', '_offset', '_cdf_length'):
        if getattr(model, name).numel() == 0:
            raise RuntimeError('entropy tables are empty: call update(force=True) after '
                               'training or loading weights, before real coding (in a '
                               "config, keep dict(type='EntropyUpdateHook') in custom_hooks)")
    tables = [getattr(model, name).detach().cpu().numpy()
              for name in ('_quantized_cdf', '_cdf_length', '_offset')]
    flat = indexes.detach().cpu().reshape(indexes.size(0), -1).numpy()
    symbols = np.empty(flat.shape, dtype=np.int32)
    for i, data in enumerate(strings):
        label = what if len(strings) == 1 else f'{what} {i}'
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BitstreamError(f'{label}: expected bytes, got {type(data).__name__}')
        symbols[i] = rans.decode(data, flat[i], *tables, what=label)
    outputs = torch.from_numpy(symbols).reshape(indexes.shape).to(indexes.device)
    return model.dequantize(outputs, means, dtype)


#: CompressAI's encoder loops forever on bypass values of 2**28 or more (a 32-bit shift)
_MAX_BYPASS_RAW = 1 << 28


def check_encodable(model: EntropyModel, inputs: torch.Tensor, indexes: torch.Tensor,
                    means: Optional[torch.Tensor], what: str) -> None:
    """Refuse, with a ``ValueError`` naming ``what``, latents that CompressAI's rANS encoder
    cannot code safely: non-finite values (it spins on them), values whose bypass code needs
    a 32-bit shift (>= 2**27 steps outside the table: it spins), and so many bypass values
    that its output buffer (4 bytes per symbol) could overflow. Real latents are far inside
    all three limits; a broken input or model is not."""
    bad = ~torch.isfinite(inputs)
    if bool(bad.any()):
        raise ValueError(f'{what} has {int(bad.sum())} non-finite values (NaN/Inf): the input '
                         'or the model is broken; refusing to entropy-code it')
    symbols = inputs if means is None else inputs - means
    # int32 in CompressAI; int64 here, clamped far beyond the limit, so the check can see it
    symbols = torch.round(symbols.double()).clamp(-2.0**40, 2.0**40).long()
    idx = indexes.long().cpu()
    value = symbols.cpu() - model._offset.long().cpu()[idx]
    check_bypass(value, model._cdf_length.long().cpu()[idx] - 2, what)


def check_bypass(value: torch.Tensor, max_value: torch.Tensor, what: str,
                 buffer_bound: bool = True) -> None:
    """The bypass part of :func:`check_encodable` for any table layout: ``value`` = symbol -
    offset (int64, batch first), ``max_value`` = its table's length - 2 (same shape).
    ``buffer_bound=False`` skips the bound of CompressAI's fixed output buffer (for
    :func:`mmdicm.codec.rans.encode`, which sizes its output exactly)."""
    raw = torch.where(value < 0, -2 * value - 1,
                      torch.where(value >= max_value, 2 * (value - max_value), 0))
    worst = int(raw.max()) if raw.numel() else 0
    if worst >= _MAX_BYPASS_RAW:
        raise ValueError(f'{what} holds a value {worst // 2} quantisation steps outside its '
                         f'entropy model\'s range (at most {_MAX_BYPASS_RAW // 2 - 1} can be '
                         'coded): the input or the model is broken')
    # bits per item, bounded above: <= 16 per symbol, plus a 4-bit count and 4-bit chunks
    # per bypass value; the encoder's buffer holds 32 bits per symbol, 2 words of state
    raw = raw.reshape(value.size(0), -1).double()
    chunks = torch.ceil(torch.log2(raw + 1) / 4)
    bypass_bits = torch.where(raw > 0, 4 + 4 * chunks, torch.zeros_like(raw)).sum(1)
    per_item = raw.size(1)
    if buffer_bound and raw.numel() and (16 * per_item + float(bypass_bits.max())
                                         > 32 * (per_item - 3)):
        raise ValueError(f'{what} has {int((raw > 0).sum())} values outside its entropy '
                         'model\'s range, too many for CompressAI\'s rANS encoder buffer: '
                         'the input or the model is broken')


class EntropyBottleneck(_EntropyBottleneck):
    """CompressAI's :class:`~compressai.entropy_models.EntropyBottleneck` (same parameters,
    buffers and strings) whose :meth:`compress` refuses what its encoder cannot code
    (:func:`check_encodable`) and whose :meth:`decompress` is bounds-checked
    (:func:`bounded_decompress`)."""

    def compress(self, x: torch.Tensor) -> List[bytes]:
        indexes = self._build_indexes(x.size())
        medians = self._get_medians().detach()
        spatial_dims = len(x.size()) - 2
        medians = self._extend_ndims(medians, spatial_dims)
        medians = medians.expand(x.size(0), *([-1] * (spatial_dims + 1)))
        check_encodable(self, x, indexes, medians, 'z latent')
        return EntropyModel.compress(self, x, indexes, medians)

    def decompress(self, strings: List[bytes], size) -> torch.Tensor:
        output_size = (len(strings), self._quantized_cdf.size(0), *size)
        indexes = self._build_indexes(output_size).to(self._quantized_cdf.device)
        medians = self._extend_ndims(self._get_medians().detach(), len(size))
        medians = medians.expand(len(strings), *([-1] * (len(size) + 1)))
        return bounded_decompress(self, strings, indexes, medians.dtype, medians, 'z string')


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
    CompressAI's; :meth:`decompress` is bounds-checked (:func:`bounded_decompress`).
    """

    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor,
                 means: Optional[torch.Tensor] = None) -> List[bytes]:
        check_encodable(self, inputs, indexes, means, 'y latent')
        return super().compress(inputs, indexes, means)

    def decompress(self,
                   strings: List[bytes],
                   indexes: torch.Tensor,
                   dtype: torch.dtype = torch.float,
                   means: Optional[torch.Tensor] = None) -> torch.Tensor:
        return bounded_decompress(self, strings, indexes, dtype, means, 'y string')

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        table = self.scale_table[:-1]
        if self.scale_table.numel() == 0 or not bool((table[1:] >= table[:-1]).all()):
            return super().build_indexes(scales)  # no table yet, or an unsorted custom one
        scales = self.lower_bound_scale(scales)
        # contiguous(): bucketize would copy a channels-last input anyway, with a warning
        return torch.bucketize(scales.contiguous(), table.to(scales.dtype), out_int32=True)
