"""``DICMMoCoV2``: mmpretrain's MoCo v2 whose encoders carry DICM's feature codec.

Tang, Yi, Wang, IEEE T-BC 2025: the backbone is pre-trained by semantic-guided MoCo v2 under a
bitrate constraint, in four stages chained by checkpoint; the rate and distortion terms come
from :class:`~mmdicm.engine.RateDistortionLossHook`. The diagram, what this class adds to
mmpretrain's MoCo, the checkpoint keys, the stage table and how stage 4 feeds the task
models: ``docs/ssl.md``.
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
            off (see docs/ssl.md). Defaults to 1.
        queue_len (int): Negative keys in the queue. Defaults to 65536.
        feat_dim (int): Dimension of the projected features. Defaults to 128.
        momentum (float): EMA coefficient of the key encoder (mmengine convention: ``1 - m``
            of the MoCo paper, 0.001 for m = 0.999). Defaults to 0.001.
        pretrained (str, optional): As in mmpretrain. Defaults to None.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Defaults to None.

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
