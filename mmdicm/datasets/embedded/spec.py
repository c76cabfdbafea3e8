"""The embedded dataset's constants, sample types and argument checks."""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...utils import check_int

#: Bump whenever the output for given arguments changes; stored in ``meta.json``.
GENERATOR_VERSION = 1
#: The generator's name in ``meta.json`` (the module's name before it became a package: datasets
#: written then are still recognised).
GENERATOR = 'mmdicm.datasets.embedded'

#: The four default categories, in label order (COCO category ids 1..4).
DEFAULT_CATEGORIES: Tuple[str, ...] = ('circle', 'triangle', 'rectangle', 'star')

#: Every shape :func:`shape_polygon` can draw (any non-empty subset can be the categories).
SUPPORTED_SHAPES: Tuple[str, ...] = ('circle', 'triangle', 'rectangle', 'star', 'hexagon',
                                     'cross', 'ellipse')

#: Background (and texture) photos from ``skimage.data`` with their licence notes.
PHOTOS: Dict[str, str] = {
    'astronaut': 'public domain (NASA)',
    'camera': 'CC0 (Lav Varshney)',
    'chelsea': 'CC0 (Stefan van der Walt)',
    'clock': 'public domain (Stefan van der Walt)',
    'coffee': 'CC0 (Rachel Michetti)',
    'coins': 'no known copyright restrictions',
    'hubble_deep_field': 'public domain (NASA)',
    'immunohistochemistry': 'no known copyright restrictions',
    'retina': 'CC0 (Mikael Haggstrom)',
    'rocket': 'public domain (SpaceX)',
    'brick': 'CC0 (CC0Textures)',
    'grass': 'CC0 (CC0Textures)',
    'gravel': 'CC0 (CC0Textures)',
}

#: Minimum distance in pixels between the masks of two objects of one image.
OBJECT_GAP = 2

#: Dataset presets: today's toy split and the COCO-like one (docs/embedded_data.md).
PRESETS: Tuple[str, ...] = ('default', 'coco-like')

#: The default preset's defaults for the arguments of ``generate_embedded_dataset`` left None.
DEFAULT_PRESET: Dict[str, Any] = dict(num_train=400, num_val=100, image_size=256,
                                      categories=DEFAULT_CATEGORIES, min_objects=1,
                                      max_objects=4)

SPLITS: Tuple[str, ...] = ('train', 'val')
SIZE_RANGE = (0.12, 0.45)  # circumscribed diameter, as a fraction of the image side
MIN_DIAMETER_PX = 8  # lower bound on the diameter whatever the image size
MIN_OBJECT_PIXELS = 10
MAX_OBJECTS = 10
MAX_PLACEMENT_ATTEMPTS = 60
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 4096
MAX_IMAGES = 1_000_000
CIRCLE_VERTICES = 48
STAR_INNER_RATIO = 0.45
CROSS_HALF_WIDTH = 0.3  # half-width of a cross's arms, as a fraction of its radius
CROP_CONTEXT = 1.3  # classification crop side / longest box side
JPEG_QUALITY = 95
COORD_DECIMALS = 2
# Entries of ``out_dir`` this module owns; ``meta.json`` last (it marks completion).
OUTPUTS: Tuple[str, ...] = ('train', 'val', 'annotations', 'classification', 'meta.json')


@dataclass(frozen=True)
class EmbeddedObject:
    """One pasted object of an :class:`EmbeddedSample`.

    Attributes:
        category (str): Shape name.
        label (int): Index of ``category`` in the dataset's categories (0-based).
        polygon (list[float]): COCO polygon ``[x0, y0, x1, y1, ...]`` in pixel coordinates.
        mask (np.ndarray): (H, W) bool, the pixels painted for this object, equal to
            ``rasterize_polygon(polygon, H, W)``.
        bbox (list[float]): ``[x, y, w, h]``, the tight box of ``mask``.
        area (int): Number of pixels in ``mask``.
        occluded (float): Fraction of the outline's in-image pixels hidden by objects painted
            later (0 in the default preset, whose objects never overlap; ``mask`` is then the
            visible part and ``polygon`` the whole outline). Defaults to 0.
    """
    category: str
    label: int
    polygon: List[float]
    mask: np.ndarray
    bbox: List[float]
    area: int
    occluded: float = 0.0


@dataclass(frozen=True)
class EmbeddedSample:
    """One rendered image before JPEG compression.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 RGB, background with the objects painted on.
        background (np.ndarray): (H, W, 3) uint8 RGB, the background alone.
        objects (tuple[EmbeddedObject]): The objects, in painting order.
        photo (str): Name of the ``skimage.data`` photo the background was cropped from.
        owner (np.ndarray, optional): (H, W) int16, the index in ``objects`` of the object
            whose fill a pixel shows, -1 for background (the painting record of the
            ``'coco-like'`` preset; None in the default one). Defaults to None.
        clutter (int): Unannotated distractors painted under the objects. Defaults to 0.
    """
    image: np.ndarray
    background: np.ndarray
    objects: Tuple[EmbeddedObject, ...]
    photo: str
    owner: Optional[np.ndarray] = None
    clutter: int = 0


# ----------------------------------------------------------------------------- validation


def _check_categories(categories: Any) -> Tuple[str, ...]:
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise TypeError('categories must be a sequence of shape names, got '
                        f'{type(categories).__name__}')
    categories = tuple(categories)
    if not categories:
        raise ValueError('categories must not be empty')
    unknown = [c for c in categories if c not in SUPPORTED_SHAPES]
    if unknown:
        raise ValueError(f'categories: unknown shape(s) {unknown}; supported: '
                         f'{list(SUPPORTED_SHAPES)}')
    if len(set(categories)) != len(categories):
        raise ValueError(f'categories must be unique, got {list(categories)}')
    return categories


def check_args(num_train: Any, num_val: Any, image_size: Any, seed: Any, categories: Any,
                min_objects: Any, max_objects: Any) -> Dict[str, Any]:
    """Validated, normalised arguments (the ``args`` of ``meta.json``)."""
    args = dict(
        num_train=check_int('num_train', num_train, 1, MAX_IMAGES, strict=True),
        num_val=check_int('num_val', num_val, 1, MAX_IMAGES, strict=True),
        image_size=check_int('image_size', image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE,
                             strict=True),
        seed=check_int('seed', seed, 0, 2**63 - 1, strict=True),
        categories=list(_check_categories(categories)),
        min_objects=check_int('min_objects', min_objects, 1, MAX_OBJECTS, strict=True),
        max_objects=check_int('max_objects', max_objects, 1, MAX_OBJECTS, strict=True),
    )
    if args['min_objects'] > args['max_objects']:
        raise ValueError(f'min_objects ({args["min_objects"]}) must not exceed max_objects '
                         f'({args["max_objects"]})')
    return args
