"""Gradient clipping that leaves CompressAI's aux parameters (quantiles) out.

CompressAI trains a model with two optimizers: the main one (task + rate + distortion) and an
aux one for the entropy bottlenecks' ``quantiles``, updated by the aux loss only. Its example
trainer clips the *main* gradient (``clip_max_norm``) before the aux loss is even computed, and
DICM's released codec stage clips at 1.0 the same way (its entropy model has no aux loss).
mmdicm trains both groups with one mmengine optimizer (the quantiles in their own parameter
groups, see :mod:`mmdicm.engine.hooks`), and mmengine's ``OptimWrapper`` clips the norm of
*all* gradients together. The aux loss is a sum of absolute values, so its gradient does not
shrink as the quantiles converge: its norm stays near ``0.1 * sqrt(3 * channels)`` (2.4 for a
192-channel bottleneck, measured) while the main gradient falls, so late in training the
global norm -- and the clipping factor applied to every main gradient -- is set by the
quantiles, and the logged ``grad_norm`` says nothing about the codec.

:class:`DICMOptimWrapperConstructor` tags the parameter groups that hold only quantiles
(``group['aux'] = True``); :class:`DICMOptimWrapper` clips (and logs ``grad_norm`` of) the
other groups only, leaving the aux groups unclipped as CompressAI's aux optimizer is::

    optim_wrapper = dict(
        type='DICMOptimWrapper',                       # clip the main gradient only
        constructor='DICMOptimWrapperConstructor',     # tag the quantiles' groups
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01),
        clip_grad=dict(max_norm=1.0),
        paramwise_cfg=dict(custom_keys={
            'entropy_bottleneck.quantiles': dict(lr_mult=1.0, decay_mult=0.0)}))

Without the constructor (no tagged group) the wrapper clips everything, like ``OptimWrapper``.
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
