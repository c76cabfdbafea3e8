"""DICM's rate loss and entropy tables as detectron2 trainer hooks (``HookBase``).

The meta-architecture stays detectron2's own (GeneralizedRCNN, RetinaNet, ...): as mmdicm's
``RateLossHook`` does for mmdet, :class:`DICMRateLossHook` puts a torch forward hook on the
model that extends its training loss dict with ``loss_rate`` / ``loss_aux`` (detectron2's
trainer sums every value of that dict) and logs ``bpp`` to the ``EventStorage`` (not into the
dict: it would be summed into the loss).
"""
from typing import Any, Dict, List, Tuple

import torch
import torch.nn as nn
from detectron2.engine import HookBase
from detectron2.utils.events import get_event_storage

from ...codec.rate import likelihood_bpp

__all__ = ['DICMEntropyUpdateHook', 'DICMRateLossHook', 'find_dicm_backbones',
           'update_entropy_tables']


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel / DataParallel."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel,
                                              nn.DataParallel)) else model


def find_dicm_backbones(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of every module with a codec and rate bookkeeping (duck-typed, as
    mmdicm's hooks: a non-None ``codec``, ``last_likelihoods`` and ``last_num_pixels``)."""
    return [(name, m) for name, m in _unwrap(model).named_modules()
            if getattr(m, 'codec', None) is not None and hasattr(m, 'last_likelihoods')
            and hasattr(m, 'last_num_pixels')]


def update_entropy_tables(model: nn.Module) -> int:
    """``codec.update(force=True)`` on every DICM backbone of ``model``; returns how many."""
    found = find_dicm_backbones(model)
    for _, m in found:
        m.codec.update(force=True)
    return len(found)


class DICMRateLossHook(HookBase):
    """``loss_rate = lambda_rate * bpp(y, z)``, ``loss_rate_re = lambda_re * bpp(re)`` (when
    > 0) and ``loss_aux = aux_weight * quantile loss`` in the model's training loss dict;
    ``bpp`` (and ``bpp_re``) in the ``EventStorage``.

    Args:
        lambda_rate (float): Weight of the transmitted rate (the paper's λ).
        lambda_re (float): Weight of the RE latent's rate (not transmitted). Defaults to 0.
        aux_weight (float): Weight of CompressAI's quantile loss. Defaults to 1.
    """

    def __init__(self, lambda_rate: float, lambda_re: float = 0., aux_weight: float = 1.) -> None:
        for name, value in (('lambda_rate', lambda_rate), ('lambda_re', lambda_re),
                            ('aux_weight', aux_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    value >= 0 and value != float('inf')):
                raise ValueError(f'{name} must be a finite number >= 0, got {value!r}')
        self.lambda_rate, self.lambda_re, self.aux_weight = (float(lambda_rate),
                                                             float(lambda_re),
                                                             float(aux_weight))
        self._handles: List[Any] = []
        self._modules: List[Tuple[str, nn.Module]] = []
        self._seen: Dict[int, Any] = {}

    # ------------------------------------------------------------------ detectron2 hook points
    def before_train(self) -> None:
        self.attach(self.trainer.model)

    def after_train(self) -> None:
        self.detach()

    # ------------------------------------------------------------------ torch hooks
    def attach(self, model: nn.Module) -> None:
        """Hook ``model``'s forward (replacing earlier hooks)."""
        self.detach()
        model = _unwrap(model)
        self._modules = find_dicm_backbones(model)
        if not self._modules:
            raise RuntimeError(f'DICMRateLossHook found no DICM backbone in '
                               f'{type(model).__name__} (MODEL.BACKBONE.NAME should be one of '
                               'the build_dicm_* backbones, with a codec)')
        self._handles = [model.register_forward_pre_hook(self._before_forward),
                         model.register_forward_hook(self._after_forward)]

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._modules, self._seen = [], [], {}

    def _before_forward(self, model: nn.Module, args: Tuple) -> None:
        self._seen = {id(m): m.last_likelihoods for _, m in self._modules}

    def _after_forward(self, model: nn.Module, args: Tuple, output: Any) -> Any:
        if not model.training or not isinstance(output, dict):
            return None
        for name, m in self._modules:
            if m.last_likelihoods is self._seen.get(id(m)):
                raise RuntimeError(f'DICMRateLossHook: the DICM backbone {name!r} did not run in '
                                   'this training forward; its likelihoods are stale')
        losses, logged = self.loss_terms()
        clash = sorted(set(losses) & set(output))
        if clash:
            raise KeyError(f'DICMRateLossHook: the model loss dict already has {clash}')
        output.update(losses)
        try:
            storage = get_event_storage()
        except AssertionError:  # a forward outside a trainer: nothing to log into
            storage = None
        if storage is not None:
            storage.put_scalars(**{k: float(v) for k, v in logged.items()})
        return output

    def loss_terms(self) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """The loss terms and the logged values (``bpp``, ``bpp_re``) of the last forward."""
        bpp, bpp_re, aux = [], [], []
        for _, m in self._modules:
            for acc, keys in ((bpp, ('y', 'z')), (bpp_re, ('re', ))):
                value = likelihood_bpp(m.last_likelihoods, keys, m.last_num_pixels)
                if value is not None:
                    acc.append(value)
            if self.aux_weight > 0:
                aux.append(m.codec.aux_loss())
        losses: Dict[str, torch.Tensor] = {}
        logged: Dict[str, torch.Tensor] = {}
        if bpp:
            total = sum(bpp)
            if self.lambda_rate > 0:
                losses['loss_rate'] = self.lambda_rate * total
            logged['bpp'] = total.detach()
        if bpp_re:
            total_re = sum(bpp_re)
            if self.lambda_re > 0:
                losses['loss_rate_re'] = self.lambda_re * total_re
            logged['bpp_re'] = total_re.detach()
        aux = [a for a in aux if isinstance(a, torch.Tensor) and a.requires_grad]
        if aux:
            losses['loss_aux'] = self.aux_weight * sum(aux)
        return losses, logged


class DICMEntropyUpdateHook(HookBase):
    """``update(force=True)`` of the entropy tables after every step that is followed by a
    checkpoint or an evaluation (every ``period``-th iteration, and the last one), so saved
    and evaluated tables match the weights. Place it before ``PeriodicCheckpointer`` and
    ``EvalHook`` (:class:`~mmdicm.integrations.detectron2.DICMTrainer` does).

    Args:
        periods (int): ``SOLVER.CHECKPOINT_PERIOD``, ``TEST.EVAL_PERIOD`` (0 = never).
    """

    def __init__(self, *periods: int) -> None:
        self.periods = tuple(p for p in periods if p and p > 0)

    def after_step(self) -> None:
        next_iter = self.trainer.iter + 1
        if next_iter == self.trainer.max_iter or any(next_iter % p == 0 for p in self.periods):
            update_entropy_tables(self.trainer.model)
