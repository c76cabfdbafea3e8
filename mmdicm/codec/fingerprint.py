"""``model_fingerprint``: a short digest of what encoder and decoder must share (stdlib only)."""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ['FINGERPRINT_SIZE', 'is_bytes_like', 'model_fingerprint']

FINGERPRINT_SIZE = 16
_FINGERPRINT_PERSON = b'mmdicm-model-fp'


def is_bytes_like(obj: Any) -> bool:
    """Whether ``obj`` exposes a buffer (bytes, bytearray, memoryview, numpy arrays), ``str``
    excluded."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True
    if isinstance(obj, str):
        return False
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True


def model_fingerprint(state: bytes | str | Mapping[str, Any] | Iterable[tuple[str, Any]]
                      ) -> bytes:
    """A short digest identifying a model's entropy-coding state.

    The model code passes whatever must match between encoder and decoder (its
    architecture config and the quantised CDF tables); a bitstream stores the result and
    :func:`unpack` can reject files written by another model. Framework-free: values are
    ``str`` (UTF-8 encoded) or bytes-like objects (bytes, numpy arrays -- call
    ``.numpy()`` on a torch tensor first). Named items are hashed in sorted name order, each
    with its name, buffer shape and item size, so dict order does not matter and
    ``('ab', 'c')`` differs from ``('a', 'bc')``.

    Args:
        state (bytes | str | Mapping | Iterable): Either one bytes-like or str value, or a
            mapping / iterable of ``(name, value)`` pairs with unique ``str`` names.

    Returns:
        bytes: ``FINGERPRINT_SIZE`` (16) bytes of personalised BLAKE2b.

    Example:
        >>> fp = model_fingerprint({'config': '{"N": 192}', 'cdf': bytes(range(8))})
        >>> len(fp), fp == model_fingerprint([('cdf', bytes(range(8))), ('config', '{"N": 192}')])
        (16, True)
    """
    if isinstance(state, str) or is_bytes_like(state):
        items = [('', state)]
    elif isinstance(state, Mapping):
        items = list(state.items())
    else:
        try:
            items = list(state)
        except TypeError:
            raise TypeError('model_fingerprint() expects bytes, str, a mapping or an '
                            f'iterable of (name, value) pairs, got {type(state).__name__}'
                            ) from None
    checked = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2
                and isinstance(item[0], str)):
            raise TypeError(f'model_fingerprint() items must be (str, value) pairs, '
                            f'got {item!r:.80}')
        name, value = item
        if isinstance(value, str):
            kind, meta, raw = b's', b'', value.encode('utf-8')
        elif is_bytes_like(value):
            view = memoryview(value)
            kind, raw = b'b', view.tobytes()
            meta = struct.pack(f'<BQ{view.ndim}Q', view.ndim, view.itemsize, *view.shape)
        else:
            raise TypeError(f'model_fingerprint() value for {name!r} must be str or '
                            f'bytes-like (numpy arrays are; call .numpy() on a torch '
                            f'tensor), got {type(value).__name__}')
        checked.append((name, kind, meta, raw))
    checked.sort(key=lambda x: x[0])
    for a, b in zip(checked, checked[1:]):
        if a[0] == b[0]:
            raise ValueError(f'model_fingerprint() got the name {a[0]!r} twice')

    digest = hashlib.blake2b(digest_size=FINGERPRINT_SIZE, person=_FINGERPRINT_PERSON)
    digest.update(struct.pack('<Q', len(checked)))
    for name, kind, meta, raw in checked:
        for field in (name.encode('utf-8'), kind, meta, raw):
            digest.update(struct.pack('<Q', len(field)))
            digest.update(field)
    return digest.digest()
