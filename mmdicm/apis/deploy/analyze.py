"""Receiver side, ``tools/analyze.py``: every ``<stem>.dicm`` -> features -> the stock heads'
predictions, no pixels; metrics with an annotation file (``docs/deployment.md``)."""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ...codec import BitstreamError, DICMBitstream
from ...codec import read as read_bitstream
from ...models import predict_on_features
from .manifest import (CONTAINER_SUFFIX, MANIFEST_JSON, RATE_DEFINITIONS, from_json, hw,
                       rate_totals, read_manifest, to_json)
from .model import DeployError, DeployModel, EdgeMismatchError
from .records import (Annotations, accuracy, category_ids, classification_record, coco_metrics,
                      detection_records, load_annotations)
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


def _image_key(entry: Optional[Dict[str, Any]], name: str) -> str:
    """The file name an annotation file knows the image by: its source image's, else the
    container's."""
    return osp.basename(str((entry or {}).get('image') or name))


def _analyze_one(deploy: DeployModel, path: str, entry: Optional[Dict[str, Any]],
                 ann: Annotations) -> Tuple[DICMBitstream, Any, Any]:
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
    if ann.file is not None:
        key = _image_key(entry, name)
        known = ann.ids_by_name if ann.labels is None else ann.labels
        if key not in known:
            raise _FileFailure(f'image {key} is not in {ann.file}')
        if ann.labels is None:
            image_id = ann.ids_by_name[key]
            sample.set_metainfo(dict(img_id=image_id))
    with torch.no_grad():
        try:
            feats = backbone.decompress([stream])
        except BitstreamError as e:  # strings that are not what an encoder writes
            raise _FileFailure(f'invalid bitstream: {e}') from None
        sample = predict_on_features(deploy.model, feats, [sample], stream.image_size)[0]
    return stream, sample, image_id


def _list_containers(in_dir: str, manifest: Optional[Dict[str, Any]]
                     ) -> Tuple[List[str], Dict[Any, Dict[str, Any]], List[Tuple[str, str]]]:
    """The container names in ``in_dir`` (sorted), the manifest's entries by file name, and
    a failure for each entry whose file is missing."""
    names = sorted(n for n in os.listdir(in_dir) if n.endswith(CONTAINER_SUFFIX)
                   and osp.isfile(osp.join(in_dir, n)))
    entries = {e.get('file'): e for e in (manifest or {}).get('images', [])
               if isinstance(e, dict)}
    failures = [(name, f'listed in {MANIFEST_JSON} but missing') for name in sorted(entries)
                if name not in names]
    if not names:
        raise DeployError(f'no {CONTAINER_SUFFIX} files in {in_dir}')
    return names, entries, failures


def _model_notes(deploy: DeployModel, manifest: Optional[Dict[str, Any]],
                 fingerprint: str) -> List[str]:
    """Notes on this model against the one that wrote the files."""
    notes = []
    if deploy.tables_computed:
        notes.append('the checkpoint had no entropy tables; they were computed with update(): '
                     'files coded with the checkpoint\'s own tables would not match')
    return notes


def _analyze_files(deploy: DeployModel, in_dir: str, names: Sequence[str],
                   entries: Dict[Any, Dict[str, Any]], ann: Annotations,
                   cat_ids: Optional[List[Any]], result: AnalyzeResult,
                   progress: bool) -> List[Dict[str, Any]]:
    """Analyse every container into ``result`` (files, samples, predictions, failures, a
    note on files without a manifest entry); returns their sizes as rate entries."""
    classes = list(deploy.dataset_meta.get('classes') or [])
    sizes: List[Dict[str, Any]] = []
    no_entry = 0
    for name in progress_bar(names, 'analyze', progress):
        path = osp.join(in_dir, name)
        entry = entries.get(name)
        try:  # one bad file must not stop the others
            stream, sample, image_id = _analyze_one(deploy, path, entry, ann)
        except _FileFailure as e:
            result.failures.append((name, str(e)))
            continue
        except Exception as e:  # noqa: BLE001
            result.failures.append((name, f'analysis failed: {error_text(e)}'))
            continue
        no_entry += entry is None
        result.files.append(name)
        result.samples.append(sample)
        if deploy.task == 'detection':
            result.predictions.extend(detection_records(sample, image_id, cat_ids))
        else:
            result.predictions.append(classification_record(sample, name, image_id, classes))
        meta = sample.metainfo
        sizes.append(dict(bytes=osp.getsize(path), original_hw=hw(meta['ori_shape']),
                          input_hw=hw(meta.get('img_shape', stream.image_size))))
    if no_entry:
        result.notes.append(f'{no_entry} file(s) without a {MANIFEST_JSON} entry: their '
                            'predictions are in coded-input coordinates (original size and '
                            'scale unknown)')
    return sizes


def _metrics(deploy: DeployModel, result: AnalyzeResult, entries: Dict[Any, Dict[str, Any]],
             ann: Annotations) -> Dict[str, Any]:
    """Task metrics of the analysed files against the annotation file (none without one)."""
    if ann.file is None or not result.samples:
        return {}
    with deploy.scope_context():
        if ann.coco is None:
            labels = [ann.labels[_image_key(entries.get(f), f)] for f in result.files]
            return accuracy(result.samples, labels)
        metrics = coco_metrics(deploy.dataset_meta, result.samples, ann.file)
    annotated = len(ann.ids_by_name)
    if annotated > len(result.samples):
        result.notes.append(f'{annotated - len(result.samples)} of {annotated} annotated '
                            'images have no prediction (they count as misses)')
    return metrics


def _write_outputs(result: AnalyzeResult, in_dir: str, ann_file: Optional[str], task: str,
                   fingerprint: str) -> None:
    """The predictions json and its summary json."""
    os.makedirs(osp.dirname(osp.abspath(result.out)), exist_ok=True)
    with open(result.out, 'w', encoding='utf-8') as f:
        json.dump(result.predictions, f)
    with open(result.summary_path, 'w', encoding='utf-8') as f:
        json.dump(dict(in_dir=in_dir, out=result.out, ann_file=ann_file, task=task,
                       model_fingerprint=fingerprint, num_analyzed=len(result.files),
                       num_failed=len(result.failures), metrics=to_json(result.metrics),
                       rate=result.rate, headline_bpp='bpp_original',
                       rate_definitions=RATE_DEFINITIONS,
                       failures=[dict(file=n, reason=r) for n, r in result.failures],
                       notes=result.notes),
                  f, indent=1)
        f.write('\n')


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
    names, entries, failures = _list_containers(in_dir, manifest)
    fingerprint = deploy.fingerprint().hex()
    written_by = (manifest or {}).get('model_fingerprint')
    if written_by not in (None, fingerprint):
        raise EdgeMismatchError(
            f'{in_dir}: the files were written by edge {written_by} ({MANIFEST_JSON}), this '
            f'task model was trained on edge {fingerprint}: analyze them with a task model '
            'of their edge (one trained from the same stage-4 checkpoint)')
    written_from = (manifest or {}).get('input_normalisation')
    if written_from is not None and written_from != deploy.input_normalisation():
        raise EdgeMismatchError(
            f'{in_dir}: the files were coded from pixels preprocessed as {written_from} '
            f'({MANIFEST_JSON}), this task model was trained on pixels preprocessed as '
            f'{deploy.input_normalisation()}: give it the edge\'s data_preprocessor')
    notes = _model_notes(deploy, manifest, fingerprint)
    ann = load_annotations(deploy.task, ann_file)
    cat_ids = None  # None: category_id = class index
    if deploy.task == 'detection':
        cat_ids = category_ids(list(deploy.dataset_meta.get('classes') or []), ann.coco,
                               (manifest or {}).get('categories'), notes)

    summary_path = (out[:-len('.json')] if out.endswith('.json') else out) + '.summary.json'
    result = AnalyzeResult(out=out, summary_path=summary_path, files=[], samples=[],
                           predictions=[], failures=failures, metrics={}, rate={}, notes=notes)
    result.rate = rate_totals(_analyze_files(deploy, in_dir, names, entries, ann, cat_ids,
                                             result, progress))
    result.metrics = _metrics(deploy, result, entries, ann)
    _write_outputs(result, in_dir, ann_file, deploy.task, fingerprint)
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
