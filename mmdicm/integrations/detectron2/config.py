"""``cfg.MODEL.DICM`` and ``cfg.SOLVER.DICM``: DICM's keys in a detectron2 config."""
from typing import Any, Dict, Optional

from detectron2.config import CfgNode as CN

__all__ = ['add_dicm_config', 'codec_kwargs']


def add_dicm_config(cfg: CN) -> CN:
    """Add DICM's keys (defaults below) to a detectron2 config, in place; returns it.

    ``MODEL.DICM``:

    - ``SPLIT_AT`` (``'res2'``): the stage the codec follows (the paper's split);
    - ``CODEC``: :class:`~mmdicm.codec.DICMFeatureCodec` arguments with their own lower-case
      names (``preset``, ``re``, ``net``, ``max_pixels``, ...), any of them; empty = the
      default preset (the released model, ``'release'``). ``BYPASS: True`` builds no codec
      (the uncompressed reference);
    - ``FROZEN_PARTS`` (``[]``): e.g. ``['edge']`` for a task stage on a stage-4 edge;
    - ``REAL_CODING`` (False): eval on real bitstreams (rANS encode -> bytes -> decode);
    - ``LAMBDA_RATE`` (0.08), ``LAMBDA_RE`` (0.0), ``AUX_WEIGHT`` (1.0): the rate-loss hook's
      ``loss_rate = LAMBDA_RATE * bpp(y, z)``, ``loss_rate_re``, ``loss_aux``.

    ``SOLVER.DICM``: ``CODEC_LR_FACTOR`` (0.1: the codec at a tenth of the task lr, as mmdicm's
    configs) and ``QUANTILES_WEIGHT_DECAY`` (0.0: the entropy models' quantiles learn from
    the aux loss only).
    """
    cfg.MODEL.DICM = CN()
    cfg.MODEL.DICM.SPLIT_AT = 'res2'
    cfg.MODEL.DICM.CODEC = CN(new_allowed=True)
    cfg.MODEL.DICM.CODEC.BYPASS = False
    cfg.MODEL.DICM.FROZEN_PARTS = []
    cfg.MODEL.DICM.REAL_CODING = False
    cfg.MODEL.DICM.LAMBDA_RATE = 0.08
    cfg.MODEL.DICM.LAMBDA_RE = 0.0
    cfg.MODEL.DICM.AUX_WEIGHT = 1.0
    cfg.SOLVER.DICM = CN()
    cfg.SOLVER.DICM.CODEC_LR_FACTOR = 0.1
    cfg.SOLVER.DICM.QUANTILES_WEIGHT_DECAY = 0.0
    return cfg


def _plain(value: Any) -> Any:
    """A CfgNode's value as the codec wants it: dicts, tuples for lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def codec_kwargs(cfg: CN) -> Optional[Dict[str, Any]]:
    """``DICMFeatureCodec`` arguments of ``cfg.MODEL.DICM.CODEC`` (None when ``BYPASS``)."""
    if 'DICM' not in cfg.MODEL:
        raise KeyError('cfg.MODEL.DICM is missing: call '
                       'mmdicm.integrations.detectron2.add_dicm_config(cfg) before merging a '
                       'DICM config')
    codec = _plain(dict(cfg.MODEL.DICM.CODEC))
    if codec.pop('BYPASS', False):
        return None
    return codec
