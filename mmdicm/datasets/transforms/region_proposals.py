"""``GTBoxesAsProposals``: the ground-truth boxes as a stock Fast R-CNN's proposals.

A *region classifier* is a Fast R-CNN (mmdet's ``FastRCNN``: no RPN, the RoI head on given
proposals) whose proposals are the annotated boxes: it classifies each object of an image
given where the object is (as a tracker, or a detector's first stage, would give it). On the
COCO-like split that is a classification task that ranks codecs, where a classifier of whole
images learns nothing (``docs/results/coco-like/1x/README.md``). Scored per object by
:class:`~mmdicm.evaluation.RegionAccuracy`.
"""
from typing import Any, Dict

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

__all__ = ['GTBoxesAsProposals']


@TRANSFORMS.register_module()
class GTBoxesAsProposals(BaseTransform):
    """``results['proposals']`` := the ground-truth boxes (score 1 each), in their order::

        LoadImageFromFile ─► LoadAnnotations(with_bbox=True) ─► Resize ─► RandomFlip
            ─► GTBoxesAsProposals ─► PackDetInputs ─► FastRCNN (roi_head on data_sample.proposals)

    Put it after every geometric transform (the boxes are copied as they are then), in the
    test pipeline too: the region classifier is given the boxes at test time. The i-th
    proposal is the i-th ground-truth box, so the i-th raw prediction (``test_cfg.rcnn=None``)
    is that object's.
    """

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        boxes = results.get('gt_bboxes')
        if boxes is None:
            raise KeyError('GTBoxesAsProposals needs gt_bboxes: put LoadAnnotations('
                           'with_bbox=True) before it, in the test pipeline too')
        boxes = boxes.numpy() if hasattr(boxes, 'numpy') else np.asarray(boxes)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        results['proposals'] = boxes
        results['proposals_scores'] = np.ones(len(boxes), dtype=np.float32)
        return results
