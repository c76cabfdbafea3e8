"""Scoped fix for torch>=2.6 ``weights_only`` loading of mmengine checkpoints.

torch >= 2.6 calls ``torch.load(..., weights_only=True)`` by default, and mmengine 0.10.7 calls
``torch.load`` without the argument, so every checkpoint the Runner wrote (which carries
mmengine's ``HistoryBuffer`` and numpy arrays/scalars in its ``message_hub``) fails to load:
``Unsupported global: mmengine.logging.history_buffer.HistoryBuffer``.

Instead of the process-wide ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` escape hatch (which turns the
safe unpickler off for everything, forever), this module allow-lists exactly the classes such a
checkpoint is made of, and only for the duration of a load:

>>> with mmengine_checkpoint_globals():        # doctest: +SKIP
...     ckpt = torch.load('epoch_1.pth')          # still weights_only=True
>>> ckpt = load_trusted_checkpoint('epoch_1.pth')  # the same, as one call # doctest: +SKIP

:class:`mmdicm.engine.DICMRunner` wraps its checkpoint loading (``load_from`` and ``resume``) in
this context; anything else is refused by torch's safe unpickler as before.
"""
import contextlib
import pickle
from typing import Callable, Iterator, List, Union

import numpy as np
import torch

__all__ = ['checkpoint_safe_globals', 'mmengine_checkpoint_globals',
           'load_trusted_checkpoint']


def _numpy_globals() -> List[object]:
    """numpy objects that pickled arrays, scalars and dtypes reference."""
    try:  # numpy >= 2 keeps the implementation in numpy._core
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [type(np.dtype(t)) for t in
                     ('b', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8',
                      'c8', 'c16', 'U', 'S', 'O')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def _mmengine_globals() -> List[object]:
    from mmengine.logging.history_buffer import HistoryBuffer

    def history_buffer_getattr(obj: object, name: str) -> object:
        """``getattr`` limited to the statistics methods ``HistoryBuffer`` pickles by name.

        ``HistoryBuffer._statistics_methods`` holds functions such as ``HistoryBuffer.min``,
        which pickle writes as ``getattr(HistoryBuffer, 'min')``. Allow-listing the real
        ``getattr`` would hand any checkpoint every attribute of every allowed class.
        """
        if obj is HistoryBuffer and not name.startswith('_') and callable(
                getattr(HistoryBuffer, name, None)):
            return getattr(HistoryBuffer, name)
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({obj!r}, {name!r}); only public HistoryBuffer '
            'methods are allowed')

    # (object, name) pairs make torch resolve GLOBAL 'builtins getattr' to the restricted one.
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')]


def checkpoint_safe_globals() -> List[object]:
    """The classes an mmengine Runner checkpoint is made of, beyond tensors and builtins."""
    return _mmengine_globals() + _numpy_globals()


@contextlib.contextmanager
def mmengine_checkpoint_globals() -> Iterator[None]:
    """Allow :func:`checkpoint_safe_globals` in ``torch.load(weights_only=True)``, scoped.

    The allow-list is restored on exit, also when loading raises.
    """
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        yield


def load_trusted_checkpoint(filename: str,
                            map_location: Union[str, Callable, None] = 'cpu') -> dict:
    """Load an mmengine checkpoint (any scheme mmengine knows) with the scoped allow-list.

    Args:
        filename (str): local path, URL, ``torchvision://``/``open-mmlab://`` name.
        map_location (str | callable, optional): as in :func:`torch.load`. Defaults to 'cpu'.

    Returns:
        dict: the checkpoint (``state_dict``, ``meta``, ``message_hub``, ...).
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    with mmengine_checkpoint_globals():
        return _load_checkpoint(filename, map_location=map_location)
