"""``RegionAccuracy``: top-1 accuracy per object of a classifier of regions.

The model is a stock Fast R-CNN given the annotated boxes as proposals
(:class:`~mmdicm.datasets.transforms.GTBoxesAsProposals`) and ``test_cfg.rcnn=None``, so its
predictions are raw: one row of class scores (background last) per proposal, in the
annotations' order. Each object's label is the argmax over the classes (background
excluded); the metric is the share of objects named right, overall and by COCO's size bands
(box area in the original image: small < 32², large >= 96²)::

    val_evaluator = [dict(type='RegionAccuracy')]   # region/top1, region/top1_small, ...
"""
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

__all__ = ['RegionAccuracy', 'SIZE_BANDS']

#: COCO's absolute area bands (pixels of the original image): (name, low, high)
SIZE_BANDS = (('small', 0.0, 32.0**2), ('medium', 32.0**2, 96.0**2), ('large', 96.0**2, np.inf))


def _numpy(x: Any) -> np.ndarray:
    x = getattr(x, 'tensor', x)  # mmdet's box types
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)


@METRICS.register_module()
class RegionAccuracy(BaseMetric):
    """Top-1 (%) over the objects of a region classifier's raw predictions.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``, where ranks gather results.
        prefix (str): The metrics' prefix. Defaults to ``'region'``.
    """

    default_prefix = 'region'

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        for sample in data_samples:
            gt = sample.get('gt_instances') or {}
            pred = sample.get('pred_instances') or {}
            if 'labels' not in gt or 'bboxes' not in gt:
                raise RuntimeError('RegionAccuracy: a prediction has no gt_instances (put '
                                   'LoadAnnotations(with_bbox=True) in the test pipeline)')
            labels, boxes = _numpy(gt['labels']), _numpy(gt['bboxes']).reshape(-1, 4)
            scores = _numpy(pred.get('scores', np.zeros(0)))
            if scores.ndim != 2 or len(scores) != len(labels) or scores.shape[1] < 2:
                raise RuntimeError(
                    f'RegionAccuracy: expected one row of class scores per object '
                    f'({len(labels)} x classes + 1), got scores of shape {scores.shape}: '
                    'the model must be given the objects as proposals (GTBoxesAsProposals '
                    'in the test pipeline) and return raw scores (model.test_cfg.rcnn=None)')
            predicted = scores[:, :-1].argmax(axis=1)  # background (last) excluded
            # gt boxes are in the model input's scale: the original area by scale_factor
            sx, sy = sample.get('scale_factor', (1.0, 1.0))
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (sx * sy)
            self.results.append((predicted == labels, areas))

    def compute_metrics(self, results: List[Tuple[np.ndarray, np.ndarray]]) -> Dict[str, float]:
        right = np.concatenate([r[0] for r in results]) if results else np.zeros(0, bool)
        areas = np.concatenate([r[1] for r in results]) if results else np.zeros(0)
        if not len(right):
            raise RuntimeError('RegionAccuracy: no objects were scored')
        metrics = dict(top1=100.0 * float(right.mean()), num_objects=int(len(right)))
        for name, low, high in SIZE_BANDS:
            band = (areas >= low) & (areas < high)
            metrics[f'top1_{name}'] = 100.0 * float(right[band].mean()) if band.any() else -1.0
        return metrics
