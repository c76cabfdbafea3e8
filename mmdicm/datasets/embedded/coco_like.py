"""The ``'coco-like'`` preset: COCO 2017's size spread, crowding, occlusion and low contrast on
the embedded data's photos, with exact visible-region masks (docs/embedded_data.md)."""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...utils import check_int
from .appearance import add_clutter, matched_fill, paint
from .render import _background, _mask_bbox_area
from .shapes import rasterize_polygon, shape_polygon
from .spec import (COORD_DECIMALS, GENERATOR_VERSION, MAX_IMAGES, MAX_IMAGE_SIZE, SPLITS,
                   EmbeddedObject, EmbeddedSample)

#: Bump whenever the coco-like output for given arguments changes; in its ``meta.json``.
COCO_LIKE_VERSION = 3  # 2, 3: higher contrast (appearance.py)
#: Class -> (outline, fill pattern). Six outlines with the plain photo-texture fill, and one
#: outline (``ellipse``) with four fills: classes differ by shape or by texture, never by
#: colour (every fill takes its colour from the background around it).
COCO_LIKE_CLASSES: Dict[str, Tuple[str, Optional[str]]] = {
    'circle': ('circle', None),
    'triangle': ('triangle', None),
    'rectangle': ('rectangle', None),
    'star': ('star', None),
    'hexagon': ('hexagon', None),
    'cross': ('cross', None),
    'ellipse': ('ellipse', None),
    'striped-ellipse': ('ellipse', 'stripes'),
    'checkered-ellipse': ('ellipse', 'checker'),
    'dotted-ellipse': ('ellipse', 'dots'),
}
COCO_LIKE_CATEGORIES: Tuple[str, ...] = tuple(COCO_LIKE_CLASSES)
#: The preset's defaults for the arguments left as None.
COCO_LIKE_DEFAULTS: Dict[str, Any] = dict(num_train=1000, num_val=200, image_size=256,
                                          categories=COCO_LIKE_CATEGORIES, min_objects=3,
                                          max_objects=12)
#: COCO's size classes by area: small < 32^2, medium < 96^2 px at 640x480, as fractions of
#: the image area (1/300 and 3/100), so they scale with the image.
SMALL_AREA_FRACTION = 32**2 / (640 * 480)
MEDIUM_AREA_FRACTION = 96**2 / (640 * 480)
SIZE_CLASSES: Tuple[str, ...] = ('small', 'medium', 'large')
#: COCO 2017's instance shares of small / medium / large (train: 41 / 34 / 25 %).
COCO_SIZE_SHARES: Tuple[float, ...] = (0.41, 0.34, 0.25)
MIN_OBJECT_AREA = 64  # px: the smallest objects cover about 8x8 pixels
MAX_AREA_FRACTION = 0.35  # the largest objects cover at most 35 % of the image
MAX_OCCLUDED = 0.5  # a later object may hide at most half of an earlier one
MIN_COCO_LIKE_SIZE = 160  # below, the small band [64 px, area / 300) is (nearly) empty
MAX_COCO_LIKE_OBJECTS = 30
ATTEMPTS = 200
RECT_ASPECT = (0.5, 1.0)
ELLIPSE_ASPECT = (0.4, 0.7)  # clearly not a circle; shared by the four ellipse classes
CLUTTER_RANGE = (4, 12)  # distractors per image
NEAR_SHARE = 0.5  # placement draws centred in an earlier object's box


def size_bands(image_size: int) -> Tuple[Tuple[float, float], ...]:
    """``[lo, hi)`` visible-area bands (px) of small, medium, large at ``image_size``^2."""
    area = image_size * image_size
    small, medium = SMALL_AREA_FRACTION * area, MEDIUM_AREA_FRACTION * area
    return ((MIN_OBJECT_AREA, small), (small, medium), (medium, MAX_AREA_FRACTION * area))


def size_class(area: float, image_area: float) -> str:
    """COCO's size class of a mask of ``area`` px in an image of ``image_area`` px."""
    if area < SMALL_AREA_FRACTION * image_area:
        return 'small'
    return 'medium' if area < MEDIUM_AREA_FRACTION * image_area else 'large'


def check_coco_like_args(num_train: Any, num_val: Any, image_size: Any, seed: Any,
                         categories: Any, min_objects: Any, max_objects: Any
                         ) -> Dict[str, Any]:
    """Validated coco-like arguments (None: the preset's default); ``meta.json``'s ``args``."""
    given = dict(num_train=num_train, num_val=num_val, image_size=image_size,
                 categories=categories, min_objects=min_objects, max_objects=max_objects)
    a = {k: COCO_LIKE_DEFAULTS[k] if v is None else v for k, v in given.items()}
    if isinstance(a['categories'], str) or not isinstance(a['categories'], Sequence):
        raise TypeError('categories must be a sequence of coco-like class names, got '
                        f'{type(a["categories"]).__name__}')
    cats = list(a['categories'])
    bad = [c for c in cats if c not in COCO_LIKE_CLASSES]
    if not cats or bad or len(set(cats)) != len(cats):
        raise ValueError(f'categories must be distinct names from {list(COCO_LIKE_CLASSES)}, '
                         f'got {cats}')
    args = dict(
        num_train=check_int('num_train', a['num_train'], 1, MAX_IMAGES, strict=True),
        num_val=check_int('num_val', a['num_val'], 1, MAX_IMAGES, strict=True),
        image_size=check_int('image_size', a['image_size'], MIN_COCO_LIKE_SIZE, MAX_IMAGE_SIZE,
                             strict=True),
        seed=check_int('seed', seed, 0, 2**63 - 1, strict=True),
        categories=cats,
        min_objects=check_int('min_objects', a['min_objects'], 1, MAX_COCO_LIKE_OBJECTS,
                              strict=True),
        max_objects=check_int('max_objects', a['max_objects'], 1, MAX_COCO_LIKE_OBJECTS,
                              strict=True),
        preset='coco-like',
    )
    if args['min_objects'] > args['max_objects']:
        raise ValueError(f'min_objects ({args["min_objects"]}) must not exceed max_objects '
                         f'({args["max_objects"]})')
    return args


def _draw_outline(rng: np.random.Generator, outline: str, band: Tuple[float, float],
                  shrink: float, size: int, near: Optional[Sequence[float]]
                  ) -> Tuple[List[float], np.ndarray]:
    """One candidate: a polygon whose area is log-uniform in ``band`` (its top lowered by
    ``shrink`` in [0, 1) after failed attempts), centred anywhere (objects may be cut by the
    border) or, if ``near`` is a box ``(x, y, w, h)``, inside it."""
    lo, hi = band
    hi = math.exp(math.log(hi) - shrink * (math.log(hi) - math.log(lo)))
    target = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    aspect = 1.0
    if outline == 'rectangle':
        aspect = rng.uniform(*RECT_ASPECT)
    elif outline == 'ellipse':
        aspect = rng.uniform(*ELLIPSE_ASPECT)
    unit = shape_polygon(outline, (0.0, 0.0), 1.0, rng.uniform(0, 2 * math.pi), aspect)
    x, y = unit[:, 0], unit[:, 1]
    unit_area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    if near is None:
        center = rng.uniform(0, size, size=2)
    else:
        center = np.asarray(near[:2]) + rng.uniform(0, 1, size=2) * np.asarray(near[2:])
    poly = unit * math.sqrt(target / unit_area) + center
    polygon = [round(float(v), COORD_DECIMALS) for v in poly.ravel()]
    return polygon, rasterize_polygon(polygon, size, size)


def _place(rng: np.random.Generator, outline: str, band_index: int, size: int,
           owner: np.ndarray, visible: List[int], floors: List[float],
           boxes: List[Sequence[float]]) -> Optional[Tuple[List[float], np.ndarray]]:
    """A polygon and mask of ``outline`` whose visible area (it is painted on top) lies in
    its size band and that leaves every earlier object ``j`` at least ``floors[j]`` visible
    pixels; None after ``ATTEMPTS`` failures. A share ``NEAR_SHARE`` of the draws centre it
    in an earlier object's box (``boxes``), so objects crowd and overlap as in COCO."""
    band = size_bands(size)[band_index]
    for attempt in range(ATTEMPTS):
        near = None
        if boxes and rng.random() < NEAR_SHARE:
            near = boxes[int(rng.integers(len(boxes)))]
        polygon, mask = _draw_outline(rng, outline, band, 0.8 * attempt / ATTEMPTS, size, near)
        area = int(mask.sum())
        if not band[0] <= area < band[1]:
            continue
        if visible:
            hidden = np.bincount(owner[mask] + 1, minlength=len(visible) + 1)[1:]
            if np.any(np.asarray(visible) - hidden < np.asarray(floors)):
                continue
        return polygon, mask
    return None


def render_coco_like_sample(index: int,
                            split: str = 'train',
                            image_size: int = 256,
                            seed: int = 0,
                            categories: Sequence[str] = COCO_LIKE_CATEGORIES,
                            min_objects: int = 3,
                            max_objects: int = 12) -> EmbeddedSample:
    """Render image ``index`` of a coco-like split, exactly as
    :func:`generate_embedded_dataset` with ``preset='coco-like'`` does.

    Clutter first, then the objects in random order, each on top of the earlier ones. An
    object's size class is drawn with COCO's shares (:data:`COCO_SIZE_SHARES`) and its
    visible area log-uniformly within that class's band (:func:`size_bands`); a placement
    that would push an earlier object out of its band, hide more than
    :data:`MAX_OCCLUDED` of it, is redrawn, so the shares hold after occlusion. An object
    that cannot be placed in ``ATTEMPTS`` draws is left out.

    Args:
        index (int): 0-based image index within the split (file ``{index + 1:06d}.jpg``).
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        image_size (int): Side of the square image, 160..4096. Defaults to 256.
        seed (int): Dataset seed. Defaults to 0.
        categories (Sequence[str]): Class names from :data:`COCO_LIKE_CATEGORIES`, in label
            order. Defaults to all of them.
        min_objects (int): Fewest objects drawn (1..30). Defaults to 3.
        max_objects (int): Most objects drawn (min_objects..30). Defaults to 12.

    Returns:
        EmbeddedSample: ``background`` is the photo with the clutter; each object's ``mask``
        is its visible region (``owner == k``), ``polygon`` its whole outline.
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {list(SPLITS)}, got {split!r}')
    index = check_int('index', index, 0, MAX_IMAGES - 1, strict=True)
    args = check_coco_like_args(1, 1, image_size, seed, categories, min_objects, max_objects)
    size, cats = args['image_size'], args['categories']
    rng = np.random.default_rng(
        [GENERATOR_VERSION, args['seed'], SPLITS.index(split), index, COCO_LIKE_VERSION, 17])
    background, photo = _background(rng, size)
    clutter = add_clutter(rng, background, photo,
                          int(rng.integers(CLUTTER_RANGE[0], CLUTTER_RANGE[1] + 1)),
                          (MIN_OBJECT_AREA, MEDIUM_AREA_FRACTION * size * size))
    image = background.copy()
    owner = np.full((size, size), -1, np.int16)
    placed: List[Tuple[int, List[float], int]] = []  # (label, polygon, in-image area)
    visible: List[int] = []
    floors: List[float] = []
    boxes: List[Sequence[float]] = []
    for _ in range(int(rng.integers(args['min_objects'], args['max_objects'] + 1))):
        label = int(rng.integers(len(cats)))
        outline, kind = COCO_LIKE_CLASSES[cats[label]]
        band_index = int(rng.choice(len(SIZE_CLASSES), p=COCO_SIZE_SHARES))
        found = _place(rng, outline, band_index, size, owner, visible, floors, boxes)
        if found is None:
            continue
        polygon, mask = found
        for j, n in enumerate(np.bincount(owner[mask] + 1, minlength=len(visible) + 1)[1:]):
            visible[j] -= int(n)
        area = int(mask.sum())
        box = tuple(int(v) for v in _mask_bbox_area(mask)[0])
        paint(image, mask, box, matched_fill(rng, background, photo, box, kind))
        owner[mask] = len(placed)
        placed.append((label, polygon, area))
        visible.append(area)
        boxes.append(box)
        floors.append(max(size_bands(size)[band_index][0], (1 - MAX_OCCLUDED) * area))
    objects = []
    for k, (label, polygon, area) in enumerate(placed):
        mask = owner == k
        mask.setflags(write=False)
        bbox, vis = _mask_bbox_area(mask)
        objects.append(EmbeddedObject(cats[label], label, polygon, mask, bbox, vis,
                                      occluded=1 - vis / area))
    return EmbeddedSample(image, background, tuple(objects), photo, owner, clutter)
