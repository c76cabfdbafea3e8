"""Where the bits go (``--bit-map``): estimated bits per latent position of one image, drawn
over the original picture (units: ``docs/deployment.md``). matplotlib is imported only to draw."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ...version import __version__
from .manifest import BIT_GRID_SUFFIX, BIT_MAP_SUFFIX, CONTAINER_SUFFIX

__all__ = ['BitAllocation', 'SIZE_CLASSES', 'bit_allocation', 'box_densities', 'box_shares',
           'render_bit_map', 'size_class', 'write_bit_map']

#: COCO's object-size classes by annotation area in original pixels (its evaluator's bands,
#: absolute: small < 32², medium < 96², large above)
SIZE_CLASSES = (('small', 32.0**2), ('medium', 96.0**2), ('large', float('inf')))


@dataclass(frozen=True)
class BitAllocation:
    """Estimated bits of one image's transmitted latents, per y-grid position.

    Attributes:
        bits (np.ndarray): (h_y, w_y) float64, bits of y at each position plus the bits of
            the z position above it shared evenly among the y positions it covers.
        y_bits (float): Σ -log2 p(y_hat).
        z_bits (float): Σ -log2 p(z_hat).
        cell (int): Coded-image pixels per grid position along each side.
    """

    bits: np.ndarray
    y_bits: float
    z_bits: float
    cell: int

    @property
    def total(self) -> float:
        """float: Estimated bits of y and z (container overhead excluded)."""
        return self.y_bits + self.z_bits


@torch.no_grad()
def bit_allocation(backbone: nn.Module, inputs: torch.Tensor) -> BitAllocation:
    """Bits per latent position of one preprocessed image, from the eval-mode likelihoods.

    Args:
        backbone (DICMResNet): In eval mode, with a compression network.
        inputs (Tensor): (1, 3, H, W), what :meth:`DICMResNet.compress` is given.
    """
    if backbone.training:
        raise RuntimeError('bit_allocation() needs the backbone in eval mode (the rounded '
                           'latents that real coding transmits)')
    if inputs.dim() != 4 or inputs.shape[0] != 1:
        raise ValueError(f'bit_allocation() takes one image (1, 3, H, W), got '
                         f'{tuple(inputs.shape)}')
    codec = backbone.codec
    net = codec._require_net()
    f1 = backbone.forward_head(inputs)  # of the padded input
    likelihoods = net(codec._edge_features(f1))['likelihoods']
    y_bits = -torch.log2(likelihoods['y'].double()).sum(1)[0]
    z_bits = -torch.log2(likelihoods['z'].double()).sum(1)[0]
    ky = y_bits.shape[0] // z_bits.shape[0]
    kx = y_bits.shape[1] // z_bits.shape[1]
    z_share = z_bits.repeat_interleave(ky, 0).repeat_interleave(kx, 1) / (ky * kx)
    # pixels per y position: the padded input over y's grid (not net.stride, which is z's)
    cell = f1.shape[-2] * codec.input_stride // y_bits.shape[0]
    return BitAllocation(bits=(y_bits + z_share).cpu().numpy(), y_bits=float(y_bits.sum()),
                         z_bits=float(z_bits.sum()), cell=cell)


def render_bit_map(alloc: BitAllocation,
                   input_hw: Sequence[int],
                   original_hw: Sequence[int],
                   image: Optional[np.ndarray] = None,
                   alpha: float = 0.6,
                   cmap: str = 'inferno') -> Tuple[np.ndarray, np.ndarray, float]:
    """The bit map over the original image (units: ``docs/deployment.md``).

    Args:
        alloc (BitAllocation): From :func:`bit_allocation`.
        input_hw ((int, int)): Input size after the pipeline's resize (the image region of
            the coded tensor, top-left).
        original_hw ((int, int)): Size of the original image (of the PNG).
        image (np.ndarray, optional): RGB uint8 original image to blend over.
        alpha (float): Heatmap opacity in [0, 1]. Defaults to 0.6.
        cmap (str): matplotlib colormap. Defaults to ``'inferno'``.

    Returns:
        tuple: ``(rgb, density, vmax)``: the uint8 (H, W, 3) picture, the float map in bits
        per original pixel and the value at the top of the colormap.
    """
    import cv2
    from matplotlib import colormaps
    if not 0 <= alpha <= 1:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    c = alloc.cell
    per_pixel = np.repeat(np.repeat(alloc.bits / (c * c), c, 0), c, 1)  # bits per coded pixel
    ih, iw = int(input_hw[0]), int(input_hw[1])
    oh, ow = int(original_hw[0]), int(original_hw[1])
    per_pixel = per_pixel[:ih, :iw]
    density = cv2.resize(per_pixel, (ow, oh), interpolation=cv2.INTER_NEAREST)
    density = density * (ih * iw) / (oh * ow)  # bits per original pixel
    vmax = float(density.max()) if density.size and density.max() > 0 else 1.0
    heat = colormaps[cmap](np.clip(density / vmax, 0, 1))[..., :3]
    if image is not None:
        if image.shape[:2] != (oh, ow):
            raise ValueError(f'image of shape {image.shape[:2]} for a map of size {(oh, ow)}')
        heat = (1 - alpha) * image[..., :3].astype(np.float64) / 255 + alpha * heat
    rgb = np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)
    return rgb, density, vmax


def box_shares(alloc: BitAllocation, boxes: Sequence[Sequence[float]],
               input_hw: Sequence[int], original_hw: Sequence[int]) -> Dict[str, float]:
    """How many of an image's estimated bits fall inside its ground-truth boxes, against how
    much of the coded area they cover: a codec that spends bits where the objects are has
    ``box_bit_share > box_area_share``; one that spreads them like the area has them equal.

    Each grid position counts with the fraction of its cell the union of the boxes covers
    (no threshold); positions over the padding count as outside, in both shares.

    Args:
        alloc (BitAllocation): From :func:`bit_allocation`.
        boxes (Sequence): ``[x, y, w, h]`` per box in original-image pixels (COCO's bbox).
        input_hw ((int, int)): Input size after the pipeline's resize.
        original_hw ((int, int)): Size of the original image.

    Returns:
        dict: ``box_area_share``, ``box_bit_share`` (fractions in [0, 1]), ``box_bits``
        (estimated bits inside) and ``box_cells`` (grid positions covered, fractional).
    """
    covered = _covered(boxes, alloc, input_hw, original_hw)
    bits = alloc.bits.astype(np.float64)
    inside = float((bits * covered).sum())
    total = float(bits.sum())
    return dict(box_area_share=float(covered.mean()),
                box_bit_share=inside / total if total > 0 else 0.0,
                box_bits=inside, box_cells=float(covered.sum()))


def size_class(area: float) -> str:
    """COCO's size class of an object of ``area`` original pixels (:data:`SIZE_CLASSES`)."""
    return next(name for name, below in SIZE_CLASSES if area < below)


def _covered(boxes: Sequence[Sequence[float]], alloc: BitAllocation, input_hw: Sequence[int],
             original_hw: Sequence[int]) -> np.ndarray:
    """Fraction of each grid cell that the union of ``boxes`` (original ``[x, y, w, h]``)
    covers, clipped to the input region (the padding is never covered)."""
    c = alloc.cell
    gh, gw = alloc.bits.shape
    mask = np.zeros((gh * c, gw * c), dtype=np.float64)
    sy, sx = input_hw[0] / original_hw[0], input_hw[1] / original_hw[1]
    for box in boxes:
        x, y, w, h = (float(v) for v in box)
        if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
            raise ValueError(f'a box must be finite [x, y, w, h] with w, h > 0, got {list(box)}')
        x0, y0 = int(round(x * sx)), int(round(y * sy))
        x1, y1 = int(round((x + w) * sx)), int(round((y + h) * sy))
        mask[max(y0, 0):min(y1, input_hw[0]), max(x0, 0):min(x1, input_hw[1])] = 1.0
    return mask.reshape(gh, c, gw, c).mean(axis=(1, 3))


def box_densities(alloc: BitAllocation, boxes: Sequence[Sequence[float]],
                  areas: Sequence[float], input_hw: Sequence[int],
                  original_hw: Sequence[int]) -> List[List[Any]]:
    """Each box's estimated bits per pixel against the image's mean, with its COCO size
    class: does the codec spend more on small objects than on the background? ``1.0`` = the
    box gets the image's mean density.

    Each box counts alone (overlaps counted in each), its grid cells by the fraction it
    covers; the image's mean is every estimated bit over the input's pixels. A box that
    covers no input pixel (rounded away, or outside) is left out.

    Args:
        alloc (BitAllocation): From :func:`bit_allocation`.
        boxes (Sequence): ``[x, y, w, h]`` per box in original-image pixels (COCO's bbox).
        areas (Sequence[float]): Each box's COCO ``area`` (original pixels): its size class.
        input_hw ((int, int)): Input size after the pipeline's resize.
        original_hw ((int, int)): Size of the original image.

    Returns:
        list: ``[size_class, density_ratio]`` per box that covers a pixel, in box order.
    """
    if len(areas) != len(boxes):
        raise ValueError(f'one area per box: got {len(areas)} areas for {len(boxes)} boxes')
    c = alloc.cell
    bits = alloc.bits.astype(np.float64)
    mean = float(bits.sum()) / (input_hw[0] * input_hw[1])
    out: List[List[Any]] = []
    for box, area in zip(boxes, areas):
        covered = _covered([box], alloc, input_hw, original_hw)
        pixels = float(covered.sum()) * c * c
        if pixels > 0 and mean > 0:
            out.append([size_class(float(area)), float((bits * covered).sum()) / pixels / mean])
    return out


def _write_png(path: str, rgb: np.ndarray, description: str) -> None:
    """Exact-size PNG through a private Figure + Agg canvas (the global backend is untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(dpi=100, frameon=False)
    fig.figimage(rgb, xo=0, yo=0, origin='upper', resize=True)
    FigureCanvasAgg(fig).print_png(
        path, metadata={'Software': f'mmdicm {__version__}', 'Description': description})


def write_bit_map(backbone: nn.Module, inputs: torch.Tensor, image_path: str, name: str,
                  out_dir: str, input_hw: Sequence[int], original_hw: Sequence[int],
                  alpha: float,
                  boxes: Optional[Sequence[Sequence[float]]] = None,
                  areas: Optional[Sequence[float]] = None) -> Dict[str, Any]:
    """``<name>.bits.npy`` (the grid) and ``<name>.bits.png`` (the map over the image at
    ``image_path``) in ``out_dir``; returns the manifest entry's bit-map fields.

    Args:
        backbone (DICMResNet): In eval mode, with a compression network.
        inputs (Tensor): (1, 3, H, W), the preprocessed image that is coded.
        image_path (str): The original image (drawn under the map if its size matches).
        name (str): Stem of the output files (``<name>.dicm`` is the container).
        out_dir (str): Output folder.
        input_hw ((int, int)): Input size after the pipeline's resize.
        original_hw ((int, int)): Size of the original image.
        alpha (float): Heatmap opacity over the image in [0, 1].
        boxes (Sequence, optional): The image's ground-truth ``[x, y, w, h]`` boxes (original
            pixels): the entry then also has :func:`box_shares`' fields.
        areas (Sequence[float], optional): The boxes' COCO areas: the entry then also has
            ``box_density`` (:func:`box_densities`).
    """
    import mmcv
    alloc = bit_allocation(backbone, inputs)
    image = mmcv.imread(image_path, channel_order='rgb')
    if image is not None and image.shape[:2] != tuple(original_hw):
        image = None  # e.g. an EXIF rotation the pipeline applied differently
    rgb, _, vmax = render_bit_map(alloc, input_hw, original_hw, image, alpha)
    png, grid = name + BIT_MAP_SUFFIX, name + BIT_GRID_SUFFIX
    np.save(osp.join(out_dir, grid), alloc.bits.astype(np.float32))
    _write_png(osp.join(out_dir, png), rgb,
               f'mmdicm bit-allocation map of {name}{CONTAINER_SUFFIX}: colour = estimated bits '
               f'per original-image pixel, inferno colormap from 0 to {vmax:.6g}, blended over '
               f'the image with alpha {alpha}')
    entry = dict(bit_map=png, bit_grid=grid, estimated_bits=alloc.total,
                 estimated_bits_y=alloc.y_bits, estimated_bits_z=alloc.z_bits,
                 bit_map_vmax=vmax, bit_grid_cells=int(alloc.bits.size))
    if boxes is not None:
        entry.update(box_shares(alloc, boxes, input_hw, original_hw))
        if areas is not None:
            entry['box_density'] = box_densities(alloc, boxes, areas, input_hw, original_hw)
    return entry
