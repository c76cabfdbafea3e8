"""Gradient clipping that leaves CompressAI's aux parameters (quantiles) out:
:class:`DICMOptimWrapperConstructor` tags the parameter groups that hold only quantiles and
:class:`DICMOptimWrapper` clips (and logs ``grad_norm`` of) the other groups only, as
CompressAI's aux optimizer is never clipped. Why, measured, and the config: ``docs/training.md``.
"""
from typing import List

import torch
import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

from .hooks import AUX_PARAM_KEY

__all__ = ['DICMOptimWrapper', 'DICMOptimWrapperConstructor', 'is_aux_parameter']


def is_aux_parameter(name: str) -> bool:
    """Whether a parameter name is a CompressAI aux parameter (``...quantiles``)."""
    return name.endswith(AUX_PARAM_KEY)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DICMOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor that also marks the quantiles' groups ``aux=True``.

    Needs ``paramwise_cfg`` (any; DICM configs give the ``'entropy_bottleneck.quantiles'``
    custom key), which puts every parameter in its own group; a group mixing quantiles with
    other parameters is refused.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        optim_wrapper = super().__call__(model)
        module = model.module if hasattr(model, 'module') else model
        names = {id(p): n for n, p in module.named_parameters()}
        for group in optim_wrapper.optimizer.param_groups:
            aux = [is_aux_parameter(names.get(id(p), '')) for p in group['params']]
            if any(aux) and not all(aux):
                raise ValueError(
                    'DICMOptimWrapperConstructor: a parameter group mixes the quantiles with '
                    'other parameters; add paramwise_cfg=dict(custom_keys={'
                    "'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}) "
                    'to the optim_wrapper')
            group['aux'] = bool(aux) and all(aux)
        return optim_wrapper


@OPTIM_WRAPPERS.register_module()
class DICMOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``clip_grad`` applies to the non-aux parameter groups only.

    Same arguments as :class:`~mmengine.optim.OptimWrapper`. Groups marked ``aux=True`` (by
    :class:`DICMOptimWrapperConstructor`) are stepped unclipped.
    """

    def _clip_grad(self) -> None:
        params: List[torch.Tensor] = []
        for group in self.optimizer.param_groups:
            if not group.get('aux', False):
                params.extend(group['params'])
        params = [p for p in params if p.requires_grad and p.grad is not None]
        if params:
            grad = self.clip_func(params, **self.clip_grad_kwargs)
            if grad is not None:  # clip_grad_value_ returns None
                self.message_hub.update_scalar(f'train/{self.grad_name}', float(grad))
