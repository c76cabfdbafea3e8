"""Semantic-aware localisation: backbone activations -> heatmap -> the box of the object.

DICM's semantic-guided SSL draws MoCo v2's positive crops inside a box around the object
(ContrastiveCrop, Peng et al., "Crafting Better Contrastive Views for Siamese Representation
Learning", CVPR 2022). The box of each training image comes from the backbone itself::

    layer4 output (N, C, h, w) ─ Σ over C ─ min-max per image ─ bilinear ↑ (H, W) ─► heatmap
    heatmap (N, H, W) ─ > threshold ─ bounding box of that region ─► (x1, y1, x2, y2) pixels
    pixels / (W, H) ─► normalised box in [0, 1], stored per sample (image-size free)

Boxes are ``(x1, y1, x2, y2)``, ``x2, y2`` exclusive (the whole image is ``(0, 0, W, H)``,
normalised ``(0, 0, 1, 1)``); degenerate maps (flat, empty, NaN) give the whole image. Pure
torch. The box convention and why normalised boxes are stored: ``docs/ssl.md``.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['boxes_from_heatmaps', 'denormalize_boxes', 'heatmaps_from_features',
           'normalize_boxes', 'semantic_boxes']

SizeLike = Union[int, Sequence[int], Tensor]


def _pair(image_size: Union[int, Sequence[int]], name: str = 'image_size') -> Tuple[int, int]:
    """``(H, W)`` from an int or an ``(H, W)`` pair of positive ints."""
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, Sequence) or len(image_size) != 2 or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in image_size)):
        raise ValueError(f'{name} must be a positive int or an (H, W) pair of positive ints, '
                         f'got {image_size!r}')
    return int(image_size[0]), int(image_size[1])


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f'threshold must be a float in [0, 1), got {threshold!r}')
    if not 0. <= threshold < 1.:
        raise ValueError(f'threshold must be in [0, 1) (heatmaps are min-max normalised to '
                         f'[0, 1]), got {threshold!r}')
    return float(threshold)


def heatmaps_from_features(feats: Tensor, image_size: Union[int, Sequence[int]]) -> Tensor:
    """Per-image heatmaps in [0, 1] from a backbone stage output.

    The activation map is summed over channels, min-max normalised per image and bilinearly
    upsampled (``align_corners=False``) to ``image_size``. Bilinear interpolation is a convex
    combination, so the result stays in [0, 1]. A flat map (max == min) has no salient region
    and becomes all zeros (instead of 0 / 0); non-finite activations become NaN maps, which
    :func:`boxes_from_heatmaps` treats as "no region" (the whole image).

    Args:
        feats (Tensor): ``(N, C, h, w)`` activations, e.g. ResNet's layer4 output.
        image_size (int | tuple[int, int]): ``(H, W)`` of the network input the features were
            computed from (an int means square).

    Returns:
        Tensor: ``(N, H, W)`` float32 heatmaps.

    Example:
        >>> feats = torch.zeros(1, 8, 4, 4)
        >>> feats[:, :, 1:3, 2:4] = 1.
        >>> heatmaps_from_features(feats, 32).shape
        torch.Size([1, 32, 32])
    """
    if not isinstance(feats, Tensor) or feats.dim() != 4:
        raise ValueError(f'feats must be an (N, C, h, w) tensor, got '
                         f'{getattr(feats, "shape", type(feats))}')
    size = _pair(image_size)
    maps = feats.detach().float().sum(dim=1)  # (N, h, w)
    flat = maps.flatten(1)
    lo = flat.min(dim=1).values[:, None, None]
    hi = flat.max(dim=1).values[:, None, None]
    span = hi - lo
    # safe path for flat maps: (x - lo) is 0 there, divide by 1 instead of 0
    maps = (maps - lo) / torch.where(span > 0, span, torch.ones_like(span))
    bad = ~torch.isfinite(flat).all(dim=1)
    if bad.any():
        maps[bad] = float('nan')
    return F.interpolate(maps[:, None], size=size, mode='bilinear',
                         align_corners=False)[:, 0]


def boxes_from_heatmaps(heatmaps: Tensor, threshold: float = 0.1) -> Tensor:
    """Bounding box of the region strictly above ``threshold`` of each heatmap, in pixels.

    Args:
        heatmaps (Tensor): ``(N, H, W)`` heatmaps in [0, 1] (:func:`heatmaps_from_features`).
        threshold (float): In [0, 1). A pixel belongs to the region if its value is
            ``> threshold`` (ContrastiveCrop's rule). Defaults to 0.1 (the authors' value).

    Returns:
        Tensor: ``(N, 4)`` int64 ``(x1, y1, x2, y2)``, ``x1, y1`` inclusive and ``x2, y2``
        exclusive, always ``0 <= x1 < x2 <= W`` and ``0 <= y1 < y2 <= H``. An empty region
        (flat or NaN map) gives the whole image ``(0, 0, W, H)``.

    Example:
        >>> hm = torch.zeros(1, 10, 20)
        >>> hm[0, 2:5, 3:9] = 1.
        >>> boxes_from_heatmaps(hm).tolist()
        [[3, 2, 9, 5]]
    """
    threshold = _check_threshold(threshold)
    if not isinstance(heatmaps, Tensor) or heatmaps.dim() != 3:
        raise ValueError(f'heatmaps must be an (N, H, W) tensor, got '
                         f'{getattr(heatmaps, "shape", type(heatmaps))}')
    n, h, w = heatmaps.shape
    if h < 1 or w < 1:
        raise ValueError(f'heatmaps must have a non-empty spatial size, got {(h, w)}')
    above = heatmaps > threshold  # NaN compares False
    rows = above.any(dim=2)  # (N, H)
    cols = above.any(dim=1)  # (N, W)
    found = rows.any(dim=1)

    def first_last(mask: Tensor, length: int) -> Tuple[Tensor, Tensor]:
        idx = torch.arange(length, device=mask.device).expand_as(mask)
        first = torch.where(mask, idx, torch.full_like(idx, length)).min(dim=1).values
        last = torch.where(mask, idx, torch.full_like(idx, -1)).max(dim=1).values
        return first, last + 1

    x1, x2 = first_last(cols, w)
    y1, y2 = first_last(rows, h)
    boxes = torch.stack([x1, y1, x2, y2], dim=1)
    whole = torch.tensor([0, 0, w, h], device=boxes.device, dtype=boxes.dtype)
    return torch.where(found[:, None], boxes, whole.expand(n, 4)).long()


def _sizes(sizes: SizeLike, n: int, like: Tensor) -> Tensor:
    """``(N, 2)`` float64 ``(H, W)`` rows from one size or one size per box."""
    if isinstance(sizes, Tensor):
        out = sizes.to(device=like.device, dtype=torch.float64)
    else:
        out = torch.tensor(_pair(sizes, 'sizes'), dtype=torch.float64, device=like.device)
    if out.dim() == 1:
        out = out.expand(n, -1)
    if out.shape != (n, 2) or not torch.all(out >= 1):
        raise ValueError(f'sizes must be an (H, W) pair or {n} (H, W) rows of positive sizes, '
                         f'got shape {tuple(out.shape)}')
    return out


def normalize_boxes(boxes: Tensor, sizes: SizeLike) -> Tensor:
    """Pixel boxes ``(x1, y1, x2, y2)`` of images of ``sizes`` -> boxes in [0, 1].

    Args:
        boxes (Tensor): ``(N, 4)`` pixel boxes (x2, y2 exclusive).
        sizes (int | tuple[int, int] | Tensor): ``(H, W)`` of every image, or ``(N, 2)`` rows
            of ``(H, W)``, one per box (e.g. each image's valid, unpadded size).

    Returns:
        Tensor: ``(N, 4)`` float32 boxes divided by ``(W, H, W, H)`` and clipped to [0, 1].
    """
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f'boxes must be an (N, 4) tensor, got '
                         f'{getattr(boxes, "shape", type(boxes))}')
    hw = _sizes(sizes, boxes.shape[0], boxes)
    scale = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)
    return (boxes.double() / scale).clamp(0., 1.).float()


def denormalize_boxes(boxes: Tensor, sizes: SizeLike) -> Tensor:
    """Normalised boxes -> pixel boxes of images of ``sizes`` (e.g. the original images).

    Because the heatmaps are computed on a full-image resize, a normalised box covers the same
    image content at every size; this maps it to pixels ``(x1, y1, x2, y2)`` of an image of
    ``(H, W)`` (float, x2/y2 exclusive: the whole image is ``(0, 0, W, H)``).

    Args:
        boxes (Tensor): ``(N, 4)`` boxes in [0, 1].
        sizes (int | tuple[int, int] | Tensor): ``(H, W)`` of every image, or ``(N, 2)`` rows.

    Returns:
        Tensor: ``(N, 4)`` float32 pixel boxes.
    """
    if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f'boxes must be an (N, 4) tensor, got '
                         f'{getattr(boxes, "shape", type(boxes))}')
    hw = _sizes(sizes, boxes.shape[0], boxes)
    scale = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)
    return (boxes.double() * scale).float()


def semantic_boxes(feats: Tensor, image_size: Union[int, Sequence[int]],
                   threshold: float = 0.1,
                   valid_sizes: Optional[SizeLike] = None) -> Tensor:
    """Normalised semantic boxes of a batch: features -> heatmaps -> pixel boxes -> [0, 1].

    Args:
        feats (Tensor): ``(N, C, h, w)`` last-stage activations.
        image_size (int | tuple[int, int]): ``(H, W)`` of the (batched) network input.
        threshold (float): Heatmap threshold in [0, 1). Defaults to 0.1.
        valid_sizes (optional): ``(N, 2)`` unpadded ``(H, W)`` of each image inside the batch
            (a data preprocessor pads at the bottom/right); boxes are clipped to it and
            normalised by it. Defaults to ``image_size`` (no padding).

    Returns:
        Tensor: ``(N, 4)`` float32 normalised boxes, each with positive width and height.
    """
    size = _pair(image_size)
    boxes = boxes_from_heatmaps(heatmaps_from_features(feats, size), threshold)
    if valid_sizes is None:
        return normalize_boxes(boxes, size)
    hw = _sizes(valid_sizes, boxes.shape[0], boxes).round().long()
    limit = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)
    clipped = torch.minimum(boxes, limit)
    # a region entirely in the padding leaves an empty box: use the whole valid image
    empty = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    whole = torch.cat([torch.zeros_like(limit[:, :2]), limit[:, 2:]], dim=1)
    clipped = torch.where(empty[:, None], whole, clipped)
    return normalize_boxes(clipped, hw)

