"""The embedded dataset: small, deterministic COCO-format shapes on real photos, made offline.

What it is
    Coloured geometric shapes (``circle``, ``triangle``, ``rectangle``, ``star`` by default;
    :data:`SUPPORTED_SHAPES` lists all) pasted onto random crops of photos that ship inside
    scikit-image (:data:`PHOTOS`: public-domain / CC0 images in ``skimage.data``). Each image
    holds ``min_objects..max_objects`` shapes of random category, size (circumscribed
    diameter 12-45 % of the image side), position, rotation and appearance (solid colour
    with shading and noise, a tinted texture, or a patch of another photo). Appearance is
    drawn independently of the category: only the shape tells the classes apart.

    Written by :func:`generate_embedded_dataset`, it gives mmdet a COCO instance-segmentation
    set (boxes and exact polygon masks) and mmpretrain a classification view (one crop per
    object), with train/val splits, so demos and tests run on a fresh machine with no
    network and no downloads.

What it is NOT
    A benchmark. It is a smoke-and-learning-signal set: numbers measured on it show that a
    pipeline runs end to end and that a model learns; they say nothing about COCO, VOC or
    ImageNet. Train and val use the same 13 photos (different random crops) and the same
    shape generator, so val measures fitting of this toy distribution, not generalisation.

Exact masks
    Each object is a polygon (a circle is a 48-gon); the polygon stored in the annotation
    (coordinates rounded to 2 decimals) is rasterised with ``pycocotools`` -- the very
    rasteriser mmdet's ``LoadAnnotations`` and the COCO evaluator use -- and exactly those
    pixels are painted. Objects never overlap: a placement whose mask comes within
    :data:`OBJECT_GAP` pixels of an already placed object is rejected (bounding boxes may
    still overlap, e.g. a star in a triangle's corner). So every object is fully visible,
    its polygon is its visible region, masks within an image are disjoint, and ``bbox`` and
    ``area`` are derived from the rasterised mask (``pycocotools.mask.toBbox/area``): the
    tight pixel box and the pixel count. Objects lie fully inside the image. Images are
    stored as JPEG (quality 95, 4:4:4), so stored pixel values differ from the painted ones
    by compression noise only; :func:`render_sample` gives the exact, uncompressed arrays.

Layout written under ``out_dir``::

    train/000001.jpg ...                 detection images (COCO ``file_name`` = '000001.jpg')
    val/000001.jpg ...
    annotations/instances_train.json     COCO instances (category ids 1..K, image ids 1..N)
    annotations/instances_val.json
    classification/train/000001_0.jpg    one crop per object (see below)
    classification/val/...
    classification/train.txt             lines 'train/000001_0.jpg <label>' (label 0..K-1)
    classification/val.txt
    classification/classes.txt           one class name per line, label order
    meta.json                            generator version, arguments, classes, statistics

Classification view
    One sample per annotated object: a square crop centred on the object's box, side
    ``1.3 * max(w, h)`` (at least 8 px, at most the image side, shifted to lie inside the
    image), resized to ``max(32, image_size // 2)`` px; its label is the object's category
    index in ``categories``. Neighbouring objects may show at the crop's border, as in
    natural classification data. Use mmpretrain's ``CustomDataset`` in annotation-file
    mode (``data_root=<out_dir>/classification``, ``ann_file='train.txt'``); the crops are
    deliberately not in per-class folders, whose alphabetical order would silently
    disagree with ``categories``.

Determinism
    Image ``i`` of a split is drawn from its own generator seeded by
    ``(GENERATOR_VERSION, seed, split, i)``, so the same arguments give byte-identical
    annotation files and identical pixels, and a larger ``num_train`` extends a smaller
    one (the first images are the same). ``meta.json`` is written last; a later call with
    the same arguments finds it and returns at once without writing anything.

Example:
    >>> from mmdicm.datasets import generate_embedded_dataset
    >>> info = generate_embedded_dataset('data/embedded', num_train=8, num_val=2,
    ...                                  image_size=128)  # doctest: +SKIP
    >>> info['classes'], info['num_images']  # doctest: +SKIP
    (('circle', 'triangle', 'rectangle', 'star'), {'train': 8, 'val': 2})

This module imports numpy, OpenCV, Pillow, scikit-image and pycocotools only (no OpenMMLab),
so tools can use it cheaply.
"""
import json
import math
import numbers
import os
import os.path as osp
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

__all__ = [
    'GENERATOR_VERSION', 'DEFAULT_CATEGORIES', 'SUPPORTED_SHAPES', 'PHOTOS', 'OBJECT_GAP',
    'EmbeddedObject', 'EmbeddedSample', 'shape_polygon', 'rasterize_polygon',
    'render_sample', 'generate_embedded_dataset'
]

#: Bump whenever the output for given arguments changes; stored in ``meta.json``.
GENERATOR_VERSION = 1

#: The four default categories, in label order (COCO category ids 1..4).
DEFAULT_CATEGORIES: Tuple[str, ...] = ('circle', 'triangle', 'rectangle', 'star')

#: Every shape :func:`shape_polygon` can draw (any non-empty subset can be the categories).
SUPPORTED_SHAPES: Tuple[str, ...] = ('circle', 'triangle', 'rectangle', 'star', 'hexagon',
                                     'cross')

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
    """
    category: str
    label: int
    polygon: List[float]
    mask: np.ndarray
    bbox: List[float]
    area: int


@dataclass(frozen=True)
class EmbeddedSample:
    """One rendered image before JPEG compression.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 RGB, background with the objects painted on.
        background (np.ndarray): (H, W, 3) uint8 RGB, the background alone.
        objects (tuple[EmbeddedObject]): The objects, in painting order.
        photo (str): Name of the ``skimage.data`` photo the background was cropped from.
    """
    image: np.ndarray
    background: np.ndarray
    objects: Tuple[EmbeddedObject, ...]
    photo: str


# ----------------------------------------------------------------------------- validation


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {type(value).__name__}')
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f'{name} must be in [{low}, {high}], got {value}')
    return value


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


def _check_args(num_train: Any, num_val: Any, image_size: Any, seed: Any, categories: Any,
                min_objects: Any, max_objects: Any) -> Dict[str, Any]:
    """Validated, normalised arguments (the ``args`` of ``meta.json``)."""
    args = dict(
        num_train=_check_int('num_train', num_train, 1, MAX_IMAGES),
        num_val=_check_int('num_val', num_val, 1, MAX_IMAGES),
        image_size=_check_int('image_size', image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE),
        seed=_check_int('seed', seed, 0, 2**63 - 1),
        categories=list(_check_categories(categories)),
        min_objects=_check_int('min_objects', min_objects, 1, MAX_OBJECTS),
        max_objects=_check_int('max_objects', max_objects, 1, MAX_OBJECTS),
    )
    if args['min_objects'] > args['max_objects']:
        raise ValueError(f'min_objects ({args["min_objects"]}) must not exceed max_objects '
                         f'({args["max_objects"]})')
    return args


# --------------------------------------------------------------------------------- shapes


def shape_polygon(shape: str,
                  center: Tuple[float, float],
                  radius: float,
                  angle: float = 0.0,
                  aspect: float = 1.0) -> np.ndarray:
    """Vertices of a shape inscribed in a circle, rotated about its centre.

    Args:
        shape (str): One of :data:`SUPPORTED_SHAPES`.
        center (tuple[float, float]): ``(x, y)`` of the circumscribed circle's centre.
        radius (float): Radius of the circumscribed circle (> 0).
        angle (float): Rotation in radians. Defaults to 0.
        aspect (float): Short side / long side of a ``rectangle`` (0 < aspect <= 1; 1 is a
            square). Ignored by the other shapes. Defaults to 1.

    Returns:
        np.ndarray: (N, 2) float64 ``(x, y)`` vertices of a simple polygon, in order.

    Example:
        >>> shape_polygon('rectangle', (10, 10), 5).round(2).tolist()
        [[13.54, 13.54], [6.46, 13.54], [6.46, 6.46], [13.54, 6.46]]
    """
    if shape not in SUPPORTED_SHAPES:
        raise ValueError(f'shape must be one of {list(SUPPORTED_SHAPES)}, got {shape!r}')
    if not radius > 0:
        raise ValueError(f'radius must be > 0, got {radius}')
    if not 0 < aspect <= 1:
        raise ValueError(f'aspect must be in (0, 1], got {aspect}')

    def ring(n: int, offset: float = 0.0) -> np.ndarray:
        t = offset + 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(t), np.sin(t)], axis=1)

    if shape == 'circle':
        unit = ring(CIRCLE_VERTICES)
    elif shape == 'triangle':
        unit = ring(3, -np.pi / 2)
    elif shape == 'hexagon':
        unit = ring(6)
    elif shape == 'rectangle':
        half = math.atan(aspect)  # half the angle the short side subtends
        t = np.array([half, np.pi - half, np.pi + half, 2 * np.pi - half])
        unit = np.stack([np.cos(t), np.sin(t)], axis=1)
    elif shape == 'star':
        unit = ring(10, -np.pi / 2) * np.tile([1.0, STAR_INNER_RATIO], 5)[:, None]
    else:  # cross: a plus sign whose 4 arm ends touch the circle
        w = CROSS_HALF_WIDTH
        e = math.sqrt(1 - w * w)
        unit = np.array([[w, -e], [w, -w], [e, -w], [e, w], [w, w], [w, e], [-w, e],
                         [-w, w], [-e, w], [-e, -w], [-w, -w], [-w, -e]])
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # row vectors: p @ rot rotates by ``angle``
    return unit @ rot * radius + np.asarray(center, dtype=np.float64)


def rasterize_polygon(polygon: Sequence[float], height: int, width: int) -> np.ndarray:
    """Rasterise a COCO polygon exactly as mmdet and the COCO evaluator do (pycocotools).

    Args:
        polygon (Sequence[float]): ``[x0, y0, x1, y1, ...]`` (at least 3 vertices).
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: (height, width) bool mask.
    """
    rles = mask_utils.frPyObjects([list(map(float, polygon))], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


# ------------------------------------------------------------------------------ rendering


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """A ``skimage.data`` photo as read-only (H, W, 3) uint8 RGB."""
    from skimage import data as skdata  # ~0.1 s; deferred so importing this module is cheap
    img = np.asarray(getattr(skdata, name)())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)
    img.setflags(write=False)
    return img


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    shrink = width < img.shape[1] or height < img.shape[0]
    return cv2.resize(img, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _random_photo_crop(rng: np.random.Generator, width: int, height: int,
                       min_scale: float) -> Tuple[np.ndarray, str]:
    """A random crop (aspect of the output, random scale and flip) of a random photo."""
    name = sorted(PHOTOS)[rng.integers(len(PHOTOS))]
    photo = _photo(name)
    ph, pw = photo.shape[:2]
    scale = rng.uniform(min_scale, 1.0)
    ch = max(1, min(ph, round(scale * min(ph, pw * height / width))))
    cw = max(1, min(pw, round(ch * width / height)))
    y0 = int(rng.integers(ph - ch + 1))
    x0 = int(rng.integers(pw - cw + 1))
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _resize(np.ascontiguousarray(crop), width, height), name


def _background(rng: np.random.Generator, size: int) -> Tuple[np.ndarray, str]:
    img, name = _random_photo_crop(rng, size, size, min_scale=0.4)
    gain = rng.uniform(0.8, 1.2)  # mild exposure jitter
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8), name


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated RGB colour in [0, 255] (float32, shape (3,))."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(115, 255), rng.uniform(115, 255)]]],
                   dtype=np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _appearance(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An object's fill for a (height, width) box: uint8 RGB.

    One of three looks, drawn with equal probability and independently of the category:
    a solid colour with a linear shading ramp and noise, a colour-tinted texture (the
    luminance of a photo patch), or an untouched patch of a photo.
    """
    mode = rng.integers(3)
    if mode == 2:
        patch, _ = _random_photo_crop(rng, width, height, min_scale=0.05)
        return patch
    colour = _random_colour(rng)
    if mode == 0:
        theta = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        ramp = xs * math.cos(theta) + ys * math.sin(theta)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0) * 2 - 1  # [-1, 1]
        shade = 1 + rng.uniform(0, 0.3) * ramp
        fill = colour[None, None] * shade[:, :, None]
        fill = fill + rng.normal(0, rng.uniform(2, 10), size=fill.shape)
    else:
        patch, _ = _random_photo_crop(rng, width, height, min_scale=0.05)
        lum = patch.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
        fill = colour[None, None] * (0.35 + 0.65 * lum)
    return np.clip(fill, 0, 255).astype(np.uint8)


def _mask_bbox_area(mask: np.ndarray) -> Tuple[List[float], int]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return [float(v) for v in mask_utils.toBbox(rle)], int(mask_utils.area(rle))


def render_sample(index: int,
                  split: str = 'train',
                  image_size: int = 256,
                  seed: int = 0,
                  categories: Sequence[str] = DEFAULT_CATEGORIES,
                  min_objects: int = 1,
                  max_objects: int = 4) -> EmbeddedSample:
    """Render image ``index`` of a split, exactly as :func:`generate_embedded_dataset` does.

    Args:
        index (int): 0-based image index within the split (file ``{index + 1:06d}.jpg``).
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        image_size (int): Side of the square image in pixels. Defaults to 256.
        seed (int): Dataset seed. Defaults to 0.
        categories (Sequence[str]): Shape names, in label order. Defaults to
            :data:`DEFAULT_CATEGORIES`.
        min_objects (int): Fewest objects per image. Defaults to 1.
        max_objects (int): Most objects per image. Defaults to 4.

    Returns:
        EmbeddedSample: Uncompressed image, background and objects with exact masks.

    Raises:
        RuntimeError: If ``min_objects`` non-overlapping objects cannot be placed (only
            with many objects on small images).
    """
    if split not in SPLITS:
        raise ValueError(f'split must be one of {list(SPLITS)}, got {split!r}')
    index = _check_int('index', index, 0, MAX_IMAGES - 1)
    args = _check_args(1, 1, image_size, seed, categories, min_objects, max_objects)
    size, categories = args['image_size'], args['categories']
    rng = np.random.default_rng([GENERATOR_VERSION, args['seed'], SPLITS.index(split), index])

    background, photo = _background(rng, size)
    image = background.copy()
    occupied = np.zeros((size, size), dtype=np.uint8)  # placed masks grown by OBJECT_GAP
    kernel = np.ones((2 * OBJECT_GAP + 1, 2 * OBJECT_GAP + 1), np.uint8)
    min_frac = max(SIZE_RANGE[0], MIN_DIAMETER_PX / size)
    max_frac = max(SIZE_RANGE[1], min_frac)
    objects: List[EmbeddedObject] = []
    num = int(rng.integers(args['min_objects'], args['max_objects'] + 1))
    for k in range(num):
        label = int(rng.integers(len(categories)))
        shape = categories[label]
        for attempt in range(MAX_PLACEMENT_ATTEMPTS):
            # Failed attempts shrink the largest allowed size, so crowded images still fill.
            hi = max_frac - (max_frac - min_frac) * attempt / MAX_PLACEMENT_ATTEMPTS
            radius = rng.uniform(min_frac, hi) * size / 2
            center = rng.uniform(radius + 1, size - 1 - radius, size=2)
            angle = rng.uniform(0, 2 * np.pi)
            aspect = rng.uniform(0.5, 1.0)
            poly = shape_polygon(shape, (center[0], center[1]), radius, angle, aspect)
            polygon = [round(float(v), COORD_DECIMALS) for v in poly.ravel()]
            mask = rasterize_polygon(polygon, size, size)
            if mask.sum() >= MIN_OBJECT_PIXELS and not occupied[mask].any():
                break
        else:
            if k < args['min_objects']:
                raise RuntimeError(
                    f'could not place {args["min_objects"]} non-overlapping objects on a '
                    f'{size}x{size} image (split {split!r}, index {index}); lower '
                    'min_objects or raise image_size')
            break
        bbox, area = _mask_bbox_area(mask)
        x, y, w, h = (int(v) for v in bbox)
        fill = _appearance(rng, w, h)
        region = mask[y:y + h, x:x + w]
        image[y:y + h, x:x + w][region] = fill[region]
        occupied |= cv2.dilate(mask.astype(np.uint8), kernel)
        mask.setflags(write=False)
        objects.append(EmbeddedObject(shape, label, polygon, mask, bbox, area))
    return EmbeddedSample(image, background, tuple(objects), photo)


def _crop_box(bbox: Sequence[float], image_size: int) -> Tuple[int, int, int]:
    """``(x0, y0, side)`` of the classification crop of an object box (see module doc)."""
    x, y, w, h = bbox
    side = int(min(image_size, max(8, round(CROP_CONTEXT * max(w, h)))))
    cx, cy = x + w / 2, y + h / 2
    x0 = int(min(max(round(cx - side / 2), 0), image_size - side))
    y0 = int(min(max(round(cy - side / 2), 0), image_size - side))
    return x0, y0, side


def _save_jpeg(img: np.ndarray, path: str) -> None:
    Image.fromarray(img).save(path, format='JPEG', quality=JPEG_QUALITY, subsampling=0)


# ----------------------------------------------------------------------------- generation


def _paths(out_dir: str) -> Dict[str, str]:
    cls_dir = osp.join(out_dir, 'classification')
    return dict(
        out_dir=out_dir,
        train_dir=osp.join(out_dir, 'train'),
        val_dir=osp.join(out_dir, 'val'),
        train_ann=osp.join(out_dir, 'annotations', 'instances_train.json'),
        val_ann=osp.join(out_dir, 'annotations', 'instances_val.json'),
        cls_dir=cls_dir,
        cls_train=osp.join(cls_dir, 'train.txt'),
        cls_val=osp.join(cls_dir, 'val.txt'),
        classes_file=osp.join(cls_dir, 'classes.txt'),
        meta=osp.join(out_dir, 'meta.json'),
    )


def _result(out_dir: str, meta: Dict[str, Any], generated: bool,
            seconds: float) -> Dict[str, Any]:
    stats = meta['stats']
    return dict(
        _paths(out_dir),
        classes=tuple(meta['classes']),
        num_images={s: stats[s]['images'] for s in SPLITS},
        num_instances={s: stats[s]['instances'] for s in SPLITS},
        num_cls_samples={s: stats[s]['cls_samples'] for s in SPLITS},
        instances_per_category={s: dict(stats[s]['per_category']) for s in SPLITS},
        generated=generated,
        seconds=seconds,
    )


def _write_split(root: str, split: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Render, save and annotate one split under ``root``; returns its statistics."""
    size, categories = args['image_size'], args['categories']
    num = args[f'num_{split}']
    crop_size = max(32, size // 2)
    img_dir = osp.join(root, split)
    crop_dir = osp.join(root, 'classification', split)
    os.makedirs(img_dir)
    os.makedirs(crop_dir)
    images, annotations, cls_lines = [], [], []
    per_category = {c: 0 for c in categories}
    for index in range(num):
        sample = render_sample(index, split, size, args['seed'], categories,
                               args['min_objects'], args['max_objects'])
        image_id = index + 1
        file_name = f'{image_id:06d}.jpg'
        _save_jpeg(sample.image, osp.join(img_dir, file_name))
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size,
                           background=sample.photo))
        for k, obj in enumerate(sample.objects):
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=obj.label + 1, bbox=obj.bbox,
                                    area=float(obj.area), segmentation=[obj.polygon],
                                    iscrowd=0))
            per_category[obj.category] += 1
            x0, y0, side = _crop_box(obj.bbox, size)
            crop = _resize(sample.image[y0:y0 + side, x0:x0 + side], crop_size, crop_size)
            crop_name = f'{image_id:06d}_{k}.jpg'
            _save_jpeg(crop, osp.join(crop_dir, crop_name))
            cls_lines.append(f'{split}/{crop_name} {obj.label}\n')
    coco = dict(
        info=dict(description=f'mmdicm embedded shapes dataset, {split} split (a toy set '
                  'for demos and tests, not a benchmark)',
                  version=str(GENERATOR_VERSION), contributor='mmdicm'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=c, supercategory='shape')
                    for i, c in enumerate(categories)],
    )
    with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w',
              encoding='utf-8') as f:
        json.dump(coco, f, separators=(',', ':'))
    with open(osp.join(root, 'classification', f'{split}.txt'), 'w', encoding='utf-8') as f:
        f.writelines(cls_lines)
    return dict(images=num, instances=len(annotations), cls_samples=len(cls_lines),
                per_category=per_category)


def _read_meta(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _is_complete(out_dir: str, meta: Dict[str, Any]) -> bool:
    """Whether every file ``meta`` describes is present (cheap: counts, no reading)."""
    paths = _paths(out_dir)
    if not all(osp.isfile(paths[k])
               for k in ('train_ann', 'val_ann', 'cls_train', 'cls_val', 'classes_file')):
        return False
    try:
        for split in SPLITS:
            stats = meta['stats'][split]
            if len(os.listdir(osp.join(out_dir, split))) != stats['images']:
                return False
            if len(os.listdir(osp.join(out_dir, 'classification', split))) != \
                    stats['cls_samples']:
                return False
    except (OSError, KeyError, TypeError):
        return False
    return True


def generate_embedded_dataset(out_dir: Union[str, 'os.PathLike[str]'],
                              num_train: int = 400,
                              num_val: int = 100,
                              image_size: int = 256,
                              seed: int = 0,
                              categories: Sequence[str] = DEFAULT_CATEGORIES,
                              min_objects: int = 1,
                              max_objects: int = 4,
                              overwrite: bool = False) -> Dict[str, Any]:
    """Write the embedded dataset (see the module docstring for what and where).

    Idempotent: if ``out_dir/meta.json`` records the same generator version and arguments
    and the files are all there, nothing is written and the call returns at once
    (``generated=False``). The dataset is built in a temporary sibling directory and moved
    into place at the end, ``meta.json`` last, so an interrupted run leaves no half-written
    dataset behind.

    Args:
        out_dir (str | os.PathLike): Output directory (created if missing).
        num_train (int): Number of training images. Defaults to 400.
        num_val (int): Number of validation images. Defaults to 100.
        image_size (int): Side of the square images, 32..4096. Defaults to 256.
        seed (int): Non-negative seed; the output is a pure function of the arguments.
            Defaults to 0.
        categories (Sequence[str]): Shape names from :data:`SUPPORTED_SHAPES`, in label
            order. Defaults to :data:`DEFAULT_CATEGORIES`.
        min_objects (int): Fewest objects per image (1..10). Defaults to 1.
        max_objects (int): Most objects per image (min_objects..10). Defaults to 4.
        overwrite (bool): Regenerate even if ``out_dir`` already holds a dataset (with any
            arguments). Only the entries this function writes (``train/``, ``val/``,
            ``annotations/``, ``classification/``, ``meta.json``) are replaced; other files
            in ``out_dir`` are left alone. Defaults to False.

    Returns:
        dict: Paths (``out_dir``, ``train_dir``, ``val_dir``, ``train_ann``, ``val_ann``,
        ``cls_dir``, ``cls_train``, ``cls_val``, ``classes_file``, ``meta``), ``classes``
        (tuple), per-split counts (``num_images``, ``num_instances``, ``num_cls_samples``,
        ``instances_per_category``), ``generated`` (False if an identical dataset was
        already there) and ``seconds`` (wall time of this call).

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range (the message names it).
        FileExistsError: If ``out_dir`` is not empty and does not hold this very dataset
            (other arguments, another generator version, foreign or incomplete content)
            and ``overwrite`` is False.
        NotADirectoryError: If ``out_dir`` exists and is not a directory.
    """
    start = time.perf_counter()
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f'out_dir must be a str or os.PathLike, got {type(out_dir).__name__}')
    out_dir = osp.abspath(os.fspath(out_dir))
    if not isinstance(overwrite, bool):
        raise TypeError(f'overwrite must be a bool, got {type(overwrite).__name__}')
    args = _check_args(num_train, num_val, image_size, seed, categories, min_objects,
                       max_objects)
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'out_dir {out_dir} exists and is not a directory')

    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        meta = _read_meta(osp.join(out_dir, 'meta.json'))
        if meta is None or meta.get('generator') != __name__:
            raise FileExistsError(
                f'out_dir {out_dir} is not empty and holds no embedded dataset (no valid '
                'meta.json); choose another directory or pass overwrite=True (CLI: --force)')
        old_args = dict(meta.get('args') or {}, generator_version=meta.get('generator_version'))
        new_args = dict(args, generator_version=GENERATOR_VERSION)
        diff = [f'{k}: {old_args.get(k)!r} there, {v!r} asked' for k, v in new_args.items()
                if old_args.get(k) != v]
        if diff:
            raise FileExistsError(
                f'out_dir {out_dir} already holds an embedded dataset made with other '
                f'arguments ({"; ".join(diff)}); pass overwrite=True (CLI: --force) to '
                'regenerate it, or choose another directory')
        if not _is_complete(out_dir, meta):
            raise FileExistsError(
                f'out_dir {out_dir} holds an incomplete embedded dataset (files missing); '
                'pass overwrite=True (CLI: --force) to regenerate it')
        return _result(out_dir, meta, generated=False, seconds=time.perf_counter() - start)

    parent = osp.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.tmp-', dir=parent)
    try:
        os.makedirs(osp.join(tmp, 'annotations'))
        stats = {split: _write_split(tmp, split, args) for split in SPLITS}
        with open(osp.join(tmp, 'classification', 'classes.txt'), 'w',
                  encoding='utf-8') as f:
            f.writelines(f'{c}\n' for c in args['categories'])
        meta = dict(
            generator=__name__,
            generator_version=GENERATOR_VERSION,
            args=args,
            classes=args['categories'],
            classification_crop_size=max(32, args['image_size'] // 2),
            stats=stats,
            photos=PHOTOS,
            note='Synthetic shapes on skimage.data photos for demos and tests; not a '
            'benchmark.',
        )
        with open(osp.join(tmp, 'meta.json'), 'w', encoding='utf-8') as f:
            json.dump(meta, f, indent=1)
            f.write('\n')
        os.makedirs(out_dir, exist_ok=True)
        old_meta = osp.join(out_dir, 'meta.json')
        if osp.lexists(old_meta):  # first: a half-replaced dataset must not look complete
            os.remove(old_meta)
        for name in OUTPUTS:  # meta.json last: it marks a complete dataset
            dst = osp.join(out_dir, name)
            if osp.isdir(dst) and not osp.islink(dst):
                shutil.rmtree(dst)
            elif osp.lexists(dst):
                os.remove(dst)
            os.replace(osp.join(tmp, name), dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _result(out_dir, meta, generated=True, seconds=time.perf_counter() - start)
