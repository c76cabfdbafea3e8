"""Semantic-guided self-supervised pre-training (MoCo v2 with ContrastiveCrop-style boxes).

:mod:`~mmdicm.models.selfsup.guidance` turns the backbone's last-stage activations into one
box per training image; :class:`~mmdicm.datasets.transforms.SemanticGuidedCrop` draws the
positive crops inside it and :class:`~mmdicm.engine.box_hook.SemanticBoxHook` refreshes the
boxes during training.
"""
from .guidance import (boxes_from_heatmaps, denormalize_boxes, heatmaps_from_features,
                       normalize_boxes, semantic_boxes)

__all__ = ['boxes_from_heatmaps', 'denormalize_boxes', 'heatmaps_from_features',
           'normalize_boxes', 'semantic_boxes']
