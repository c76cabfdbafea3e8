"""``RateLossHook``: DICM's rate terms in the loss dict of a stock detector or classifier."""
from typing import Any, Dict, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.registry import HOOKS

from .codec_hook import (CodecForwardHook, check_weight, find_codec_modules, forward_mode,
                         likelihood_bpp, unwrap_model)

__all__ = ['RateLossHook', 'TASK_LOSS', 'TOTAL_LOSS', 'TRANSMITTED']

#: likelihood keys of the transmitted latents (the RE latent ``'re'`` is not transmitted)
TRANSMITTED = ('y', 'z')

#: the key ``BaseModel.parse_losses`` logs the optimised total under, and what
#: :class:`RateLossHook` renames a model's own loss of that name to
TOTAL_LOSS, TASK_LOSS = 'loss', 'loss_task'


@HOOKS.register_module()
class RateLossHook(CodecForwardHook):
    """Add DICM's rate and aux losses to a stock model's loss dict.

    A torch forward hook on the (unwrapped) model extends the loss dict of every
    ``mode='loss'`` forward with ``loss_rate = lambda_rate * bpp`` (y and z bits per input
    pixel), ``loss_rate_re`` (the RE latent, not transmitted), ``loss_aux`` (CompressAI's
    quantile loss) and the logged ``bpp``/``bpp_re``; a model loss named ``loss`` becomes
    ``loss_task`` so the logged total is the optimised one. Details, the quantiles' optimizer
    group and why configs do not clip: ``docs/training.md``. Subclasses add terms through
    :meth:`loss_terms`.

    Args:
        lambda_rate (float): Weight of the transmitted rate, ``loss_rate = lambda_rate * bpp``
            (the paper's λ; sweep it for a rate-accuracy curve).
        lambda_re (float): Weight of the RE latent's rate, ``loss_rate_re``. Defaults to 0
            (not added).
        aux_weight (float): Weight of the entropy models' quantile loss, ``loss_aux``.
            Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, lambda_rate: float, lambda_re: float = 0., aux_weight: float = 1.) -> None:
        super().__init__()
        self.lambda_rate = check_weight('lambda_rate', lambda_rate)
        self.lambda_re = check_weight('lambda_re', lambda_re)
        self.aux_weight = check_weight('aux_weight', aux_weight)

    # ------------------------------------------------------------------ mmengine hook points
    def before_train(self, runner) -> None:
        self.attach(unwrap_model(runner.model))

    def after_train(self, runner) -> None:
        self.detach()

    def after_run(self, runner) -> None:
        self.detach()

    # ------------------------------------------------------------------ torch hooks
    def attach(self, model: nn.Module) -> None:
        """Find ``model``'s codec modules and hook its forward (replacing earlier hooks)."""
        self.detach()
        modules = find_codec_modules(model)
        if not modules:
            raise RuntimeError(
                f'RateLossHook found no codec module in {type(model).__name__}: expected a '
                'module with `codec`, `last_likelihoods` and `last_num_pixels` (DICMResNet or '
                'DICMCodecNeck with a codec). Remove the hook or add a codec to the model.')
        self.hook_forward(model, modules)

    def _after_forward(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any],
                       output: Any) -> Any:
        if not isinstance(output, dict) or forward_mode(model, args, kwargs) != 'loss':
            return None
        for name, m in self._modules:
            if not self.ran(m):
                raise RuntimeError(
                    f'RateLossHook: codec module {name!r} ({type(m).__name__}) did not run in '
                    f'this {type(model).__name__} loss forward; its likelihoods are stale')
        terms = self.loss_terms(self._modules)
        if TOTAL_LOSS in output:  # mmpretrain: it would overwrite the logged total
            if TASK_LOSS in output:
                raise KeyError(f'RateLossHook: the model loss dict has both {TOTAL_LOSS!r} and '
                               f'{TASK_LOSS!r}')
            output = {(TASK_LOSS if k == TOTAL_LOSS else k): v for k, v in output.items()}
        clash = sorted(set(terms) & set(output))
        if clash:
            raise KeyError(f'RateLossHook: the model loss dict already has {clash}')
        output.update(terms)
        return output

    # ------------------------------------------------------------------ the terms
    def loss_terms(self, modules: Sequence[Tuple[str, nn.Module]]) -> Dict[str, torch.Tensor]:
        """Terms added to the loss dict of a ``mode='loss'`` forward.

        Rates of several codec modules add up (each is bits over the same input pixels).
        Override to add terms (e.g. feature distortion); keys containing ``'loss'`` are
        optimised, the others only logged.
        """
        bpp, bpp_re, aux = [], [], []
        for _, m in modules:
            lik, pixels = m.last_likelihoods, m.last_num_pixels
            for acc, keys in ((bpp, TRANSMITTED), (bpp_re, ('re', ))):
                value = likelihood_bpp(lik, keys, pixels)
                if value is not None:
                    acc.append(value)
            if self.aux_weight > 0:
                aux.append(m.codec.aux_loss())
        terms: Dict[str, torch.Tensor] = {}
        if bpp:
            total = sum(bpp)
            if self.lambda_rate > 0:
                terms['loss_rate'] = self.lambda_rate * total
            terms['bpp'] = total.detach()
        if bpp_re:
            total_re = sum(bpp_re)
            if self.lambda_re > 0:
                terms['loss_rate_re'] = self.lambda_re * total_re
            terms['bpp_re'] = total_re.detach()
        aux = [a for a in aux if isinstance(a, torch.Tensor) and a.requires_grad]
        if aux:
            terms['loss_aux'] = self.aux_weight * sum(aux)
        return terms
