"""Receiver side, ``tools/analyze.py``: every ``<stem>.dicm`` -> features -> the stock heads'
predictions, no pixels; metrics with an annotation file (``docs/deployment.md``)."""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch

from ...codec import BitstreamError, DICMBitstream
from ...codec import read as read_bitstream
from ...models import predict_on_features
from .manifest import (CONTAINER_SUFFIX, MANIFEST_JSON, RATE_DEFINITIONS, from_json, hw,
                       rate_totals, read_manifest, to_json)
from .model import DeployError, DeployModel
from .records import (accuracy, classification_record, coco_metrics, detection_records,
                      read_cls_annotations)
from .util import error_text, progress_bar

__all__ = ['AnalyzeResult', 'analyze_bitstreams', 'check_analyze_inputs',
           'format_analyze_summary']


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


def _sample_from(deploy: DeployModel, stream: DICMBitstream, entry: Optional[Dict[str, Any]],
                 file_name: str) -> Any:
    """The data sample the edge's preprocessor produced (from the manifest entry), or one
    rebuilt from the container alone (coded-input coordinates)."""
    coded = tuple(stream.image_size)
    if entry is not None:
        meta = from_json(entry.get('metainfo') or {})
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
    manifest = read_manifest(in_dir)
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
            raise DeployError(f'cannot read {ann_file} as a COCO json: {error_text(e)}') from e
        ann_ids_by_name = {osp.basename(img['file_name']): img['id']
                           for img in coco_api.dataset.get('images', [])}
    elif ann_file is not None:
        cls_labels = read_cls_annotations(ann_file)

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
    for name in progress_bar(names, 'analyze', progress):
        path = osp.join(in_dir, name)
        entry = entries.get(name)
        try:  # one bad file must not stop the others
            stream, sample, image_id = _analyze_one(deploy, path, entry, ann_file,
                                                    ann_ids_by_name, cls_labels)
        except _FileFailure as e:
            failures.append((name, str(e)))
            continue
        except Exception as e:  # noqa: BLE001
            failures.append((name, f'analysis failed: {error_text(e)}'))
            continue
        no_entry += entry is None
        files.append(name)
        samples.append(sample)
        if deploy.task == 'detection':
            predictions += detection_records(sample, image_id, cat_ids)
        else:
            predictions.append(classification_record(sample, name, image_id, classes))
        meta = sample.metainfo
        sizes.append((osp.getsize(path), hw(meta['ori_shape']),
                      hw(meta.get('img_shape', stream.image_size))))
    if no_entry:
        notes.append(f'{no_entry} file(s) without a {MANIFEST_JSON} entry: their predictions '
                     'are in coded-input coordinates (original size and scale unknown)')

    rate = rate_totals([dict(bytes=b, original_hw=o, input_hw=i) for b, o, i in sizes])
    metrics: Dict[str, Any] = {}
    if ann_file is not None and samples:
        with deploy.scope_context():
            if coco_api is not None:
                metrics = coco_metrics(deploy.dataset_meta, samples, ann_file)
                annotated = len(ann_ids_by_name)
                if annotated > len(samples):
                    notes.append(f'{annotated - len(samples)} of {annotated} annotated images '
                                 'have no prediction (they count as misses)')
            else:
                metrics = accuracy(samples, [cls_labels[osp.basename(
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
                       num_failed=len(failures), metrics=to_json(metrics), rate=rate,
                       headline_bpp='bpp_original', rate_definitions=RATE_DEFINITIONS,
                       failures=[dict(file=n, reason=r) for n, r in failures], notes=notes),
                  f, indent=1)
        f.write('\n')
    return result


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
