"""DICM in detectron2: ``import mmdicm.integrations.detectron2`` registers the backbones
(``build_dicm_resnet_fpn_backbone`` and friends) in detectron2's ``BACKBONE_REGISTRY``.

- :func:`add_dicm_config`: ``cfg.MODEL.DICM`` / ``cfg.SOLVER.DICM``;
- :class:`DICMResNet`: detectron2's ResNet split after ``res2`` by DICM's codec;
- :class:`DICMRateLossHook`, :class:`DICMEntropyUpdateHook`, :class:`DICMTrainer`,
  :func:`build_dicm_optimizer`: the rate loss, the entropy tables and the quantiles'
  optimizer group in detectron2's idiom;
- :func:`convert_mmdicm_checkpoint`, :class:`DICMCheckpointer`: mmdicm checkpoints in,
  entropy tables of any size through detectron2's checkpointer;
- :func:`register_embedded`: mmdicm's embedded data as detectron2 COCO datasets.

Needs detectron2 (``tools/setup/detectron2.sh``), not mmengine/mmdet. See docs/detectron2.md.
"""
from .backbone import (PART_GROUPS, PARTS, DICMResNet, build_dicm_resnet_backbone,
                       build_dicm_resnet_fpn_backbone, build_dicm_retinanet_resnet_fpn_backbone)
from .checkpoint import (DICMCheckpointer, convert_mmdicm_checkpoint, convert_mmdicm_state_dict,
                         load_mmdicm_checkpoint)
from .config import add_dicm_config, codec_kwargs
from .data import register_embedded
from .hooks import (DICMEntropyUpdateHook, DICMRateLossHook, find_dicm_backbones,
                    update_entropy_tables)
from .trainer import DICMTrainer, build_dicm_optimizer

__all__ = ['PARTS', 'PART_GROUPS', 'DICMResNet', 'build_dicm_resnet_backbone',
           'build_dicm_resnet_fpn_backbone', 'build_dicm_retinanet_resnet_fpn_backbone',
           'DICMCheckpointer', 'convert_mmdicm_checkpoint', 'convert_mmdicm_state_dict',
           'load_mmdicm_checkpoint', 'add_dicm_config', 'codec_kwargs', 'register_embedded',
           'DICMEntropyUpdateHook', 'DICMRateLossHook', 'find_dicm_backbones',
           'update_entropy_tables', 'DICMTrainer', 'build_dicm_optimizer']
