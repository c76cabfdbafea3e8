"""Deployment: images -> container files on the edge, container files -> task predictions.

What ``tools/compress.py`` and ``tools/analyze.py`` do, importable and tested. The manifest,
the rates it records and the bit-allocation map are specified in ``docs/deployment.md``.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..codec import BitstreamError, DICMBitstream
from ..codec import read as read_bitstream
from ..models import inject_backbone_features, predict_on_features
from ..version import __version__

__all__ = [
    'AnalyzeResult', 'BitAllocation', 'CompressResult', 'DeployError', 'DeployModel',
    'IMAGE_EXTENSIONS', 'ImageFileError', 'ImageRecord', 'ImageSet', 'MANIFEST_CSV',
    'MANIFEST_JSON', 'analyze_bitstreams', 'bit_allocation', 'check_analyze_inputs',
    'check_image_file', 'check_outputs', 'compress_images', 'find_images',
    'format_analyze_summary', 'format_compress_summary', 'inject_backbone_features',
    'load_deploy_model', 'render_bit_map'
]

MANIFEST_JSON = 'manifest.json'
MANIFEST_CSV = 'manifest.csv'
MANIFEST_FORMAT = 'mmdicm-manifest'
MANIFEST_VERSION = 1
CONTAINER_SUFFIX = '.dicm'
BIT_MAP_SUFFIX = '.bits.png'
BIT_GRID_SUFFIX = '.bits.npy'

#: Image files :func:`find_images` picks up in a folder (case-insensitive).
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')

#: Test-pipeline transforms skipped on the edge: they load labels, never touch pixels.
ANNOTATION_TRANSFORMS = ('LoadAnnotations', 'LoadPanopticAnnotations', 'LoadProposals',
                         'LoadTrackAnnotations')

RATE_DEFINITIONS = {
    'bytes': 'size of the container file: header, CRC and the y and z strings',
    'bpp_original': '8 * bytes / (original height * width); the headline',
    'bpp_input': '8 * bytes / (input height * width), input = after the test pipeline resize, '
                 'before batch padding (= DICMBppMetric dicm/bpp at batch size 1)',
}

CSV_FIELDS = ('file', 'image', 'img_id', 'original_h', 'original_w', 'input_h', 'input_w',
              'coded_h', 'coded_w', 'bytes', 'bpp_original', 'bpp_input', 'estimated_bits')


class DeployError(ValueError):
    """A bad path, option, config or checkpoint: the tools print it as one ``error:`` line
    and exit with status 2. Problems with single files are collected, never raised."""


# ---------------------------------------------------------------------- the model
@dataclass
class DeployModel:
    """A task model ready for deployment: built, loaded, in eval mode, tables in place.

    Attributes:
        model (nn.Module): The mmdet detector or mmpretrain classifier.
        cfg (Config): The config it was built from (``--cfg-options`` applied).
        scope (str): The registry scope (``default_scope`` of the config).
        task (str): ``'detection'`` or ``'classification'``.
        dataset_meta (dict): Class names etc. (checkpoint meta, else the config's dataset).
        config_path (str): As given.
        checkpoint_path (str): As given.
        tables_computed (bool): True if the checkpoint carried no entropy tables and
            :func:`load_deploy_model` computed them with ``update()``.
    """

    model: nn.Module
    cfg: Any
    scope: str
    task: str
    dataset_meta: Dict[str, Any]
    config_path: str
    checkpoint_path: str
    tables_computed: bool = False

    @property
    def backbone(self) -> nn.Module:
        """The :class:`~mmdicm.models.DICMResNet` of the model."""
        return self.model.backbone

    def fingerprint(self) -> bytes:
        """16-byte digest of what decoding depends on (see ``DICMFeatureCodec.fingerprint``)."""
        return self.backbone.codec.fingerprint()

    @property
    def codec_stride(self) -> int:
        """The codec's total stride in input pixels (64 for the paper's split: one position
        of the hyperprior latent z; inputs are padded to a multiple of it).
        :func:`compress_images` refuses images with a smaller side by default."""
        codec = self.backbone.codec
        return codec.input_stride * codec.stride

    def scope_context(self) -> contextlib.AbstractContextManager:
        """Registry scope for building pipelines and metrics."""
        from mmengine.registry import DefaultScope
        return DefaultScope.overwrite_default_scope(self.scope)

    def test_pipeline(self) -> Any:
        """The config's test pipeline without annotation loaders, as a ``Compose``."""
        from mmengine.dataset import Compose
        steps = [step for step in _test_pipeline_cfg(self.cfg)
                 if str(step.get('type', '')).split('.')[-1] not in ANNOTATION_TRANSFORMS]
        with self.scope_context():
            return Compose(steps)


def _test_pipeline_cfg(cfg: Any) -> List[dict]:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    dataset = loader.get('dataset') if loader else None
    while dataset is not None:
        if 'pipeline' in dataset:
            return [dict(step) for step in dataset['pipeline']]
        dataset = dataset.get('dataset') or (dataset.get('datasets') or [None])[0]
    raise DeployError('the config has no test_dataloader.dataset.pipeline: the edge needs '
                      'the test pipeline to prepare images exactly as evaluation does')


def _task_of(model: nn.Module) -> str:
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'detection'
    except ImportError:  # pragma: no cover
        pass
    try:
        from mmpretrain.models.classifiers import BaseClassifier
        if isinstance(model, BaseClassifier):
            return 'classification'
    except ImportError:  # pragma: no cover
        pass
    raise DeployError(f'{type(model).__name__} is neither an mmdet detector nor an mmpretrain '
                      'classifier: only those are supported')


def _dataset_meta(cfg: Any, checkpoint: dict, scope: str) -> Dict[str, Any]:
    meta = (checkpoint.get('meta') or {}).get('dataset_meta')
    if meta:
        return dict(meta)
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'dataset' in dataset and 'metainfo' not in dataset:
        dataset = dataset['dataset']
    if dataset.get('metainfo'):
        return dict(dataset['metainfo'])
    if dataset.get('type'):
        from mmengine.registry import DATASETS, DefaultScope
        with DefaultScope.overwrite_default_scope(scope):
            cls = DATASETS.get(dataset['type'])
        if cls is not None and getattr(cls, 'METAINFO', None):
            return dict(cls.METAINFO)
    return {}


def load_deploy_model(config: str,
                      checkpoint: str,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      device: str = 'cpu') -> DeployModel:
    """Build the model of ``config``, load ``checkpoint`` and make its codec ready to code.

    The checkpoint must fit the model exactly (missing or unexpected keys are an error: a
    deployed codec with untrained parts would silently code garbage). It is loaded with the
    scoped ``weights_only`` allow-list of :func:`mmdicm.engine.load_trusted_checkpoint`, so
    Runner checkpoints load under torch >= 2.6. Entropy tables come from the checkpoint
    (``EntropyUpdateHook`` saves them); only if it has none are they computed with
    ``update()``.

    Args:
        config (str): mmdet or mmpretrain config whose backbone is a ``DICMResNet`` with a
            codec; its ``default_scope`` selects the registry.
        checkpoint (str): Checkpoint file (a Runner checkpoint or a bare state dict).
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        device (str): Defaults to ``'cpu'``.

    Returns:
        DeployModel

    Raises:
        DeployError: Missing files, a config without scope or codec, a checkpoint that does
            not fit.
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    from ..engine.checkpoint import load_trusted_checkpoint
    from ..models import DICMResNet

    if not osp.isfile(config):
        raise DeployError(f'config file not found: {config}')
    if not osp.isfile(checkpoint):
        raise DeployError(f'checkpoint not found: {checkpoint}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if not scope:
        raise DeployError(f'{config} sets no default_scope (mmdet or mmpretrain); add one or '
                          'pass --cfg-options default_scope=mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    task = _task_of(model)
    backbone = getattr(model, 'backbone', None)
    if not isinstance(backbone, DICMResNet) or backbone.codec is None or \
            backbone.codec.net is None:
        raise DeployError(f'{config}: the model backbone must be a DICMResNet with a codec '
                          f'(compression network included), got {type(backbone).__name__}')

    try:
        ckpt = load_trusted_checkpoint(checkpoint, map_location='cpu')
    except Exception as e:  # noqa: BLE001  (any unreadable file is the user's input)
        raise DeployError(f'cannot load checkpoint {checkpoint}: {type(e).__name__}: '
                          f'{str(e).splitlines()[0] if str(e) else ""}') from e
    if not isinstance(ckpt, dict):
        raise DeployError(f'{checkpoint} is not a checkpoint (a {type(ckpt).__name__})')
    state = ckpt.get('state_dict', ckpt)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensors of another shape: another architecture
        lines = [ln.strip() for ln in str(e).splitlines() if 'size mismatch' in ln]
        first = lines[0] if lines else str(e).splitlines()[0]
        raise DeployError(f'checkpoint {checkpoint} does not fit the model of {config}: '
                          f'{len(lines) or "some"} tensor(s) of another shape ({first})'
                          ) from None
    if result.missing_keys or result.unexpected_keys:
        def some(keys: List[str]) -> str:
            return ', '.join(keys[:3]) + (', ...' if len(keys) > 3 else '')
        parts = []
        if result.missing_keys:
            parts.append(f'{len(result.missing_keys)} missing keys ({some(result.missing_keys)})')
        if result.unexpected_keys:
            parts.append(f'{len(result.unexpected_keys)} unexpected keys '
                         f'({some(result.unexpected_keys)})')
        raise DeployError(f'checkpoint {checkpoint} does not fit the model of {config}: '
                          + '; '.join(parts))
    model.to(device).eval()
    tables_computed = bool(backbone.update(force=False))
    return DeployModel(model=model, cfg=cfg, scope=scope, task=task,
                       dataset_meta=_dataset_meta(cfg, ckpt, scope), config_path=config,
                       checkpoint_path=checkpoint, tables_computed=tables_computed)


# ---------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class ImageRecord:
    """One input image: its file, its id (COCO id, or position in the folder) and the stem
    of its outputs (``<name>.dicm``)."""

    path: str
    img_id: int
    name: str


@dataclass
class ImageSet:
    """What :func:`find_images` found."""

    records: List[ImageRecord]
    source: Dict[str, Any]
    categories: Optional[List[Dict[str, Any]]] = None


def find_images(input_path: str, img_prefix: Optional[str] = None) -> ImageSet:
    """The images of a folder (sorted by name, ids 0, 1, ...) or of a COCO json.

    Args:
        input_path (str): A folder of images (not recursive; :data:`IMAGE_EXTENSIONS`) or a
            COCO annotation file (its ``images[].file_name`` and ``id``).
        img_prefix (str, optional): Folder the COCO ``file_name`` entries are relative to.
            Defaults to the json's folder. Not allowed with a folder input.

    Raises:
        DeployError: Nothing found, unreadable json, missing image files, two images with the
            same output name.
    """
    if osp.isdir(input_path):
        if img_prefix is not None:
            raise DeployError('--img-prefix only applies to a COCO json INPUT, not a folder')
        names = sorted(n for n in os.listdir(input_path)
                       if n.lower().endswith(IMAGE_EXTENSIONS)
                       and osp.isfile(osp.join(input_path, n)))
        if not names:
            raise DeployError(f'no image files ({", ".join(IMAGE_EXTENSIONS)}) in {input_path}')
        records = [ImageRecord(osp.join(input_path, n), i, osp.splitext(n)[0])
                   for i, n in enumerate(names)]
        image_set = ImageSet(records, dict(type='folder', path=input_path, img_prefix=None))
    elif osp.isfile(input_path):
        try:
            with open(input_path, encoding='utf-8') as f:
                coco = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DeployError(f'cannot read {input_path} as a COCO json: {e}') from e
        images = coco.get('images') if isinstance(coco, dict) else None
        if not isinstance(images, list) or not images:
            raise DeployError(f'{input_path} is neither a folder nor a COCO json with an '
                              "'images' list")
        prefix = osp.dirname(input_path) if img_prefix is None else img_prefix
        if not osp.isdir(prefix):
            raise DeployError(f'image prefix is not a folder: {prefix}')
        records = []
        for i, img in enumerate(images):
            if not isinstance(img, dict) or 'file_name' not in img or 'id' not in img:
                raise DeployError(f'{input_path}: images[{i}] lacks file_name or id')
            path = osp.join(prefix, img['file_name'])
            records.append(ImageRecord(path, int(img['id']),
                                       osp.splitext(osp.basename(img['file_name']))[0]))
        records.sort(key=lambda r: (r.img_id, r.path))
        missing = [r.path for r in records if not osp.isfile(r.path)]
        if missing:
            raise DeployError(f'{len(missing)} image files of {input_path} not found '
                              f'(e.g. {missing[0]}); set --img-prefix')
        categories = [dict(id=c['id'], name=c['name']) for c in coco.get('categories', [])
                      if isinstance(c, dict) and 'id' in c and 'name' in c]
        image_set = ImageSet(records, dict(type='coco', path=input_path, img_prefix=prefix),
                             categories or None)
    else:
        raise DeployError(f'input not found: {input_path}')
    seen: Dict[str, str] = {}
    for r in image_set.records:
        if r.name in seen:
            raise DeployError(f'{seen[r.name]} and {r.path} would both be written as '
                              f'{r.name}{CONTAINER_SUFFIX}')
        seen[r.name] = r.path
    return image_set


# ---------------------------------------------------------------------- metainfo <-> json
def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    """Inverse of :func:`_to_json` for metainfo: a list of numbers becomes a tuple (shapes,
    scale factors), a list of lists a float32 array (e.g. a homography matrix)."""
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return np.array(value, dtype=np.float32)
        return tuple(_from_json(v) for v in value)
    return value


def _hw(shape: Sequence[int]) -> List[int]:
    return [int(shape[0]), int(shape[1])]


# ---------------------------------------------------------------------- bit allocation
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


def _write_png(path: str, rgb: np.ndarray, description: str) -> None:
    """Exact-size PNG through a private Figure + Agg canvas (the global backend is untouched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(dpi=100, frameon=False)
    fig.figimage(rgb, xo=0, yo=0, origin='upper', resize=True)
    FigureCanvasAgg(fig).print_png(
        path, metadata={'Software': f'mmdicm {__version__}', 'Description': description})


# ---------------------------------------------------------------------- compress
@dataclass
class CompressResult:
    """What :func:`compress_images` wrote.

    Attributes:
        out_dir (str): The output folder.
        manifest (dict): The content of ``manifest.json``.
        failures (list[tuple[str, str]]): ``(image path, reason)`` of images not coded.
    """

    out_dir: str
    manifest: Dict[str, Any]
    failures: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 if every image was coded, else 1."""
        return 1 if self.failures else 0


def _outputs_of(records: Sequence[ImageRecord], bit_map: bool) -> List[str]:
    names = [MANIFEST_JSON, MANIFEST_CSV]
    for r in records:
        names.append(r.name + CONTAINER_SUFFIX)
        if bit_map:
            names += [r.name + BIT_MAP_SUFFIX, r.name + BIT_GRID_SUFFIX]
    return names


def _totals(entries: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    num_bytes = sum(e['bytes'] for e in entries)
    original = sum(e['original_hw'][0] * e['original_hw'][1] for e in entries)
    inputs = sum(e['input_hw'][0] * e['input_hw'][1] for e in entries)
    return dict(num_images=len(entries), bytes=num_bytes, original_pixels=original,
                input_pixels=inputs,
                bpp_original=8 * num_bytes / original if original else None,
                bpp_input=8 * num_bytes / inputs if inputs else None)


def _progress(items: Sequence[Any], desc: str, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm
    return iter(tqdm(items, desc=desc, unit='img', disable=not enabled, file=sys.stderr,
                     dynamic_ncols=True))


def _error_text(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f'{type(e).__name__}: {text[0] if text else ""}'.rstrip(': ')


def check_outputs(images: ImageSet,
                  out_dir: str,
                  overwrite: bool = False,
                  bit_map: bool = False,
                  bit_map_alpha: float = 0.6) -> None:
    """Raise :class:`DeployError` if :func:`compress_images` would clobber a file or got a bad
    option (cheap: call it before loading a model). Writes nothing."""
    if not 0 <= bit_map_alpha <= 1:
        raise DeployError(f'--bit-map-alpha must be in [0, 1], got {bit_map_alpha}')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise DeployError(f'output path exists and is not a folder: {out_dir}')
    existing = [n for n in _outputs_of(images.records, bit_map)
                if osp.lexists(osp.join(out_dir, n))]
    if existing and not overwrite:
        shown = ', '.join(existing[:3]) + (', ...' if len(existing) > 3 else '')
        raise DeployError(f'{len(existing)} output file(s) already exist in {out_dir} '
                          f'({shown}); pass --overwrite to replace them')


class ImageFileError(ValueError):
    """An input image that cannot be coded: what is wrong with it, in one line."""


#: leading bytes of the formats in :data:`IMAGE_EXTENSIONS` (named when Pillow cannot open
#: the file at all, e.g. a JPEG cut inside its header)
_MAGIC = ((b'\xff\xd8\xff', 'JPEG'), (b'\x89PNG\r\n\x1a\n', 'PNG'), (b'BM', 'BMP'),
          (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'RIFF', 'WEBP'))


def _magic_format(path: str) -> Optional[str]:
    with open(path, 'rb') as f:
        head = f.read(12)
    for magic, name in _MAGIC:
        if head.startswith(magic) and (name != 'WEBP' or head[8:12] == b'WEBP'):
            return name
    return None


def check_image_file(path: str, min_side: int = 1) -> Tuple[int, int]:
    """``(height, width)`` of a complete, decodable image file with both sides ``>= min_side``.

    The whole image is decoded once with Pillow, so a truncated file is caught here (OpenCV,
    which the pipeline reads with, decodes a JPEG cut in its scan data into a grey bottom
    without an error, and one cut in its header into ``None``: mmcv then fails with
    ``failed to load image``; an empty file trips OpenCV's ``!buf.empty()`` assertion).

    Raises:
        ImageFileError: ``empty file (0 bytes)``, ``not an image ...``, ``truncated or
            corrupt JPEG ...``, or ``image is 1x1 px ...`` (below ``min_side``).
    """
    from PIL import Image, UnidentifiedImageError
    try:
        size = osp.getsize(path)
    except OSError as e:
        raise ImageFileError(f'cannot read the file: {e.strerror or e}') from None
    if size == 0:
        raise ImageFileError('empty file (0 bytes)')
    fmt = None
    try:
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
            image.load()  # decodes everything: truncation shows here
    except UnidentifiedImageError:
        raise ImageFileError(f'not an image: no image format recognised in its {size} '
                             'bytes') from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        detail = (str(e).strip().splitlines() or [type(e).__name__])[0]
        fmt = fmt or _magic_format(path) or 'image'
        raise ImageFileError(f'truncated or corrupt {fmt} file ({size} bytes): '
                             f'{detail}') from None
    if min(height, width) < min_side:
        raise ImageFileError(
            f'image is {width}x{height} px (width x height), below the minimum side of '
            f'{min_side} px (the codec\'s stride): not coded, the test pipeline would '
            'upscale it (--min-side 0 codes it anyway)')
    return height, width


def _compress_one(deploy: DeployModel, pipeline: Any, record: ImageRecord, out_dir: str,
                  bit_map: bool, bit_map_alpha: float, min_side: int) -> Dict[str, Any]:
    """Code one image, write its files (last, once everything succeeded), return its entry."""
    import mmcv
    from mmengine.dataset import pseudo_collate
    model, backbone = deploy.model, deploy.backbone
    check_image_file(record.path, min_side)
    with deploy.scope_context():
        data = pipeline(dict(img_path=record.path, img_id=record.img_id))
    with torch.no_grad():
        batch = model.data_preprocessor(pseudo_collate([data]), False)
    inputs, sample = batch['inputs'], batch['data_samples'][0]
    container = backbone.compress(inputs)[0]
    stream = DICMBitstream.from_bytes(container)

    meta = sample.metainfo
    original_hw = _hw(meta['ori_shape'])
    input_hw = _hw(meta.get('img_shape', inputs.shape[-2:]))
    file_name = record.name + CONTAINER_SUFFIX
    n = len(container)
    entry = dict(file=file_name, image=record.path, img_id=record.img_id,
                 original_hw=original_hw, input_hw=input_hw,
                 coded_hw=list(stream.image_size), padded_hw=list(stream.padded_size),
                 bytes=n, bpp_original=8 * n / (original_hw[0] * original_hw[1]),
                 bpp_input=8 * n / (input_hw[0] * input_hw[1]),
                 metainfo=_to_json(dict(meta)))
    if bit_map:
        alloc = bit_allocation(backbone, inputs)
        image = mmcv.imread(record.path, channel_order='rgb')
        if image is not None and image.shape[:2] != tuple(original_hw):
            image = None  # e.g. an EXIF rotation the pipeline applied differently
        rgb, _, vmax = render_bit_map(alloc, input_hw, original_hw, image, bit_map_alpha)
        png, grid = record.name + BIT_MAP_SUFFIX, record.name + BIT_GRID_SUFFIX
        entry.update(bit_map=png, bit_grid=grid, estimated_bits=alloc.total,
                     estimated_bits_y=alloc.y_bits, estimated_bits_z=alloc.z_bits,
                     bit_map_vmax=vmax)
        np.save(osp.join(out_dir, grid), alloc.bits.astype(np.float32))
        _write_png(osp.join(out_dir, png), rgb,
                   f'mmdicm bit-allocation map of {file_name}: colour = estimated bits per '
                   f'original-image pixel, inferno colormap from 0 to {vmax:.6g}, blended over '
                   f'the image with alpha {bit_map_alpha}')
    with open(osp.join(out_dir, file_name), 'wb') as f:
        f.write(container)
    return entry


def compress_images(deploy: DeployModel,
                    images: ImageSet,
                    out_dir: str,
                    overwrite: bool = False,
                    bit_map: bool = False,
                    bit_map_alpha: float = 0.6,
                    progress: bool = True,
                    min_side: Optional[int] = None) -> CompressResult:
    """Edge side: each image -> ``<name>.dicm`` in ``out_dir``, plus the manifests.

    Every output name is checked before anything is written: if one exists and
    ``overwrite`` is False, :class:`DeployError` is raised and nothing is written. An image
    that cannot be read or coded is reported in ``failures`` (and the manifest) with one line
    saying what is wrong (:func:`check_image_file`: empty, not an image, truncated or corrupt,
    too small), the others are still coded; the result's ``exit_code`` is then 1.

    Images with a side under ``min_side`` are refused: the test pipeline would upscale them
    (Mask R-CNN's to 800x1333, the CPU demo's to 256x256) and code mostly interpolation, so
    a 1x1 image became an 88 KB file, ``bpp_original`` 718200 (correct per original pixel,
    and meaningless).

    Args:
        deploy (DeployModel): From :func:`load_deploy_model`.
        images (ImageSet): From :func:`find_images`.
        out_dir (str): Output folder (created if needed).
        overwrite (bool): Replace existing outputs of the same names. Defaults to False.
        bit_map (bool): Also write ``<name>.bits.png`` and ``<name>.bits.npy`` (see
            ``docs/deployment.md``). Defaults to False.
        bit_map_alpha (float): Heatmap opacity over the image in [0, 1]. Defaults to 0.6.
        progress (bool): Show a progress bar on stderr. Defaults to True.
        min_side (int, optional): Smallest accepted image side in pixels; 0 accepts all.
            Defaults to :attr:`DeployModel.codec_stride` (64 for the paper's split: a smaller
            image does not fill one position of the hyperprior latent; what is coded is
            mostly padding or, after the pipeline's resize, interpolation).

    Returns:
        CompressResult
    """
    check_outputs(images, out_dir, overwrite, bit_map, bit_map_alpha)
    if min_side is None:
        min_side = deploy.codec_stride
    if isinstance(min_side, bool) or not isinstance(min_side, int) or min_side < 0:
        raise DeployError(f'--min-side must be an int >= 0, got {min_side!r}')
    pipeline = deploy.test_pipeline()
    os.makedirs(out_dir, exist_ok=True)

    fingerprint = deploy.fingerprint()
    entries: List[Dict[str, Any]] = []
    failures: List[Tuple[str, str]] = []
    for record in _progress(images.records, 'compress', progress):
        try:  # one bad image must not stop the others
            entry = _compress_one(deploy, pipeline, record, out_dir, bit_map, bit_map_alpha,
                                  min_side)
        except ImageFileError as e:
            failures.append((record.path, str(e)))
            continue
        except Exception as e:  # noqa: BLE001
            failures.append((record.path, _error_text(e)))
            continue
        entries.append(entry)

    manifest: Dict[str, Any] = dict(
        format=MANIFEST_FORMAT, version=MANIFEST_VERSION, mmdicm_version=__version__,
        task=deploy.task, config=deploy.config_path, checkpoint=deploy.checkpoint_path,
        model_fingerprint=fingerprint.hex(), source=images.source)
    if images.categories:
        manifest['categories'] = images.categories
    manifest.update(headline_bpp='bpp_original', rate_definitions=RATE_DEFINITIONS,
                    totals=_totals(entries),
                    failures=[dict(image=p, reason=r) for p, r in failures], images=entries)
    with open(osp.join(out_dir, MANIFEST_JSON), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    with open(osp.join(out_dir, MANIFEST_CSV), 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for e in entries:
            writer.writerow([e['file'], e['image'], e['img_id'], *e['original_hw'],
                             *e['input_hw'], *e['coded_hw'], e['bytes'], e['bpp_original'],
                             e['bpp_input'], e.get('estimated_bits', '')])
    return CompressResult(out_dir=out_dir, manifest=manifest, failures=failures)


def format_compress_summary(result: CompressResult) -> str:
    """A few lines for the terminal."""
    t = result.manifest['totals']
    lines = [f"{t['num_images']} image(s) -> {result.out_dir}: {t['bytes']} bytes"]
    if t['num_images']:
        lines[0] += (f", bpp_original {t['bpp_original']:.4f} (headline), "
                     f"bpp_input {t['bpp_input']:.4f}")
    if result.failures:
        lines.append(f'{len(result.failures)} image(s) FAILED:')
        lines += [f'  {path}: {reason}' for path, reason in result.failures]
    return '\n'.join(lines)


# ---------------------------------------------------------------------- analyze
@dataclass
class AnalyzeResult:
    """What :func:`analyze_bitstreams` produced.

    Attributes:
        out (str): The predictions json.
        summary_path (str): ``<out>.summary.json`` (everything below, as json).
        files (list[str]): Container names that were analysed successfully, in order.
        samples (list): The task model's data samples (``pred_instances`` /
            ``pred_score``), one per file of ``files``.
        predictions (list[dict]): What ``out`` holds.
        failures (list[tuple[str, str]]): ``(file, reason)`` of files not analysed.
        metrics (dict): Task metrics (with an annotation file), else empty.
        rate (dict): ``num_images``, ``bytes`` (file sizes of the analysed files),
            ``bpp_original`` (headline), ``bpp_input``.
        notes (list[str]): Things to know about the results.
    """

    out: str
    summary_path: str
    files: List[str]
    samples: List[Any]
    predictions: List[Dict[str, Any]]
    failures: List[Tuple[str, str]]
    metrics: Dict[str, Any]
    rate: Dict[str, Any]
    notes: List[str]

    @property
    def exit_code(self) -> int:
        """0 if every file was analysed, else 1."""
        return 1 if self.failures else 0


def _read_manifest(in_dir: str) -> Optional[Dict[str, Any]]:
    path = osp.join(in_dir, MANIFEST_JSON)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeployError(f'cannot read {path}: {e}') from e
    if not isinstance(manifest, dict) or manifest.get('format') != MANIFEST_FORMAT or \
            not isinstance(manifest.get('images'), list):
        raise DeployError(f'{path} is not an mmdicm manifest')
    if manifest.get('version') != MANIFEST_VERSION:
        raise DeployError(f'{path}: manifest version {manifest.get("version")} is not '
                          f'supported (this mmdicm reads {MANIFEST_VERSION})')
    return manifest


def _sample_from(deploy: DeployModel, stream: DICMBitstream, entry: Optional[Dict[str, Any]],
                 file_name: str) -> Any:
    """The data sample the edge's preprocessor produced (from the manifest entry), or one
    rebuilt from the container alone (coded-input coordinates)."""
    coded = tuple(stream.image_size)
    if entry is not None:
        meta = _from_json(entry.get('metainfo') or {})
        meta['img_id'] = entry.get('img_id', meta.get('img_id'))
    else:
        meta = dict(img_id=osp.splitext(file_name)[0], img_path=file_name, ori_shape=coded,
                    img_shape=coded, pad_shape=coded, batch_input_shape=coded,
                    scale_factor=(1.0, 1.0))
    if deploy.task == 'detection':
        from mmdet.structures import DetDataSample
        return DetDataSample(metainfo=meta)
    from mmpretrain.structures import DataSample
    return DataSample(metainfo=meta)


def _xyxy2xywh(box: Sequence[float]) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _detection_records(sample: Any, image_id: Any,
                       cat_ids: Optional[Sequence[Any]]) -> List[dict]:
    from mmdet.structures.mask import encode_mask_results
    pred = sample.pred_instances
    bboxes = pred.bboxes.cpu().numpy()
    scores = pred.scores.cpu().numpy()
    labels = pred.labels.cpu().numpy()
    masks = None
    if 'masks' in pred:
        masks = encode_mask_results(pred.masks.detach().cpu().numpy())
    mask_scores = pred.mask_scores.cpu().numpy() if 'mask_scores' in pred else scores
    out = []
    for i in range(len(scores)):
        label = int(labels[i])
        rec = dict(image_id=image_id, category_id=label if cat_ids is None else cat_ids[label],
                   bbox=_xyxy2xywh(bboxes[i]), score=float(scores[i]))
        if masks is not None:
            rle = dict(masks[i])
            if isinstance(rle['counts'], bytes):
                rle['counts'] = rle['counts'].decode()
            rec['segmentation'] = rle
            rec['mask_score'] = float(mask_scores[i])
        out.append(rec)
    return out


def _classification_record(sample: Any, file_name: str, image_id: Any,
                           classes: Sequence[str]) -> dict:
    scores = sample.pred_score.cpu()
    label = int(sample.pred_label.item()) if 'pred_label' in sample else int(scores.argmax())
    rec = dict(file=file_name, image=sample.metainfo.get('img_path'), image_id=image_id,
               pred_label=label, pred_score=float(scores[label]), scores=scores.tolist())
    if classes and label < len(classes):
        rec['pred_class'] = classes[label]
    return rec


def _read_cls_annotations(ann_file: str) -> Dict[str, int]:
    """mmpretrain's text annotation format: ``<relative image path> <label>`` per line."""
    labels: Dict[str, int] = {}
    with open(ann_file, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                labels[osp.basename(' '.join(parts[:-1]))] = int(parts[-1])
            except (ValueError, IndexError):
                raise DeployError(f'{ann_file}:{n}: expected "<image path> <label>", got '
                                  f'{line.strip()!r}') from None
    return labels


def check_analyze_inputs(in_dir: str, out: str, ann_file: Optional[str] = None) -> None:
    """Raise :class:`DeployError` for a missing input folder or annotation file, or an
    ``out`` that is a folder (cheap: call it before loading a model)."""
    if not osp.isdir(in_dir):
        raise DeployError(f'input folder not found: {in_dir}')
    if osp.isdir(out):
        raise DeployError(f'OUT must be a json file path, got a folder: {out}')
    if ann_file is not None and not osp.isfile(ann_file):
        raise DeployError(f'annotation file not found: {ann_file}')


class _FileFailure(Exception):
    """One container cannot be analysed; the message says why (for the summary)."""


def _analyze_one(deploy: DeployModel, path: str, entry: Optional[Dict[str, Any]],
                 ann_file: Optional[str], ann_ids_by_name: Dict[str, Any],
                 cls_labels: Optional[Dict[str, int]]) -> Tuple[DICMBitstream, Any, Any]:
    """Parse, decode and predict one container: ``(stream, predicted sample, image id)``."""
    backbone = deploy.backbone
    name = osp.basename(path)
    try:
        stream = backbone.codec.parse(read_bitstream(path))  # CRC, fingerprint, layout
    except BitstreamError as e:
        msg = str(e)
        msg = msg[len(path) + 2:] if msg.startswith(path + ': ') else msg
        raise _FileFailure(f'invalid bitstream: {msg}') from None
    if entry is not None and tuple(entry.get('coded_hw') or ()) != tuple(stream.image_size):
        raise _FileFailure(f'container image size {stream.image_size} does not match its '
                           f'{MANIFEST_JSON} entry (coded_hw {entry.get("coded_hw")})')
    sample = _sample_from(deploy, stream, entry, name)
    image_id = sample.metainfo.get('img_id')
    if ann_file is not None:
        key = osp.basename(str((entry or {}).get('image') or name))
        known = ann_ids_by_name if cls_labels is None else cls_labels
        if key not in known:
            raise _FileFailure(f'image {key} is not in {ann_file}')
        if cls_labels is None:
            image_id = ann_ids_by_name[key]
            sample.set_metainfo(dict(img_id=image_id))
    with torch.no_grad():
        try:
            feats = backbone.decompress([stream])
        except BitstreamError as e:  # strings that are not what an encoder writes
            raise _FileFailure(f'invalid bitstream: {e}') from None
        sample = predict_on_features(deploy.model, feats, [sample], stream.image_size)[0]
    return stream, sample, image_id


def analyze_bitstreams(deploy: DeployModel,
                       in_dir: str,
                       out: str,
                       ann_file: Optional[str] = None,
                       progress: bool = True) -> AnalyzeResult:
    """Receiver side: every ``*.dicm`` in ``in_dir`` -> task predictions, no pixels.

    Each file is parsed against this model (a corrupted, truncated or foreign file is a
    failure of that file: the others are still analysed), decoded to features and run
    through the stock heads (see ``docs/deployment.md``). The data sample's metainfo comes
    from ``manifest.json`` when it has an entry for the file, else from the container alone.

    Output ``out`` (json): for a detector a COCO results list (``image_id``, ``category_id``,
    ``bbox`` as xywh in original-image pixels, ``score``, and for instance segmentation
    ``segmentation`` as RLE with its ``mask_score``: one entry per instance, both tasks);
    for a classifier one record per image (``file``, ``image_id``, ``pred_label``,
    ``pred_score``, ``pred_class``, ``scores``). ``<out without .json>.summary.json`` holds
    metrics, rates, failures and notes.

    Category ids: by class name through ``ann_file`` if given, else through the COCO
    categories the manifest recorded, else the class index (mmdet's convention without an
    annotation file). Image ids: with ``ann_file``, the id of the annotation image with the
    same file name; else the manifest's ``img_id``.

    Args:
        deploy (DeployModel): From :func:`load_deploy_model` (same weights as the edge).
        in_dir (str): Folder of container files (and usually ``manifest.json``).
        out (str): Predictions json to write (parent folders are created).
        ann_file (str, optional): COCO json (detectors: mmdet's ``CocoMetric``, bbox and, if
            the model predicts masks, segm) or mmpretrain text list ``<image> <label>``
            (classifiers: top-1 / top-5 accuracy).
        progress (bool): Progress bar on stderr. Defaults to True.

    Returns:
        AnalyzeResult
    """
    check_analyze_inputs(in_dir, out, ann_file)
    manifest = _read_manifest(in_dir)
    names = sorted(n for n in os.listdir(in_dir) if n.endswith(CONTAINER_SUFFIX)
                   and osp.isfile(osp.join(in_dir, n)))
    entries = {e.get('file'): e for e in (manifest or {}).get('images', [])
               if isinstance(e, dict)}
    failures: List[Tuple[str, str]] = [
        (name, f'listed in {MANIFEST_JSON} but missing') for name in sorted(entries)
        if name not in names]
    if not names:
        raise DeployError(f'no {CONTAINER_SUFFIX} files in {in_dir}')

    notes: List[str] = []
    fingerprint = deploy.fingerprint()
    if manifest and manifest.get('model_fingerprint') not in (None, fingerprint.hex()):
        notes.append(f'{MANIFEST_JSON} was written by model {manifest["model_fingerprint"]}, '
                     f'this model is {fingerprint.hex()}: expect fingerprint mismatches')
    if deploy.tables_computed:
        notes.append('the checkpoint had no entropy tables; they were computed with update(): '
                     'files coded with the checkpoint\'s own tables would not match')
    classes = list(deploy.dataset_meta.get('classes') or [])

    # ids through the annotation file
    coco_api, cls_labels = None, None
    ann_ids_by_name: Dict[str, Any] = {}
    if ann_file is not None and deploy.task == 'detection':
        from mmdet.datasets.api_wrappers import COCO
        try:
            coco_api = COCO(ann_file)
        except Exception as e:  # noqa: BLE001
            raise DeployError(f'cannot read {ann_file} as a COCO json: {_error_text(e)}') from e
        ann_ids_by_name = {osp.basename(img['file_name']): img['id']
                           for img in coco_api.dataset.get('images', [])}
    elif ann_file is not None:
        cls_labels = _read_cls_annotations(ann_file)

    cat_ids: Optional[List[Any]] = None  # None: category_id = class index
    if deploy.task == 'detection':
        source_cats = (coco_api.dataset.get('categories') if coco_api is not None else
                       (manifest or {}).get('categories'))
        if source_cats:
            by_name = {c['name']: c['id'] for c in source_cats}
            missing = [c for c in classes if c not in by_name]
            if missing or not classes:
                notes.append(f'classes {missing[:3]} not among the COCO categories: '
                             'category_id = class index')
            else:
                cat_ids = [by_name[c] for c in classes]
                if coco_api is not None and \
                        coco_api.get_cat_ids(cat_names=classes) != cat_ids:
                    notes.append('the annotation file lists categories in another order than '
                                 "the model's classes: CocoMetric (as tools/test.py) maps "
                                 'labels by position, the json by name')
        else:
            notes.append('no COCO categories known: category_id = class index (0-based)')

    files: List[str] = []
    samples: List[Any] = []
    predictions: List[Dict[str, Any]] = []
    sizes: List[Tuple[int, List[int], List[int]]] = []
    no_entry = 0
    for name in _progress(names, 'analyze', progress):
        path = osp.join(in_dir, name)
        entry = entries.get(name)
        try:  # one bad file must not stop the others
            stream, sample, image_id = _analyze_one(deploy, path, entry, ann_file,
                                                    ann_ids_by_name, cls_labels)
        except _FileFailure as e:
            failures.append((name, str(e)))
            continue
        except Exception as e:  # noqa: BLE001
            failures.append((name, f'analysis failed: {_error_text(e)}'))
            continue
        no_entry += entry is None
        files.append(name)
        samples.append(sample)
        if deploy.task == 'detection':
            predictions += _detection_records(sample, image_id, cat_ids)
        else:
            predictions.append(_classification_record(sample, name, image_id, classes))
        meta = sample.metainfo
        sizes.append((osp.getsize(path), _hw(meta['ori_shape']),
                      _hw(meta.get('img_shape', stream.image_size))))
    if no_entry:
        notes.append(f'{no_entry} file(s) without a {MANIFEST_JSON} entry: their predictions '
                     'are in coded-input coordinates (original size and scale unknown)')

    rate = _totals([dict(bytes=b, original_hw=o, input_hw=i) for b, o, i in sizes])
    metrics: Dict[str, Any] = {}
    if ann_file is not None and samples:
        with deploy.scope_context():
            if coco_api is not None:
                metrics = _coco_metrics(deploy, samples, ann_file)
                annotated = len(ann_ids_by_name)
                if annotated > len(samples):
                    notes.append(f'{annotated - len(samples)} of {annotated} annotated images '
                                 'have no prediction (they count as misses)')
            else:
                metrics = _accuracy(samples, [cls_labels[osp.basename(
                    str((entries.get(f) or {}).get('image') or f))] for f in files])

    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(predictions, f)
    summary_path = (out[:-len('.json')] if out.endswith('.json') else out) + '.summary.json'
    result = AnalyzeResult(out=out, summary_path=summary_path, files=files, samples=samples,
                           predictions=predictions, failures=failures, metrics=metrics,
                           rate=rate, notes=notes)
    with open(summary_path, 'w', encoding='utf-8') as f:
        json.dump(dict(in_dir=in_dir, out=out, ann_file=ann_file, task=deploy.task,
                       model_fingerprint=fingerprint.hex(), num_analyzed=len(files),
                       num_failed=len(failures), metrics=_to_json(metrics), rate=rate,
                       headline_bpp='bpp_original', rate_definitions=RATE_DEFINITIONS,
                       failures=[dict(file=n, reason=r) for n, r in failures], notes=notes),
                  f, indent=1)
        f.write('\n')
    return result


def _coco_metrics(deploy: DeployModel, samples: Sequence[Any], ann_file: str) -> Dict[str, Any]:
    from mmdet.evaluation import CocoMetric
    metric_names = ['bbox'] + (['segm'] if 'masks' in samples[0].pred_instances else [])
    metric = CocoMetric(ann_file=ann_file, metric=metric_names, format_only=False)
    metric.dataset_meta = deploy.dataset_meta
    metric.process({}, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def _accuracy(samples: Sequence[Any], labels: Sequence[int]) -> Dict[str, float]:
    from mmpretrain.evaluation import Accuracy
    scores = torch.stack([s.pred_score.cpu() for s in samples])
    topk = (1, 5) if scores.shape[1] >= 5 else (1, )
    values = Accuracy.calculate(scores, torch.tensor(labels), topk=topk)
    return {f'accuracy/top{k}': float(v[0]) for k, v in zip(topk, values)}


def format_analyze_summary(result: AnalyzeResult) -> str:
    """A few lines for the terminal: counts, metrics, measured rate, failures, notes."""
    total = len(result.files) + len(result.failures)
    lines = [f'{len(result.files)}/{total} file(s) analysed -> {result.out} '
             f'(summary: {result.summary_path})']
    for key, value in result.metrics.items():
        lines.append(f'  {key}: {value:.4f}' if isinstance(value, float) and
                     math.isfinite(value) else f'  {key}: {value}')
    r = result.rate
    if r['num_images']:
        lines.append(f"  measured rate: {r['bytes']} bytes, bpp_original "
                     f"{r['bpp_original']:.4f} (headline), bpp_input {r['bpp_input']:.4f}")
    if result.failures:
        lines.append(f'{len(result.failures)} file(s) FAILED:')
        lines += [f'  {name}: {reason}' for name, reason in result.failures]
    lines += [f'note: {n}' for n in result.notes]
    return '\n'.join(lines)
