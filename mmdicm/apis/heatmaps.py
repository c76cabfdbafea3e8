"""What ``tools/draw_heatmaps.py`` does: config + checkpoint + images -> a PNG of heatmaps.

Builds the model of a config (an mmpretrain model with a ``backbone`` and a
``data_preprocessor``: DICM's SSL stages, an mmpretrain classifier), loads a checkpoint with
the scoped trusted loading of Runner checkpoints, computes each image's semantic heatmap and
box exactly as :class:`~mmdicm.engine.SemanticBoxHook` does (a plain full-image resize,
layer4, min-max, threshold) and draws them (:mod:`mmdicm.models.selfsup.visualize`).
"""
import glob
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS

from ..models.selfsup.visualize import draw_heatmap_grid, semantic_heatmaps
from ..engine.checkpoint import load_trusted_checkpoint
from ..engine.hooks.semantic_box_hook import get_attr_path

__all__ = ['IMAGE_EXTENSIONS', 'draw_heatmaps', 'find_images', 'load_model']

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def find_images(images: Union[str, Sequence[str]], num: Optional[int] = None) -> List[str]:
    """Image files from a folder, a glob pattern, a file, or a list of those (sorted).

    Args:
        images (str | Sequence[str]): Where the images are.
        num (int, optional): Keep the first ``num``.

    Returns:
        list[str]: Paths.
    """
    items = [images] if isinstance(images, str) else list(images)
    paths: List[str] = []
    for item in items:
        if osp.isdir(item):
            found = [osp.join(item, f) for f in os.listdir(item)]
        elif osp.isfile(item):
            found = [item]
        else:
            found = glob.glob(item)
        paths += sorted(p for p in found if osp.isfile(p)
                        and osp.splitext(p)[1].lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise FileNotFoundError(f'no image ({", ".join(IMAGE_EXTENSIONS)}) found in {images!r}')
    if num is not None:
        if num < 1:
            raise ValueError(f'num must be >= 1, got {num}')
        paths = paths[:num]
    return paths


def load_model(config: Union[str, Config], checkpoint: Optional[str] = None) -> torch.nn.Module:
    """The config's model (eval mode, real coding off), with the checkpoint's weights.

    Args:
        config (str | Config): Config file or object (``custom_imports`` are honoured).
        checkpoint (str, optional): Runner or plain state-dict checkpoint; None keeps the
            initial weights.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        _load_checkpoint_to_model(model, load_trusted_checkpoint(checkpoint), strict=False)
    for m in model.modules():
        if getattr(m, 'real_coding', False) is True:
            m.real_coding = False  # heatmaps need no bitstream
    return model.eval()


def _default_image_size(cfg: Config) -> int:
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'SemanticBoxHook' and 'image_size' in hook:
            return hook['image_size']
    return 224


def draw_heatmaps(config: Union[str, Config],
                  checkpoint: Optional[str],
                  images: Union[str, Sequence[str]],
                  out: str,
                  num: int = 16,
                  threshold: float = 0.1,
                  image_size: Optional[Union[int, Sequence[int]]] = None,
                  backbone: str = 'backbone',
                  ncols: Optional[int] = None) -> dict:
    """Draw the semantic heatmaps and boxes of up to ``num`` images into ``out`` (PNG).

    Args:
        config (str | Config): The model's config.
        checkpoint (str, optional): Its weights.
        images (str | Sequence[str]): Folder, glob, file(s) (:func:`find_images`).
        out (str): Output PNG path (folders are created).
        num (int): Images drawn (the first, sorted). Defaults to 16.
        threshold (float): Heatmap threshold in [0, 1). Defaults to 0.1.
        image_size (int | tuple[int, int], optional): ``(H, W)`` of the plain view; default
            the config's ``SemanticBoxHook.image_size``, else 224.
        backbone (str): Attribute path of the backbone. Defaults to 'backbone'.
        ncols (int, optional): Grid columns.

    Returns:
        dict: ``out``, ``paths`` and the normalised ``boxes`` (``(N, 4)`` in [0, 1]).
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    size = image_size if image_size is not None else _default_image_size(cfg)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    paths = find_images(images, num)
    model = load_model(cfg, checkpoint)
    net = get_attr_path(model, backbone)
    # the box hook's plain view (mmpretrain transforms, whatever the config's scope)
    pipeline = Compose([MMPRETRAIN_TRANSFORMS.build(t) for t in (
        dict(type='LoadImageFromFile'), dict(type='Resize', scale=(w, h), keep_ratio=False),
        dict(type='PackInputs'))])
    samples = [pipeline(dict(img_path=p)) for p in paths]
    data = model.data_preprocessor(default_collate(samples), False)
    heatmaps, boxes = semantic_heatmaps(net, data['inputs'], threshold)
    # the network input is BGR as loaded (the preprocessor converts); show RGB
    pictures = [s['inputs'].permute(1, 2, 0).numpy()[..., ::-1].astype(np.uint8)
                for s in samples]
    fig = draw_heatmap_grid(pictures, heatmaps, boxes, titles=[osp.basename(p) for p in paths],
                            ncols=ncols)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    return dict(out=out, paths=paths, boxes=boxes.float() / scale)
