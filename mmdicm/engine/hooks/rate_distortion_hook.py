"""``RateDistortionLossHook``: the rate *and* feature-distortion terms of DICM's training
stages (stage 2: RE, 3: RE + SSL, 4: codec), on top of :class:`RateLossHook` through its
``loss_terms``. The terms, their keys and weights per stage: ``docs/training.md``."""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseAveragedModel
from mmengine.registry import HOOKS

from .codec_hook import check_weight
from .rate_loss_hook import RateLossHook

__all__ = ['RateDistortionLossHook', 'feature_distortion', 'normalized_mse']

FEATURES = ('f1', 'f2', 'f3')


def normalized_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``MSE(pred, target) / mean(target ** 2)``, the denominator detached (and floored)."""
    return F.mse_loss(pred, target) / target.detach().pow(2).mean().clamp_min(1e-12)


METRICS = {'l1': F.l1_loss, 'l2': F.mse_loss, 'nmse': normalized_mse}


def feature_distortion(pred: torch.Tensor, target: torch.Tensor, metric: str) -> torch.Tensor:
    """Mean absolute (``'l1'``), mean squared (``'l2'``) or normalised mean squared
    (``'nmse'``) error of two feature maps."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    if pred.shape != target.shape:
        raise ValueError(f'feature shapes differ: {tuple(pred.shape)} vs '
                         f'{tuple(target.shape)}')
    return METRICS[metric](pred, target)


def _check_distortion(cfg: Any) -> Dict[str, Any]:
    if not isinstance(cfg, dict):
        raise TypeError(f'each distortion must be a dict(pred=, target=, metric=, weight=), '
                        f'got {cfg!r}')
    unknown = set(cfg) - {'pred', 'target', 'metric', 'weight', 'detach_target'}
    if unknown:
        raise ValueError(f'unknown distortion keys {sorted(unknown)}')
    pred, target = cfg.get('pred'), cfg.get('target')
    if pred not in FEATURES or target not in FEATURES or pred == target:
        raise ValueError(f'distortion pred and target must be two different features of '
                         f'{FEATURES}, got pred={pred!r}, target={target!r}')
    metric = cfg.get('metric', 'l2')
    if metric not in METRICS:
        raise ValueError(f'distortion metric must be one of {sorted(METRICS)}, got {metric!r}')
    return dict(pred=pred, target=target, metric=metric,
                weight=check_weight('distortion weight', cfg.get('weight', 1.)),
                detach_target=bool(cfg.get('detach_target', True)))


def _check_tail(cfg: Any) -> Optional[Dict[str, Any]]:
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise TypeError(f'tail_distortion must be a dict(target=, metric=, weights=) or None, '
                        f'got {cfg!r}')
    unknown = set(cfg) - {'target', 'metric', 'weights'}
    if unknown:
        raise ValueError(f'unknown tail_distortion keys {sorted(unknown)}')
    target = cfg.get('target', 'f2')
    if target not in ('f1', 'f2'):
        raise ValueError(f"tail_distortion.target (the teacher's input) must be 'f1' or "
                         f"'f2', got {target!r}")
    metric = cfg.get('metric', 'l2')
    if metric not in METRICS:
        raise ValueError(f'tail_distortion metric must be one of {sorted(METRICS)}, got '
                         f'{metric!r}')
    weights = cfg.get('weights')
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError(f'tail_distortion.weights must be a non-empty list, one weight per '
                         f'tail stage, got {weights!r}')
    weights = tuple(check_weight('tail_distortion weight', w) for w in weights)
    return dict(target=target, metric=metric, weights=weights)


def _crop_split(module: nn.Module, x: torch.Tensor, image_size: Tuple[int, int]) -> torch.Tensor:
    """The part of split features (f1/f2/f3) that covers the unpadded image."""
    s = module.stage_strides[module.split_stage]
    return x[..., :math.ceil(image_size[0] / s), :math.ceil(image_size[1] / s)]


@HOOKS.register_module()
class RateDistortionLossHook(RateLossHook):
    """Rate terms (see :class:`RateLossHook`) plus DICM's feature-distortion terms.

    Args:
        lambda_rate (float): Weight of the transmitted rate ``bpp`` (y and z). Defaults to 0.
        lambda_re (float): Weight of the RE latent's rate ``bpp_re``. Defaults to 0.
        aux_weight (float): Weight of the entropy models' quantile loss. Defaults to 1.
        distortions (list[dict]): Feature-distortion terms, each
            ``dict(pred='f2', target='f1', metric='l1', weight=128.)`` with ``pred`` and
            ``target`` among ``'f1'`` (head output), ``'f2'`` (RE output), ``'f3'`` (codec
            output), ``metric`` ``'l1'``, ``'l2'`` (default) or ``'nmse'`` and ``detach_target``
            (default True). Defaults to ``()``.
        tail_distortion (dict, optional): ``dict(target='f2', metric='l2', weights=(384.,
            256., 192.))``: the tail's stage outputs on f3 against the same (frozen) tail on
            ``target`` (no grad), one weight per tail stage (layer2, layer3, layer4 for the
            paper's split). The released code's teacher is f2 (RE on, codec off); ``'f1'``
            asks the codec and RE together to be transparent. Defaults to None.

    Example config (stage 4, codec only)::

        custom_hooks = [
            dict(type='RateDistortionLossHook', lambda_rate=0.08,
                 distortions=[dict(pred='f3', target='f2', metric='l2', weight=2048.)],
                 tail_distortion=dict(target='f2', metric='l2',
                                      weights=(384., 256., 192.))),
            dict(type='EntropyUpdateHook'),
        ]
    """

    def __init__(self,
                 lambda_rate: float = 0.,
                 lambda_re: float = 0.,
                 aux_weight: float = 1.,
                 distortions: Sequence[dict] = (),
                 tail_distortion: Optional[dict] = None) -> None:
        super().__init__(lambda_rate=lambda_rate, lambda_re=lambda_re, aux_weight=aux_weight)
        if not isinstance(distortions, (list, tuple)):
            raise TypeError(f'distortions must be a list of dicts, got {distortions!r}')
        self.distortions = [_check_distortion(d) for d in distortions]
        keys = [(d['pred'], d['target']) for d in self.distortions]
        if len(set(keys)) != len(keys):
            raise ValueError(f'duplicate distortion terms {keys}')
        self.tail_distortion = _check_tail(tail_distortion)
        self._keep: List[Tuple[nn.Module, bool]] = []

    @property
    def needs_features(self) -> bool:
        return bool(self.distortions) or self.tail_distortion is not None

    # ------------------------------------------------------------------ torch hooks
    def attach(self, model: nn.Module) -> None:
        """Hook ``model`` (see :meth:`RateLossHook.attach`), leaving momentum copies out."""
        super().attach(model)
        try:
            averaged = [name for name, m in model.named_modules()
                        if isinstance(m, BaseAveragedModel)]
            online = [(name, m) for name, m in self._modules
                      if not any(name.startswith(a + '.') for a in averaged)]
            if not online:
                raise RuntimeError('RateDistortionLossHook found codec modules only inside '
                                   'averaged (momentum) copies of the model; nothing to train')
            if self.needs_features:
                for name, m in online:
                    self._check_module(name, m)
        except Exception:
            self.detach()  # no torch hook left behind on a refused model
            raise
        self._modules = online
        if self.needs_features:
            self._keep = [(m, m.keep_features) for _, m in online]
            for _, m in online:
                m.keep_features = True

    def detach(self) -> None:
        for m, flag in self._keep:
            m.keep_features = flag
            m.last_features = {}
        self._keep = []
        super().detach()

    def _check_module(self, name: str, m: nn.Module) -> None:
        if not all(hasattr(m, a) for a in ('keep_features', 'forward_tail', 'split_stage',
                                           'stage_strides')):
            raise TypeError(f'RateDistortionLossHook: codec module {name!r} '
                            f'({type(m).__name__}) does not expose its features; feature '
                            'distortion needs a DICMResNet')
        # f2 is f1 without RE, f3 is f2 without a compression network
        same = {'f1': 'f1', 'f2': 'f1' if m.codec.re is None else 'f2'}
        same['f3'] = same['f2'] if m.codec.net is None else 'f3'
        for d in self.distortions:
            if same[d['pred']] == same[d['target']]:
                raise ValueError(f"RateDistortionLossHook: in {name!r}, {d['pred']} is "
                                 f"{d['target']} (a codec part is bypassed): the "
                                 f"distortion term would be 0")
        tail = self.tail_distortion
        if tail is None:
            return
        tail_params = [p for mod in m.part_modules('tail') for p in mod.parameters()]
        if not tail_params or any(p.requires_grad for p in tail_params):
            raise ValueError(f"RateDistortionLossHook: tail_distortion distils a frozen tail, "
                             f"but {name!r} has a trainable tail: add 'tail' to the "
                             "backbone's frozen_parts")
        num_stages = m.num_stages - m.split_stage - 1
        if len(tail['weights']) != num_stages:
            raise ValueError(f"RateDistortionLossHook: tail_distortion.weights has "
                             f"{len(tail['weights'])} weights for the {num_stages} tail "
                             f"stages of {name!r}")

    # ------------------------------------------------------------------ the terms
    def loss_terms(self, modules: Sequence[Tuple[str, nn.Module]]) -> Dict[str, torch.Tensor]:
        terms = super().loss_terms(modules)
        if not self.needs_features:
            return terms
        dist: Dict[str, List[torch.Tensor]] = {}
        tail_weighted, tail_raw = [], []
        for name, m in modules:
            feats, m.last_features = m.last_features, {}  # drop the graph references
            if not feats:
                raise RuntimeError(f'RateDistortionLossHook: {name!r} kept no features in '
                                   'this forward (real coding on in training?)')
            size = feats['image_size']
            for d in self.distortions:
                pred = _crop_split(m, feats[d['pred']], size)
                target = _crop_split(m, feats[d['target']], size)
                if d['detach_target']:
                    target = target.detach()
                dist.setdefault(f"{d['pred']}_{d['target']}", []).append(
                    feature_distortion(pred, target, d['metric']))
            if self.tail_distortion is not None:
                weighted, raw = self._tail_term(name, m, feats)
                tail_weighted.append(weighted)
                tail_raw.append(raw)
        for d in self.distortions:
            key = f"{d['pred']}_{d['target']}"
            value = sum(dist[key])
            if d['weight'] > 0:
                terms[f'loss_dist_{key}'] = d['weight'] * value
            terms[f'dist_{key}'] = value.detach()
        if tail_weighted:
            terms['loss_dist_tail'] = sum(tail_weighted)
            terms['dist_tail'] = sum(tail_raw)
        return terms

    def _tail_term(self, name: str, m: nn.Module,
                   feats: Dict[str, Any]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Weighted sum over the tail stages and the unweighted (detached) sum."""
        tail = self.tail_distortion
        if any(mod.training for part in m.part_modules('tail') for mod in part.modules()):
            raise RuntimeError(f"RateDistortionLossHook: the tail of {name!r} is in training "
                               "mode; the teacher pass would update its batch-norm "
                               "statistics. Freeze it with frozen_parts=('tail', ...)")
        with torch.no_grad():
            teacher = m.forward_tail(feats[tail['target']].detach(), feats['image_size'])
        values = [feature_distortion(s, t, tail['metric'])
                  for s, t in zip(feats['tail'], teacher)]
        weighted = sum(w * v for w, v in zip(tail['weights'], values))
        return weighted, sum(values).detach()
