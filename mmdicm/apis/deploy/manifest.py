"""The output folder's names and ``manifest.json`` / ``manifest.csv``: the rates they record,
metainfo to json and back, reading and writing (specification: ``docs/deployment.md``)."""
from __future__ import annotations

import csv
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...version import __version__
from .model import DeployError, DeployModel

__all__ = ['BIT_GRID_SUFFIX', 'BIT_MAP_SUFFIX', 'CONTAINER_SUFFIX', 'CSV_FIELDS', 'MANIFEST_CSV',
           'MANIFEST_FORMAT', 'MANIFEST_JSON', 'MANIFEST_VERSION', 'RATE_DEFINITIONS',
           'build_manifest', 'from_json', 'hw', 'rate_totals', 'read_manifest', 'to_json',
           'write_manifest']

MANIFEST_JSON = 'manifest.json'
MANIFEST_CSV = 'manifest.csv'
MANIFEST_FORMAT = 'mmdicm-manifest'
MANIFEST_VERSION = 1
CONTAINER_SUFFIX = '.dicm'
BIT_MAP_SUFFIX = '.bits.png'
BIT_GRID_SUFFIX = '.bits.npy'

RATE_DEFINITIONS = {
    'bytes': 'size of the container file: header, CRC and the y and z strings',
    'bpp_original': '8 * bytes / (original height * width); the headline',
    'bpp_input': '8 * bytes / (input height * width), input = after the test pipeline resize, '
                 'before batch padding (= DICMBppMetric dicm/bpp at batch size 1)',
}

CSV_FIELDS = ('file', 'image', 'img_id', 'original_h', 'original_w', 'input_h', 'input_w',
              'coded_h', 'coded_w', 'bytes', 'bpp_original', 'bpp_input', 'estimated_bits')


def to_json(value: Any) -> Any:
    """Metainfo (tuples, arrays, tensors, numpy scalars) as plain json values; dict keys
    sorted (mmengine collects metainfo keys in a set, whose order changes with the hash
    seed: sorted, ``manifest.json`` is the same bytes on every rerun)."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return {str(k): to_json(v) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def from_json(value: Any) -> Any:
    """Inverse of :func:`to_json` for metainfo: a list of numbers becomes a tuple (shapes,
    scale factors), a list of lists a float32 array (e.g. a homography matrix)."""
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return np.array(value, dtype=np.float32)
        return tuple(from_json(v) for v in value)
    return value


def hw(shape: Sequence[int]) -> List[int]:
    """``[height, width]`` of a shape as ints."""
    return [int(shape[0]), int(shape[1])]


def rate_totals(entries: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The manifest's ``totals`` of image entries: total bits over total pixels."""
    num_bytes = sum(e['bytes'] for e in entries)
    original = sum(e['original_hw'][0] * e['original_hw'][1] for e in entries)
    inputs = sum(e['input_hw'][0] * e['input_hw'][1] for e in entries)
    totals = dict(num_images=len(entries), bytes=num_bytes, original_pixels=original,
                  input_pixels=inputs,
                  bpp_original=8 * num_bytes / original if original else None,
                  bpp_input=8 * num_bytes / inputs if inputs else None)
    boxed = [e for e in entries if 'box_bits' in e]
    if boxed:  # the bit map's in-box shares over every image: total bits, total cells
        bits = sum(e['estimated_bits'] for e in boxed)
        cells = sum(e['bit_grid_cells'] for e in boxed)
        totals.update(box_images=len(boxed),
                      box_bit_share=sum(e['box_bits'] for e in boxed) / bits if bits else 0.0,
                      box_area_share=sum(e['box_cells'] for e in boxed) / cells)
        ratios: Dict[str, List[float]] = {}
        for e in boxed:
            for name, ratio in e.get('box_density') or ():
                ratios.setdefault(name, []).append(ratio)
        if ratios:  # every box of a class over every image: count, median, p10, p90
            from .bit_map import SIZE_CLASSES  # (bit_map imports this module's names)
            totals['box_density'] = {
                name: dict(boxes=len(ratios[name]), median=float(np.median(ratios[name])),
                           p10=float(np.percentile(ratios[name], 10)),
                           p90=float(np.percentile(ratios[name], 90)))
                for name, _ in SIZE_CLASSES if name in ratios}
    return totals


def read_manifest(in_dir: str) -> Optional[Dict[str, Any]]:
    """``in_dir/manifest.json``, or None if there is none; :class:`DeployError` if it is not
    a manifest this mmdicm reads."""
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


def build_manifest(deploy: DeployModel, source: Dict[str, Any],
                   categories: Optional[List[Dict[str, Any]]], entries: List[Dict[str, Any]],
                   failures: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    """The content of ``manifest.json``: the model, the source, the totals, the failures
    ``(image path, reason)`` and one entry per coded image."""
    manifest: Dict[str, Any] = dict(
        format=MANIFEST_FORMAT, version=MANIFEST_VERSION, mmdicm_version=__version__,
        task=deploy.task, config=deploy.config_path, checkpoint=deploy.checkpoint_path,
        model_fingerprint=deploy.fingerprint().hex(),
        input_normalisation=deploy.input_normalisation(), source=source)
    if categories:
        manifest['categories'] = categories
    manifest.update(headline_bpp='bpp_original', rate_definitions=RATE_DEFINITIONS,
                    totals=rate_totals(entries),
                    failures=[dict(image=p, reason=r) for p, r in failures], images=entries)
    return manifest


def write_manifest(out_dir: str, manifest: Dict[str, Any]) -> None:
    """``manifest.json`` and ``manifest.csv`` (one row per image, the scalar fields)."""
    with open(osp.join(out_dir, MANIFEST_JSON), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    with open(osp.join(out_dir, MANIFEST_CSV), 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for e in manifest['images']:
            writer.writerow([e['file'], e['image'], e['img_id'], *e['original_hw'],
                             *e['input_hw'], *e['coded_hw'], e['bytes'], e['bpp_original'],
                             e['bpp_input'], e.get('estimated_bits', '')])
