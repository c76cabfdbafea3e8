"""Datasets shipped with mmdicm.

- :mod:`~mmdicm.datasets.embedded`: a deterministic generator of a small COCO-format
  instance-segmentation set (shapes with exact polygon masks on ``skimage.data`` photos)
  plus a classification view for mmpretrain, so demos and tests need no download. A toy
  set for smoke tests and learning curves, not a benchmark.
"""
from .embedded import (DEFAULT_CATEGORIES, GENERATOR_VERSION, OBJECT_GAP, PHOTOS,
                       SUPPORTED_SHAPES, EmbeddedObject, EmbeddedSample,
                       generate_embedded_dataset, rasterize_polygon, render_sample,
                       shape_polygon)

__all__ = [
    'DEFAULT_CATEGORIES', 'GENERATOR_VERSION', 'OBJECT_GAP', 'PHOTOS', 'SUPPORTED_SHAPES',
    'EmbeddedObject', 'EmbeddedSample', 'generate_embedded_dataset', 'rasterize_polygon',
    'render_sample', 'shape_polygon'
]
