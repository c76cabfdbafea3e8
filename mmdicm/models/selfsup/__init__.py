"""Semantic-guided self-supervised pre-training (MoCo v2 with ContrastiveCrop-style boxes).

:mod:`~mmdicm.models.selfsup.guidance` turns the backbone's last-stage activations into one
box per training image; :class:`~mmdicm.datasets.transforms.SemanticGuidedCrop` draws the
positive crops inside it and :class:`~mmdicm.engine.hooks.semantic_box_hook.SemanticBoxHook` refreshes the
boxes during training.
"""
from .guidance import (boxes_from_heatmaps, denormalize_boxes, heatmaps_from_features,
                       normalize_boxes, semantic_boxes)
from .moco import DICMMoCoV2
from .visualize import draw_heatmap_grid, semantic_heatmaps

__all__ = ['DICMMoCoV2', 'boxes_from_heatmaps', 'denormalize_boxes', 'draw_heatmap_grid',
           'heatmaps_from_features', 'normalize_boxes', 'semantic_boxes', 'semantic_heatmaps']
