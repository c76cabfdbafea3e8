"""``DICMMoCoV2``: mmpretrain's MoCo v2 whose encoders carry DICM's feature codec.

Tang, Yi, Wang, "Towards Learned Image Compression for Multiple Semantic Analysis Tasks",
IEEE T-BC 2025: the backbone is pre-trained by semantic-guided MoCo v2 (positive crops inside
a heatmap box, :class:`~mmdicm.datasets.transforms.SemanticGuidedCrop`) under a bitrate
constraint, in four stages that chain by checkpoint::

    view q ─ DICMResNet (head ─►f1─ RE ─►f2─ codec ─►f3─ tail) ─ neck ─ q ┐
    view k ─ momentum copy (EMA, no grad) ─────────────────────── neck ─ k ┴─ InfoNCE(q, k, queue)
                           │            │
                    bpp_re, l1(f2, f1)  bpp, l2(f3, f2), l2(tail(f3), tail(f2))
                    └────────── RateDistortionLossHook (mmdicm.engine) ──────────┘

The queue, the momentum encoder, the temperature and the InfoNCE loss are mmpretrain's
:class:`~mmpretrain.models.selfsup.MoCo` (MoCo v2 = MoCo + ``MoCoV2Neck`` + v2 augmentations).
What this class adds:

- ``contrastive_weight``: the loss is ``loss_contrastive = weight * InfoNCE`` (named apart
  from mmengine's total ``loss``, so the logged total includes the hook's terms). With weight 0
  (stages 2 and 4, codec parts trained alone) no key is encoded and no queue is touched: only
  the first view goes through the backbone, for the hook's rate and distortion terms; the
  neck, unused, is frozen; and the momentum encoder is kept an exact copy of the online
  encoder, so that a later contrastive stage (3) starts from a key encoder that has the
  freshly trained parts (e.g. the RE module of stage 2) instead of their random init.
- Buffers whose size changes with ``update()`` (CompressAI's CDF tables) are resized in the
  momentum encoder before mmengine's EMA copies buffers into it (``copy_`` would fail).

The rate and distortion terms are not in this class: they come from
:class:`~mmdicm.engine.RateDistortionLossHook`, the one mechanism that also trains the codec
under stock detectors and classifiers. The checkpoint keys are MoCo's: ``backbone.*`` (a
:class:`~mmdicm.models.DICMResNet` with mmdet ResNet names, what detectors and classifiers
load), ``neck.*``, ``encoder_k.module.{0,1}.*``, ``encoder_k.steps``, ``queue``, ``queue_ptr``.

The four stages (``configs/ssl/``; CPU variants in ``configs/ssl/demo/``, all four plus a
detector fine-tune in one command: ``tools/ssl_pipeline.py``)::

    stage  trains                 loss (RateDistortionLossHook adds all but InfoNCE)
    1      backbone (no codec)    InfoNCE                                    SGD 0.03, 800 ep
    2      RE                     bpp_re + 128 l1(f2, f1)                    Adam 1e-4, 20 ep
    3      backbone + RE          InfoNCE + 0.1 bpp_re + 0.1 l1(f2, f1)      SGD 1e-3, 200 ep
    4      compression network    0.08 bpp + 2048 l2(f3, f2) + tail l2       AdamW 1e-4, clip 1

Stage k+1 loads stage k's checkpoint with ``load_from`` (each config names the previous stage's
last checkpoint in ``work_dirs/``; override with ``--cfg-options load_from=...``). mmengine
loads non-strictly: the part a stage adds (``codec.re.*`` in stage 2, ``codec.net.*`` in
stage 4, in ``backbone`` and ``encoder_k``) is reported missing and starts from its init;
nothing else is missing or unexpected. Parts are frozen with the backbone's ``frozen_parts``.

From stage 4 to the task models: the ``backbone.*`` keys of the stage-4 checkpoint are the
whole :class:`~mmdicm.models.DICMResNet` (ResNet, RE, compression network and its entropy
tables) of ``configs/mask-rcnn_dicm.py``, ``faster-rcnn_dicm_voc0712.py``, ``retinanet_dicm.py``
and ``resnet50_dicm_in1k.py`` (same depth, split and codec). Point their backbone's
``init_cfg`` at it (``DICMPretrained`` is mmengine's ``Pretrained`` able to read Runner
checkpoints under torch >= 2.6; the stock one fails with ``Weights only load failed``)::

    python tools/train.py configs/mask-rcnn_dicm.py --cfg-options \
        model.backbone.init_cfg.type=DICMPretrained model.backbone.init_cfg.prefix=backbone. \
        model.backbone.init_cfg.checkpoint=work_dirs/stage4_codec_r50_8xb4-adamw-coslr-20e_in1k/epoch_20.pth

(``load_from=<that checkpoint> model.backbone.init_cfg=None`` works too: the detector's own
keys are ``backbone.*`` as well; the MoCo-only keys are reported unexpected and ignored.)

Example:
    >>> import torch
    >>> from mmengine.registry import DefaultScope
    >>> from mmpretrain.registry import MODELS
    >>> cfg = dict(type='DICMMoCoV2', queue_len=8, feat_dim=4, contrastive_weight=1.,
    ...            backbone=dict(type='DICMResNet', depth=18, out_indices=(3,), codec=None),
    ...            neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=8,
    ...                      out_channels=4),
    ...            head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
    ...                      temperature=0.2))
    >>> with DefaultScope.overwrite_default_scope('mmpretrain'):
    ...     model = MODELS.build(cfg)
    >>> x = [torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)]
    >>> sorted(model.loss(x, None))
    ['loss_contrastive']
"""
import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from mmpretrain.models.selfsup import MoCo

__all__ = ['DICMMoCoV2']


@MODELS.register_module()
class DICMMoCoV2(MoCo):
    """MoCo v2 with a weighted contrastive term, for DICM's staged training.

    Registered in mmengine's root ``MODELS`` registry (as :class:`~mmdicm.models.DICMResNet`),
    so configs with ``default_scope='mmpretrain'`` find it through ``custom_imports``.

    Args:
        backbone (dict): Backbone config, normally a ``DICMResNet`` with ``out_indices=(3,)``.
        neck (dict): ``MoCoV2Neck`` config.
        head (dict): ``ContrastiveHead`` config (its ``temperature`` is MoCo's T).
        contrastive_weight (float): Weight of the InfoNCE loss; 0 turns the contrastive branch
            off (see the module docstring). Defaults to 1.
        queue_len (int): Negative keys in the queue. Defaults to 65536.
        feat_dim (int): Dimension of the projected features. Defaults to 128.
        momentum (float): EMA coefficient of the key encoder (mmengine convention: ``1 - m``
            of the MoCo paper, 0.001 for m = 0.999). Defaults to 0.001.
        pretrained (str, optional): As in mmpretrain. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 contrastive_weight: float = 1.,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if isinstance(contrastive_weight, bool) or not isinstance(
                contrastive_weight, (int, float)) or not math.isfinite(
                    contrastive_weight) or contrastive_weight < 0:
            raise ValueError(f'contrastive_weight must be a finite number >= 0, got '
                             f'{contrastive_weight!r}')
        super().__init__(backbone=backbone, neck=neck, head=head, queue_len=queue_len,
                         feat_dim=feat_dim, momentum=momentum, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.contrastive_weight = float(contrastive_weight)
        if self.contrastive_weight == 0:
            self.neck.requires_grad_(False)  # unused: no gradient, no optimizer update

    @property
    def contrastive(self) -> bool:
        """Whether the contrastive branch runs (``contrastive_weight > 0``)."""
        return self.contrastive_weight > 0

    def _match_momentum_buffers(self) -> None:
        """Give every key-encoder buffer the shape of its online twin (CDF tables grow and
        shrink with ``update()``); mmengine's EMA then copies them in place."""
        online = nn.Sequential(self.backbone, self.neck)
        for b_avg, b_src in zip(self.encoder_k.module.buffers(), online.buffers()):
            if b_avg.shape != b_src.shape:
                b_avg.data = torch.empty_like(b_src)

    def loss(self, inputs: List[torch.Tensor], data_samples: Optional[list],
             **kwargs) -> Dict[str, torch.Tensor]:
        """MoCo's loss on the two views, weighted; or (weight 0) the backbone on view 0.

        Args:
            inputs (list[Tensor]): The views (``MultiView``); one is enough with weight 0.
            data_samples (list, optional): Unused (self-supervised).

        Returns:
            dict: ``loss_contrastive``, or nothing with weight 0 (the rate and distortion
            terms are added by ``RateDistortionLossHook``).
        """
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise TypeError('DICMMoCoV2 expects a list of views (MultiView pipeline), got '
                            f'{type(inputs).__name__}')
        self._match_momentum_buffers()
        if not self.contrastive:
            with torch.no_grad():  # an exact copy: the EMA's first update copies
                self.encoder_k.steps.zero_()
                self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            self.backbone(inputs[0])
            return {}
        if len(inputs) < 2:
            raise ValueError(f'the contrastive loss needs two views, got {len(inputs)}')
        losses = super().loss(inputs, data_samples, **kwargs)
        return dict(loss_contrastive=self.contrastive_weight * losses['loss'])
