"""OpenMMLab glue: registered backbones and neck; semantic guidance of the SSL stage."""
from .backbones import DICMResNet, DICMResNetV1d
from .necks import DICMCodecNeck
from .selfsup import (DICMMoCoV2, boxes_from_heatmaps, denormalize_boxes, heatmaps_from_features,
                      normalize_boxes, semantic_boxes)

__all__ = ['DICMResNet', 'DICMResNetV1d', 'DICMCodecNeck', 'DICMMoCoV2', 'boxes_from_heatmaps',
           'denormalize_boxes', 'heatmaps_from_features', 'normalize_boxes', 'semantic_boxes']
