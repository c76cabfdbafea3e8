"""Edge side, ``tools/compress.py``: each image -> ``<stem>.dicm`` (+ bit map), then the
manifests (``docs/deployment.md``)."""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ...codec import DICMBitstream
from .bit_map import write_bit_map
from .inputs import ImageFileError, ImageRecord, ImageSet, check_image_file
from .manifest import (BIT_GRID_SUFFIX, BIT_MAP_SUFFIX, CONTAINER_SUFFIX, MANIFEST_CSV,
                       MANIFEST_JSON, build_manifest, hw, to_json, write_manifest)
from .model import DeployError, DeployModel
from .util import error_text, progress_bar

__all__ = ['CompressResult', 'check_outputs', 'compress_images', 'format_compress_summary']


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


def _compress_one(deploy: DeployModel, pipeline: Any, record: ImageRecord, out_dir: str,
                  bit_map: bool, bit_map_alpha: float, min_side: int) -> Dict[str, Any]:
    """Code one image, write its files (last, once everything succeeded), return its entry."""
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
    original_hw = hw(meta['ori_shape'])
    input_hw = hw(meta.get('img_shape', inputs.shape[-2:]))
    file_name = record.name + CONTAINER_SUFFIX
    n = len(container)
    entry = dict(file=file_name, image=record.path, img_id=record.img_id,
                 original_hw=original_hw, input_hw=input_hw,
                 coded_hw=list(stream.image_size), padded_hw=list(stream.padded_size),
                 bytes=n, bpp_original=8 * n / (original_hw[0] * original_hw[1]),
                 bpp_input=8 * n / (input_hw[0] * input_hw[1]),
                 metainfo=to_json(dict(meta)))
    if bit_map:
        entry.update(write_bit_map(backbone, inputs, record.path, record.name, out_dir,
                                   input_hw, original_hw, bit_map_alpha, record.boxes,
                                   record.areas))
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

    entries: List[Dict[str, Any]] = []
    failures: List[Tuple[str, str]] = []
    for record in progress_bar(images.records, 'compress', progress):
        try:  # one bad image must not stop the others
            entry = _compress_one(deploy, pipeline, record, out_dir, bit_map, bit_map_alpha,
                                  min_side)
        except ImageFileError as e:
            failures.append((record.path, str(e)))
            continue
        except Exception as e:  # noqa: BLE001
            failures.append((record.path, error_text(e)))
            continue
        entries.append(entry)

    manifest = build_manifest(deploy, images.source, images.categories, entries, failures)
    write_manifest(out_dir, manifest)
    return CompressResult(out_dir=out_dir, manifest=manifest, failures=failures)


def format_compress_summary(result: CompressResult) -> str:
    """A few lines for the terminal."""
    t = result.manifest['totals']
    lines = [f"{t['num_images']} image(s) -> {result.out_dir}: {t['bytes']} bytes"]
    if t['num_images']:
        lines[0] += (f", bpp_original {t['bpp_original']:.4f} (headline), "
                     f"bpp_input {t['bpp_input']:.4f}")
    if 'box_bit_share' in t:
        lines.append(f"bit map: {100 * t['box_bit_share']:.1f} % of the estimated bits fall "
                     f"inside the ground-truth boxes, which cover {100 * t['box_area_share']:.1f}"
                     f" % of the coded area ({t['box_images']} images)")
    if t.get('box_density'):
        lines.append('bits per pixel inside each box / its image\'s mean, median by COCO size '
                     'class: ' + ', '.join(f"{name} {d['median']:.2f}x (n={d['boxes']})"
                                           for name, d in t['box_density'].items()))
    if result.failures:
        lines.append(f'{len(result.failures)} image(s) FAILED:')
        lines += [f'  {path}: {reason}' for path, reason in result.failures]
    return '\n'.join(lines)
