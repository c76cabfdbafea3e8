"""One image of the embedded dataset: a photo crop with shapes painted on, exact masks."""
import math
from functools import lru_cache
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ...utils import check_int
from .shapes import rasterize_polygon, shape_polygon
from .spec import (COORD_DECIMALS, DEFAULT_CATEGORIES, GENERATOR_VERSION, MAX_IMAGES,
                   MAX_PLACEMENT_ATTEMPTS, MIN_DIAMETER_PX, MIN_OBJECT_PIXELS, OBJECT_GAP, PHOTOS,
                   SIZE_RANGE, SPLITS, EmbeddedObject, EmbeddedSample, check_args)


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


def resize_image(img: np.ndarray, width: int, height: int) -> np.ndarray:
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
    return resize_image(np.ascontiguousarray(crop), width, height), name


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
    index = check_int('index', index, 0, MAX_IMAGES - 1, strict=True)
    args = check_args(1, 1, image_size, seed, categories, min_objects, max_objects)
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
