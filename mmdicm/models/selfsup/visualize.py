"""Draw the semantic heatmaps and boxes that guide DICM's contrastive crops.

What :class:`~mmdicm.engine.SemanticBoxHook` computes for every training image, shown over the
images themselves (ContrastiveCrop's Fig. 3)::

    image ─ plain resize ─ backbone ─ layer4 ─► heatmap (jet, translucent) + box (green)

:func:`semantic_heatmaps` runs a backbone on a batch and returns heatmaps and pixel boxes with
exactly the hook's rule (:mod:`~mmdicm.models.selfsup.guidance`); :func:`draw_heatmap_grid`
draws them on a grid and returns a matplotlib :class:`~matplotlib.figure.Figure` attached to
an Agg canvas (no pyplot, the global backend is left alone). ``tools/draw_heatmaps.py`` is the
command line (:func:`mmdicm.apis.heatmaps.draw_heatmaps` loads config and checkpoint).
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from .guidance import boxes_from_heatmaps, heatmaps_from_features

__all__ = ['draw_heatmap_grid', 'semantic_heatmaps']


@torch.no_grad()
def semantic_heatmaps(backbone: nn.Module, inputs: Tensor,
                      threshold: float = 0.1) -> Tuple[Tensor, Tensor]:
    """Heatmaps and boxes of a normalised image batch, as the box hook computes them.

    The backbone runs in eval mode (restored afterwards); its last output is the layer4
    activation map.

    Args:
        backbone (nn.Module): Returns a tensor or a tuple of stage outputs.
        inputs (Tensor): ``(N, 3, H, W)`` normalised images (the data preprocessor's output).
        threshold (float): Heatmap threshold in [0, 1). Defaults to 0.1.

    Returns:
        tuple[Tensor, Tensor]: ``(N, H, W)`` heatmaps in [0, 1] and ``(N, 4)`` int64 pixel
        boxes ``(x1, y1, x2, y2)`` (x2, y2 exclusive).
    """
    if not isinstance(inputs, Tensor) or inputs.dim() != 4:
        raise ValueError(f'inputs must be an (N, 3, H, W) tensor, got '
                         f'{getattr(inputs, "shape", type(inputs))}')
    modes = {m: m.training for m in backbone.modules()}
    backbone.eval()
    try:
        feats = backbone(inputs)
    finally:
        for m, flag in modes.items():
            m.training = flag
    if isinstance(feats, (tuple, list)):
        feats = feats[-1]
    heatmaps = heatmaps_from_features(feats, tuple(inputs.shape[-2:]))
    return heatmaps, boxes_from_heatmaps(heatmaps, threshold)


def draw_heatmap_grid(images: Sequence[np.ndarray],
                      heatmaps: Tensor,
                      boxes: Tensor,
                      titles: Optional[Sequence[str]] = None,
                      ncols: Optional[int] = None,
                      alpha: float = 0.45,
                      tile_inches: float = 2.2):
    """A grid of images, each with its heatmap overlaid and its box drawn.

    Args:
        images (Sequence[np.ndarray]): ``(H, W, 3)`` uint8 RGB images, the size of the maps.
        heatmaps (Tensor): ``(N, H, W)`` heatmaps in [0, 1] (NaN maps are drawn empty).
        boxes (Tensor): ``(N, 4)`` pixel boxes ``(x1, y1, x2, y2)``, x2/y2 exclusive.
        titles (Sequence[str], optional): One caption per image.
        ncols (int, optional): Columns; default about the square root of N.
        alpha (float): Opacity of the heatmap. Defaults to 0.45.
        tile_inches (float): Size of one tile. Defaults to 2.2.

    Returns:
        matplotlib.figure.Figure: with an Agg canvas (``fig.savefig('x.png')`` works).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n = len(images)
    if n == 0:
        raise ValueError('draw_heatmap_grid needs at least one image')
    if heatmaps.dim() != 3 or heatmaps.shape[0] != n or tuple(boxes.shape) != (n, 4):
        raise ValueError(f'expected {n} heatmaps (N, H, W) and boxes (N, 4), got '
                         f'{tuple(heatmaps.shape)} and {tuple(boxes.shape)}')
    if titles is not None and len(titles) != n:
        raise ValueError(f'got {len(titles)} titles for {n} images')
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(tile_inches * ncols, tile_inches * nrows + 0.3))
    FigureCanvasAgg(fig)
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.set_axis_off()
        if i >= n:
            continue
        image = np.asarray(images[i])
        hm = heatmaps[i].detach().cpu().float().numpy()
        if image.shape[:2] != hm.shape:
            raise ValueError(f'image {i} is {image.shape[:2]} but its heatmap {hm.shape}')
        ax.imshow(image)
        ax.imshow(np.ma.masked_invalid(hm), cmap='jet', alpha=alpha, vmin=0., vmax=1.)
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        # pixel (x, y) covers [x - 0.5, x + 0.5] in imshow coordinates
        ax.add_patch(Rectangle((x1 - .5, y1 - .5), x2 - x1, y2 - y1, fill=False,
                               edgecolor='lime', linewidth=2.))
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle('semantic heatmaps (layer4, min-max) and boxes above the threshold',
                 fontsize=8)
    fig.tight_layout()
    return fig
