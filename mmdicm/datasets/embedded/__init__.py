"""The embedded dataset: small, deterministic COCO-format shapes on ``skimage.data`` photos,
with exact masks and a classification view, made offline (no OpenMMLab imports); a
``'coco-like'`` preset mirrors COCO 2017's size spread, crowding and occlusion. What it is
and is not, its layout and guarantees: ``docs/embedded_data.md``."""
from .coco_like import (COCO_LIKE_CATEGORIES, COCO_LIKE_DEFAULTS, COCO_SIZE_SHARES,
                        render_coco_like_sample, size_bands, size_class)
from .render import render_sample
from .shapes import rasterize_polygon, shape_polygon
from .spec import (DEFAULT_CATEGORIES, GENERATOR_VERSION, OBJECT_GAP, PHOTOS, PRESETS,
                   SUPPORTED_SHAPES, EmbeddedObject, EmbeddedSample)
from .statistics import format_statistics, split_statistics
from .writer import generate_embedded_dataset, image_labels, write_image_labels

__all__ = [
    'GENERATOR_VERSION', 'DEFAULT_CATEGORIES', 'SUPPORTED_SHAPES', 'PHOTOS', 'OBJECT_GAP',
    'PRESETS', 'EmbeddedObject', 'EmbeddedSample', 'shape_polygon', 'rasterize_polygon',
    'render_sample', 'generate_embedded_dataset', 'image_labels', 'write_image_labels',
    'COCO_LIKE_CATEGORIES', 'COCO_LIKE_DEFAULTS', 'COCO_SIZE_SHARES', 'size_bands',
    'size_class', 'render_coco_like_sample', 'split_statistics', 'format_statistics'
]
