"""The embedded dataset: small, deterministic COCO-format shapes on ``skimage.data`` photos,
with exact masks and a classification view, made offline (no OpenMMLab imports). What it is
and is not, its layout and guarantees: ``docs/embedded_data.md``."""
from .render import render_sample
from .shapes import rasterize_polygon, shape_polygon
from .spec import (DEFAULT_CATEGORIES, GENERATOR_VERSION, OBJECT_GAP, PHOTOS, SUPPORTED_SHAPES,
                   EmbeddedObject, EmbeddedSample)
from .writer import generate_embedded_dataset, image_labels, write_image_labels

__all__ = [
    'GENERATOR_VERSION', 'DEFAULT_CATEGORIES', 'SUPPORTED_SHAPES', 'PHOTOS', 'OBJECT_GAP',
    'EmbeddedObject', 'EmbeddedSample', 'shape_polygon', 'rasterize_polygon',
    'render_sample', 'generate_embedded_dataset', 'image_labels', 'write_image_labels'
]
