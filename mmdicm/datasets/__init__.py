"""Datasets shipped with mmdicm.

- :mod:`~mmdicm.datasets.embedded`: a deterministic generator of a small COCO-format
  instance-segmentation set (shapes with exact polygon masks on ``skimage.data`` photos)
  plus a classification view for mmpretrain, so demos and tests need no download. A toy
  set for smoke tests and learning curves, not a benchmark; its ``'coco-like'`` preset
  mirrors COCO 2017's size spread, crowding and occlusion at low contrast.
"""
from .embedded import (COCO_LIKE_CATEGORIES, DEFAULT_CATEGORIES, GENERATOR_VERSION, OBJECT_GAP,
                       PHOTOS, PRESETS, SUPPORTED_SHAPES, EmbeddedObject, EmbeddedSample,
                       format_statistics, generate_embedded_dataset, rasterize_polygon,
                       render_coco_like_sample, render_sample, shape_polygon)

__all__ = [
    'COCO_LIKE_CATEGORIES', 'DEFAULT_CATEGORIES', 'GENERATOR_VERSION', 'OBJECT_GAP', 'PHOTOS',
    'PRESETS', 'SUPPORTED_SHAPES', 'EmbeddedObject', 'EmbeddedSample', 'format_statistics',
    'generate_embedded_dataset', 'rasterize_polygon', 'render_coco_like_sample',
    'render_sample', 'shape_polygon'
]
