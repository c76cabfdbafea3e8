"""The receiver's task outputs: COCO result records (detection) or class-score records
(classification), annotations to evaluate them against, and the metrics."""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from .model import DeployError
from .util import error_text

__all__ = ['Annotations', 'accuracy', 'category_ids', 'classification_record', 'coco_metrics',
           'detection_records', 'load_annotations', 'read_cls_annotations']


@dataclass
class Annotations:
    """An annotation file as the receiver uses it (all empty without one).

    Attributes:
        file (str, optional): The file.
        coco (COCO, optional): A detector's COCO json (mmdet's COCO api).
        ids_by_name (dict): COCO image id by image file name.
        labels (dict, optional): A classifier's label by image file name.
    """

    file: Optional[str] = None
    coco: Any = None
    ids_by_name: Dict[str, Any] = field(default_factory=dict)
    labels: Optional[Dict[str, int]] = None


def load_annotations(task: str, ann_file: Optional[str]) -> Annotations:
    """A COCO json for ``task == 'detection'``, else an mmpretrain ``<image> <label>`` list."""
    if ann_file is None:
        return Annotations()
    if task != 'detection':
        return Annotations(ann_file, labels=read_cls_annotations(ann_file))
    from mmdet.datasets.api_wrappers import COCO
    try:
        coco = COCO(ann_file)
    except Exception as e:  # noqa: BLE001
        raise DeployError(f'cannot read {ann_file} as a COCO json: {error_text(e)}') from e
    return Annotations(ann_file, coco, {osp.basename(img['file_name']): img['id']
                                        for img in coco.dataset.get('images', [])})


def category_ids(classes: Sequence[str], coco: Any,
                 manifest_categories: Optional[List[Dict[str, Any]]],
                 notes: List[str]) -> Optional[List[Any]]:
    """COCO ``category_id`` of each class, by name: through the annotation file's categories
    if there is one, else those the manifest recorded; None (category_id = class index) if
    neither has them all. Appends what to know to ``notes``."""
    source_cats = coco.dataset.get('categories') if coco is not None else manifest_categories
    if not source_cats:
        notes.append('no COCO categories known: category_id = class index (0-based)')
        return None
    by_name = {c['name']: c['id'] for c in source_cats}
    missing = [c for c in classes if c not in by_name]
    if missing or not classes:
        notes.append(f'classes {missing[:3]} not among the COCO categories: '
                     'category_id = class index')
        return None
    cat_ids = [by_name[c] for c in classes]
    if coco is not None and coco.get_cat_ids(cat_names=classes) != cat_ids:
        notes.append('the annotation file lists categories in another order than '
                     "the model's classes: CocoMetric (as tools/test.py) maps "
                     'labels by position, the json by name')
    return cat_ids


def _xyxy2xywh(box: Sequence[float]) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def detection_records(sample: Any, image_id: Any,
                      cat_ids: Optional[Sequence[Any]]) -> List[dict]:
    """COCO result records of one detector sample: xywh boxes in original-image pixels, and
    RLE masks with their ``mask_score`` if it predicts masks. ``cat_ids`` maps class index to
    ``category_id`` (None: the class index itself)."""
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


def classification_record(sample: Any, file_name: str, image_id: Any,
                          classes: Sequence[str]) -> dict:
    """One classifier sample as a record: ``pred_label``, its score and class, all scores."""
    scores = sample.pred_score.cpu()
    label = int(sample.pred_label.item()) if 'pred_label' in sample else int(scores.argmax())
    rec = dict(file=file_name, image=sample.metainfo.get('img_path'), image_id=image_id,
               pred_label=label, pred_score=float(scores[label]), scores=scores.tolist())
    if classes and label < len(classes):
        rec['pred_class'] = classes[label]
    return rec


def read_cls_annotations(ann_file: str) -> Dict[str, int]:
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


def coco_metrics(dataset_meta: Dict[str, Any], samples: Sequence[Any],
                 ann_file: str) -> Dict[str, Any]:
    """mmdet's ``CocoMetric`` (bbox, and segm if the samples have masks) against ``ann_file``,
    as ``tools/test.py`` computes it."""
    from mmdet.evaluation import CocoMetric
    metric_names = ['bbox'] + (['segm'] if 'masks' in samples[0].pred_instances else [])
    metric = CocoMetric(ann_file=ann_file, metric=metric_names, format_only=False)
    metric.dataset_meta = dataset_meta
    metric.process({}, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def accuracy(samples: Sequence[Any], labels: Sequence[int]) -> Dict[str, float]:
    """mmpretrain's top-1 (and top-5 with at least 5 classes) accuracy of classifier samples."""
    from mmpretrain.evaluation import Accuracy
    scores = torch.stack([s.pred_score.cpu() for s in samples])
    topk = (1, 5) if scores.shape[1] >= 5 else (1, )
    values = Accuracy.calculate(scores, torch.tensor(labels), topk=topk)
    return {f'accuracy/top{k}': float(v[0]) for k, v in zip(topk, values)}
