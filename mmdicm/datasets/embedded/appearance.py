"""Low-contrast fills of the ``'coco-like'`` preset: textures sampled near the local
background's statistics, fill patterns (the texture classes) and unannotated clutter."""
import math
from typing import Optional, Tuple

import cv2
import numpy as np

from .render import _photo, resize_image

#: Fill patterns of the texture classes (``None``: the photo texture alone).
PATTERNS: Tuple[str, ...] = ('stripes', 'checker', 'dots')
#: Fills take their texture from the background's own photo (same palette, same kind of
#: texture), except on ``brick``, whose periodic courses would pass for a fill pattern.
FILL_SOURCE = {'brick': 'gravel'}
# Versions 2, 3 (2026-12-03) raised the contrast from offsets 4-20, gain 0.4-1.0, patterns
# 7-18 (version 1, which a from-scratch CPU detector did not learn): docs/embedded_data.md
OFFSET_RANGE = (24.0, 64.0)  # |mean luminance shift| of a fill vs its surroundings (grey levels)
TEXTURE_GAIN = (0.2, 0.6)  # fill texture std / the surroundings' std (per channel)
TEXTURE_STD = (3.0, 28.0)  # ... clipped to this range (grey levels)
PATTERN_AMPLITUDE = (16.0, 36.0)  # half peak-to-peak of a fill pattern (grey levels)
PATTERN_PERIODS = (2.5, 5.0)  # pattern periods across an object's diameter
PATTERN_MIN_PERIOD = 3.0  # pixels: finer patterns would alias away
TINT = 0.02  # per-channel gain jitter of the fill colour around the surroundings' mean
NOISE_STD = 2.0  # pixel noise (grey levels)


def _texture(rng: np.random.Generator, photo: str, width: int, height: int) -> np.ndarray:
    """(height, width, 3) float32, a random patch of ``photo`` (or its
    :data:`FILL_SOURCE`) standardised per channel (zero mean, unit std; flat stays flat)."""
    photo = _photo(FILL_SOURCE.get(photo, photo))
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.05, 0.4)
    ch = max(2, min(ph, round(scale * min(ph, pw))))
    cw = max(2, min(pw, round(ch * width / height)))
    y0, x0 = int(rng.integers(ph - ch + 1)), int(rng.integers(pw - cw + 1))
    crop = np.ascontiguousarray(photo[y0:y0 + ch, x0:x0 + cw])
    patch = resize_image(crop, width, height).astype(np.float32).reshape(height, width, 3)
    return (patch - patch.mean(axis=(0, 1))) / np.maximum(patch.std(axis=(0, 1)), 1.0)


def pattern(rng: np.random.Generator, kind: str, width: int, height: int,
            diameter: float) -> np.ndarray:
    """(height, width) float32 of +-1 (dots: +1 inside), ``'stripes'``, ``'checker'`` or
    ``'dots'`` at a random orientation and phase, ``PATTERN_PERIODS`` periods across
    ``diameter``, minus its mean (a pattern does not shift a fill's brightness)."""
    if kind not in PATTERNS:
        raise ValueError(f'kind must be one of {list(PATTERNS)}, got {kind!r}')
    period = max(PATTERN_MIN_PERIOD, diameter / rng.uniform(*PATTERN_PERIODS))
    theta = rng.uniform(0, math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs * math.cos(theta) + ys * math.sin(theta)) / period + rng.uniform(0, 1)
    v = (-xs * math.sin(theta) + ys * math.cos(theta)) / period + rng.uniform(0, 1)
    if kind == 'stripes':
        on = u % 1 < 0.5
    elif kind == 'checker':
        on = (u % 1 < 0.5) ^ (v % 1 < 0.5)
    else:
        on = np.hypot(u % 1 - 0.5, v % 1 - 0.5) < 0.3
    pat = np.where(on, 1.0, -1.0).astype(np.float32)
    return pat - pat.mean()


def matched_fill(rng: np.random.Generator, surround: np.ndarray, photo: str,
                 box: Tuple[int, int, int, int], kind: Optional[str] = None) -> np.ndarray:
    """A fill for ``box`` = ``(x, y, w, h)``: uint8 (h, w, 3), a patch of the background's
    ``photo`` brought to the per-channel mean and spread of the pixels around the box in
    ``surround`` (spread scaled by ``TEXTURE_GAIN``), shifted in brightness by a little and,
    if ``kind`` is given, with a fill pattern on top."""
    x, y, w, h = box
    size_y, size_x = surround.shape[:2]
    m = max(w, h) // 2 + 2
    ctx = surround[max(0, y - m):min(size_y, y + h + m), max(0, x - m):min(size_x, x + w + m)]
    ctx = ctx.reshape(-1, 3).astype(np.float32)
    mean = ctx.mean(axis=0) * rng.uniform(1 - TINT, 1 + TINT, size=3)
    std = np.clip(ctx.std(axis=0) * rng.uniform(*TEXTURE_GAIN), *TEXTURE_STD)
    fill = mean + std * _texture(rng, photo, w, h)
    grey = np.full((h, w), rng.choice([-1.0, 1.0]) * rng.uniform(*OFFSET_RANGE), np.float32)
    if kind is not None:
        amp = rng.choice([-1.0, 1.0]) * rng.uniform(*PATTERN_AMPLITUDE)
        grey = grey + amp * pattern(rng, kind, w, h, float(max(w, h)))
    fill = fill + grey[:, :, None] + rng.normal(0, NOISE_STD, size=(h, w, 3))
    return np.clip(np.rint(fill), 0, 255).astype(np.uint8)


def paint(image: np.ndarray, mask: np.ndarray, fill_box: Tuple[int, int, int, int],
          fill: np.ndarray) -> None:
    """Copy ``fill`` (the box ``(x, y, w, h)``'s pixels) into ``image`` where ``mask``."""
    x, y, w, h = fill_box
    region = mask[y:y + h, x:x + w]
    image[y:y + h, x:x + w][region] = fill[region]


def _mask_box(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _clutter_mask(rng: np.random.Generator, size: int, area_range: Tuple[float, float]
                  ) -> np.ndarray:
    """A stroke (2-4-point polyline, 1-3 px thick) or an irregular blob (7-11 vertices with
    jittered radii: no class's outline), as a (size, size) bool mask."""
    mask = np.zeros((size, size), np.uint8)
    center = rng.uniform(0, size, size=2)
    if rng.random() < 0.5:
        length = rng.uniform(0.1, 0.5) * size
        pts = center + np.cumsum(rng.normal(0, length / 2, size=(int(rng.integers(2, 5)), 2)),
                                 axis=0)
        cv2.polylines(mask, [np.round(pts).astype(np.int32)], False, 1,
                      thickness=int(rng.integers(1, 4)))
    else:
        n = int(rng.integers(7, 12))
        angles = np.sort(rng.uniform(0, 2 * math.pi, size=n))
        area = math.exp(rng.uniform(*np.log(area_range)))
        radii = math.sqrt(area / math.pi) * rng.uniform(0.55, 1.0, size=n) * 1.2
        pts = center + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


def add_clutter(rng: np.random.Generator, image: np.ndarray, photo: str, count: int,
                area_range: Tuple[float, float]) -> int:
    """Paint ``count`` unannotated distractors (:func:`_clutter_mask`) into ``image`` in place,
    each with a matched fill and a random pattern (or none); the number actually painted."""
    painted = 0
    for _ in range(count):
        mask = _clutter_mask(rng, image.shape[0], area_range)
        box = _mask_box(mask)
        kind = (None, *PATTERNS)[rng.integers(len(PATTERNS) + 1)]
        if box is None:
            continue
        paint(image, mask, box, matched_fill(rng, image, photo, box, kind))
        painted += 1
    return painted
