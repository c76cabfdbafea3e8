"""OpenMMLab glue: registered backbones and neck; semantic guidance of the SSL stage; the
receiver's feature swap."""
from .backbones import DICMResNet, DICMResNetV1d
from .necks import DICMCodecNeck
from .receiver import inject_backbone_features, predict_on_features
from .selfsup import (DICMMoCoV2, boxes_from_heatmaps, denormalize_boxes, heatmaps_from_features,
                      normalize_boxes, semantic_boxes)

__all__ = ['DICMResNet', 'DICMResNetV1d', 'DICMCodecNeck', 'DICMMoCoV2', 'boxes_from_heatmaps',
           'denormalize_boxes', 'heatmaps_from_features', 'inject_backbone_features',
           'normalize_boxes', 'predict_on_features', 'semantic_boxes']
