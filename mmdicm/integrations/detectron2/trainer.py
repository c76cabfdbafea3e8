"""``DICMTrainer``: detectron2's ``DefaultTrainer`` with DICM's hooks, optimizer groups and
checkpointer. A trainer of your own gets the same by copying its four overrides."""
import os
import weakref
from typing import Any, List

import torch
from detectron2.engine import DefaultTrainer, hooks
from detectron2.evaluation import COCOEvaluator, PascalVOCDetectionEvaluator
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping

from .checkpoint import DICMCheckpointer
from .hooks import DICMEntropyUpdateHook, DICMRateLossHook, update_entropy_tables

__all__ = ['DICMTrainer', 'build_dicm_optimizer']


def build_dicm_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """detectron2's ``build_optimizer`` (SGD, its norm/bias rules) with two changes from
    ``cfg.SOLVER.DICM``: the codec's parameters at ``CODEC_LR_FACTOR`` x the lr, and the
    entropy models' quantiles (trained by ``loss_aux`` only) without weight decay."""
    params = get_default_optimizer_params(
        model, base_lr=cfg.SOLVER.BASE_LR, weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR, weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS)
    names = {id(p): n for n, p in model.named_parameters()}
    for group in params:
        for p in group['params']:
            name = names.get(id(p), '')
            if '.codec.' in f'.{name}':
                group['lr'] = group.get('lr', cfg.SOLVER.BASE_LR) * cfg.SOLVER.DICM.CODEC_LR_FACTOR
            if name.endswith('entropy_bottleneck.quantiles'):
                group['lr'] = cfg.SOLVER.BASE_LR
                group['weight_decay'] = cfg.SOLVER.DICM.QUANTILES_WEIGHT_DECAY
    if any(len(g['params']) != 1 for g in params):  # detectron2 0.5 gives one per parameter
        raise RuntimeError('expected one parameter per optimizer group from detectron2')
    return maybe_add_gradient_clipping(cfg, torch.optim.SGD)(
        params, lr=cfg.SOLVER.BASE_LR, momentum=cfg.SOLVER.MOMENTUM,
        nesterov=cfg.SOLVER.NESTEROV, weight_decay=cfg.SOLVER.WEIGHT_DECAY)


class DICMTrainer(DefaultTrainer):
    """``DefaultTrainer`` + :class:`DICMRateLossHook` (``cfg.MODEL.DICM.LAMBDA_*``),
    :class:`DICMEntropyUpdateHook` (before checkpoints and evaluations),
    :func:`build_dicm_optimizer`, :class:`DICMCheckpointer`; entropy tables refreshed before
    every :meth:`test`; COCO evaluation with pycocotools' own COCOeval (detectron2-cdo has no
    compiled fast evaluator)."""

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_dicm_optimizer(cfg, model)

    def build_hooks(self) -> List[Any]:
        # DefaultTrainer.__init__ made a DetectionCheckpointer just before calling this
        self.checkpointer = DICMCheckpointer(self.checkpointer.model, self.cfg.OUTPUT_DIR,
                                             trainer=weakref.proxy(self))
        dicm = self.cfg.MODEL.DICM
        ret = [h for h in super().build_hooks() if h is not None]
        first = next((i for i, h in enumerate(ret)
                      if isinstance(h, (hooks.PeriodicCheckpointer, hooks.EvalHook))), len(ret))
        ret.insert(first, DICMEntropyUpdateHook(self.cfg.SOLVER.CHECKPOINT_PERIOD,
                                                self.cfg.TEST.EVAL_PERIOD))
        ret.insert(0, DICMRateLossHook(dicm.LAMBDA_RATE, dicm.LAMBDA_RE, dicm.AUX_WEIGHT))
        return ret

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        update_entropy_tables(model)
        return super().test(cfg, model, evaluators)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, 'inference')
        if 'voc' in dataset_name:
            return PascalVOCDetectionEvaluator(dataset_name)
        return COCOEvaluator(dataset_name, output_dir=output_folder, use_fast_impl=False)
