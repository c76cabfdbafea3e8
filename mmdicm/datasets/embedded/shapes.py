"""Shape polygons and their exact rasterisation (pycocotools', as mmdet and COCO use)."""
import math
from typing import Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from .spec import CIRCLE_VERTICES, CROSS_HALF_WIDTH, STAR_INNER_RATIO, SUPPORTED_SHAPES


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
        aspect (float): Short side / long side of a ``rectangle`` or short / long axis of an
            ``ellipse`` (0 < aspect <= 1; 1 is a square, a circle). Ignored by the other
            shapes. Defaults to 1.

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
    elif shape == 'ellipse':
        unit = ring(CIRCLE_VERTICES) * np.array([1.0, aspect])
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
