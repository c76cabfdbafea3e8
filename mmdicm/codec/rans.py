"""A bounds-checked decoder for CompressAI's rANS strings: no string can crash or hang it.
(And :func:`encode`: CompressAI's encoder, byte for byte, on NumPy arrays.)

Same symbols as CompressAI's ``RansDecoder.decode_with_indexes`` on every string its encoder
writes; any other string raises :class:`~mmdicm.codec.bitstream.BitstreamError`. Why and how:
``docs/bitstream.md`` ("Decoding untrusted files"). The C extension ``_rans`` is built by
``pip install``; without it a pure-Python decoder (same checks, ~100x slower) is used.
"""
import warnings
from typing import Optional

import numpy as np

from .bitstream import BitstreamError

try:
    from . import _rans
except ImportError:  # pragma: no cover - the project's setup always builds it
    _rans = None
if _rans is not None and not hasattr(_rans, 'encode'):  # built from an older _rans.c
    _rans = None

__all__ = ['decode', 'decode_python', 'encode', 'HAVE_EXTENSION']

#: whether the compiled decoder is available (else :func:`decode_python` runs)
HAVE_EXTENSION = _rans is not None

_PRECISION = 16
_BYPASS_BITS = 4
_MAX_BYPASS_CHUNKS = 8
_RANS_L = 1 << 31
_MASK64 = (1 << 64) - 1
_warned = False


def decode_python(data: bytes, indexes: np.ndarray, cdfs: np.ndarray, cdf_sizes: np.ndarray,
                  offsets: np.ndarray, out: np.ndarray,
                  starts: Optional[np.ndarray] = None) -> None:
    """The extension's algorithm in Python (reference and fallback); raises ``ValueError``.

    Arguments as :func:`decode`, plus ``out``: an int32 array of ``len(indexes)`` to fill.
    """
    if starts is not None:  # flat tables: the same rows, cut out of the flat array
        cdfs = [cdfs[int(b):int(b) + int(k)] for b, k in zip(starts, cdf_sizes)]
    if len(data) % 4:
        raise ValueError(f'length {len(data)} is not a whole number of 4-byte rANS words')
    words = np.frombuffer(data, dtype='<u4').tolist()
    n = len(indexes)
    pos = 0
    mask = (1 << _PRECISION) - 1

    def fail(message: str, i: int) -> None:
        raise ValueError(f'{message} (symbol {i} of {n}, {len(data)} bytes)')

    if len(words) < 2:
        fail('shorter than the 8-byte rANS state', 0)
    x, pos = words[0] | (words[1] << 32), 2

    def renorm(x: int, pos: int, i: int, what: str):
        if x < _RANS_L:
            if pos >= len(words):
                fail(what, i)
            x, pos = ((x << 32) | words[pos]) & _MASK64, pos + 1
        return x, pos

    for i, idx in enumerate(indexes.tolist()):
        if not 0 <= idx < len(cdfs):
            fail('CDF index out of range', i)
        cdf, size = cdfs[idx], int(cdf_sizes[idx])
        cum = x & mask
        s = 0
        while s + 1 < size and cdf[s + 1] <= cum:
            s += 1
        start, freq = int(cdf[s]), int(cdf[s + 1] - cdf[s])
        x = (freq * (x >> _PRECISION) + (x & mask) - start) & _MASK64
        x, pos = renorm(x, pos, i, 'string ends before all symbols are decoded')
        value = s
        if s == size - 2:  # bypass
            chunks = []
            for j in range(_MAX_BYPASS_CHUNKS + 1):
                chunks.append(x & 0xF)
                x, pos = renorm(x >> _BYPASS_BITS, pos, i, 'string ends inside a bypass value')
                if j == 0 and chunks[0] > _MAX_BYPASS_CHUNKS:
                    fail('invalid bypass length', i)
                if len(chunks) > chunks[0]:
                    break
            raw = sum(c << (_BYPASS_BITS * j) for j, c in enumerate(chunks[1:]))
            if raw >> 31:
                fail('bypass value out of range', i)
            value = -(raw >> 1) - 1 if raw & 1 else (raw >> 1) + size - 2
        value += int(offsets[idx])
        if not -2**31 <= value < 2**31:
            fail('decoded value out of range', i)
        out[i] = value
    if pos != len(words):
        fail('bytes left over after the last symbol', n)
    if x != _RANS_L:
        fail("final rANS state is not the encoder's (altered data)", n)


def decode(data: bytes,
           indexes: np.ndarray,
           cdfs: np.ndarray,
           cdf_sizes: np.ndarray,
           offsets: np.ndarray,
           what: Optional[str] = None,
           starts: Optional[np.ndarray] = None) -> np.ndarray:
    """Decode one rANS string of CompressAI's format.

    Args:
        data (bytes): The string (``EntropyModel.compress()`` output for one item).
        indexes (ndarray): int32, one CDF index per symbol, in coding order.
        cdfs (ndarray): int32 (n_cdfs, max_length): the entropy model's ``_quantized_cdf``.
        cdf_sizes (ndarray): int32 (n_cdfs,): its ``_cdf_length``.
        offsets (ndarray): int32 (n_cdfs,): its ``_offset``.
        what (str, optional): Names the string in error messages, e.g. ``'y string'``.
        starts (ndarray, optional): int64 (n_cdfs,): tables of different lengths in one flat
            int32 ``cdfs`` array, table ``k`` at ``cdfs[starts[k]:starts[k] + cdf_sizes[k]]``
            (per-symbol tables, :mod:`mmdicm.codec.mixture`). Without it ``cdfs`` is 2-D.

    Returns:
        ndarray: int32 symbols (offsets added), one per index.

    Raises:
        BitstreamError: The string is not exactly what the encoder writes for these
            indexes and tables (short, long, altered, or out of range).
    """
    arrays = [np.ascontiguousarray(a, dtype=np.int32)
              for a in (indexes.reshape(-1), cdfs, cdf_sizes.reshape(-1), offsets.reshape(-1))]
    out = np.empty(arrays[0].shape[0], dtype=np.int32)
    extra = () if starts is None else (np.ascontiguousarray(starts.reshape(-1), np.int64), )
    try:
        if _rans is not None:
            _rans.decode(bytes(data), *arrays, out, *extra)
        else:
            _warn_fallback()
            decode_python(bytes(data), *arrays, out, *extra)
    except ValueError as e:
        raise BitstreamError(f'{what or "rANS string"}: {e}') from None
    return out


def _warn_fallback() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn('mmdicm.codec._rans is not built (or built from an older _rans.c); '
                      'decoding with the pure-Python rANS decoder (same checks, much slower). '
                      'Reinstall mmdicm (`pip install -e .`) with a C compiler to build it.')


def encode(symbols: np.ndarray,
           indexes: np.ndarray,
           cdfs: np.ndarray,
           cdf_sizes: np.ndarray,
           offsets: np.ndarray,
           starts: Optional[np.ndarray] = None) -> bytes:
    """CompressAI's ``RansEncoder.encode_with_indexes`` on arrays: the same bytes (tested),
    without converting every table to a Python list (per-symbol tables of a 512x512 latent:
    ~1.4 s through CompressAI's list interface). Tables as :func:`decode` takes them.
    Raises ``ValueError`` for a value 2**30 or more steps outside its table."""
    arrays = [np.ascontiguousarray(a, dtype=np.int32).reshape(-1) if a is not cdfs
              else np.ascontiguousarray(a, dtype=np.int32)
              for a in (symbols, indexes, cdfs, cdf_sizes, offsets)]
    if _rans is not None:
        extra = () if starts is None else (np.ascontiguousarray(starts.reshape(-1), np.int64), )
        return _rans.encode(*arrays, *extra)
    from compressai import ans  # the fallback: CompressAI's own encoder
    sym, idx, tables, sizes, offs = arrays
    if starts is None:
        rows = tables.tolist()
    else:
        flat = tables.tolist()
        rows = [flat[s:s + k] for s, k in zip(starts.tolist(), sizes.tolist())]
    return ans.RansEncoder().encode_with_indexes(sym.tolist(), idx.tolist(), rows,
                                                 sizes.tolist(), offs.tolist())
