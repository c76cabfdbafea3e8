"""What the codec hooks share: finding codec modules, bpp from likelihoods, and a model
forward hook that knows whether each codec module ran in that forward."""
import inspect
import math
from typing import Any, Dict, List, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...codec.rate import likelihood_bpp

__all__ = ['AUX_PARAM_KEY', 'CodecForwardHook', 'check_weight', 'find_codec_modules',
           'forward_mode', 'likelihood_bpp', 'unwrap_model']

#: ``paramwise_cfg.custom_keys`` key matching CompressAI's aux parameters (longer than
#: ``'backbone.codec'``, so it wins mmengine's longest-key-first match)
AUX_PARAM_KEY = 'entropy_bottleneck.quantiles'


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside an mmengine model wrapper (DDP, FSDP, ...), else ``model``."""
    return model.module if is_model_wrapper(model) else model


def find_codec_modules(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every module with a codec and rate bookkeeping.

    Duck-typed: a module with a non-None ``codec`` and the ``last_likelihoods`` /
    ``last_num_pixels`` attributes (:class:`~mmdicm.models.DICMResNet`,
    :class:`~mmdicm.models.DICMCodecNeck`). A ``DICMResNet(codec=None)`` has no codec.
    """
    return [(name, m) for name, m in model.named_modules()
            if getattr(m, 'codec', None) is not None and hasattr(m, 'last_likelihoods')
            and hasattr(m, 'last_num_pixels')]


def check_weight(name: str, value: Any) -> float:
    """``value`` as a float, or ``TypeError``/``ValueError`` naming ``name`` unless it is a
    finite number >= 0 (a loss weight)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a non-negative number, got {value!r}')
    if not math.isfinite(value) or value < 0:
        raise ValueError(f'{name} must be a finite number >= 0, got {value!r}')
    return float(value)


def forward_mode(model: nn.Module, args: Tuple, kwargs: Dict[str, Any]) -> Any:
    """The ``mode`` a forward was called with (keyword, positional or default)."""
    if 'mode' in kwargs:
        return kwargs['mode']
    try:
        bound = inspect.signature(model.forward).bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return bound.arguments.get('mode')


class CodecForwardHook(Hook):
    """Base of the hooks that watch a model's forward for its codec modules.

    :meth:`hook_forward` registers a forward pre-hook and a forward hook on the (unwrapped)
    model; before each forward it remembers every codec module's :attr:`watched` attribute
    (``last_likelihoods``, ``last_bitstreams``), so :meth:`ran` can tell whether a module
    ran in that forward (it replaces the object). Subclasses implement
    :meth:`_after_forward` and call :meth:`detach` when they are done.
    """

    #: the codec-module attribute a forward replaces
    watched = 'last_likelihoods'

    def __init__(self) -> None:
        self._handles: List[Any] = []
        self._modules: List[Tuple[str, nn.Module]] = []
        self._seen: Dict[int, Any] = {}

    def hook_forward(self, model: nn.Module, modules: List[Tuple[str, nn.Module]]) -> None:
        """Watch ``modules`` (from :func:`find_codec_modules`) in ``model``'s forwards,
        replacing earlier hooks."""
        self.detach()
        self._modules = modules
        self._handles = [
            model.register_forward_pre_hook(self._before_forward),
            model.register_forward_hook(self._after_forward, with_kwargs=True),
        ]

    def detach(self) -> None:
        """Remove the torch hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._modules, self._seen = [], [], {}

    def ran(self, module: nn.Module) -> bool:
        """Whether ``module`` ran in the current forward."""
        return getattr(module, self.watched) is not self._seen.get(id(module))

    def _before_forward(self, model: nn.Module, args: Tuple) -> None:
        self._seen = {id(m): getattr(m, self.watched) for _, m in self._modules}

    def _after_forward(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any],
                       output: Any) -> Any:
        raise NotImplementedError
