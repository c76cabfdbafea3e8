"""Random-weight mmdet detectors made to do comparable work, for the pipeline and training-step
benchmarks: build one, fix its RoI workload, give it a batch or a data sample, feed its RoI
heads given proposals, hand its backbone decoded features, time and count its stages."""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..models import inject_backbone_features
from .utils import Probe

__all__ = ['DICM_DETECTOR_CONFIG', 'STOCK_DETECTOR_CONFIG', 'build_detector',
           'fix_detection_workload', 'detection_sample', 'make_detection_batch',
           'backbone_returns', 'fixed_proposals', 'record_proposals', 'copy_instances',
           'instrument_detector', 'count_workload']

#: DICM Mask R-CNN R-50-FPN (``configs/mask-rcnn_dicm.py``, as packaged)
DICM_DETECTOR_CONFIG = 'mmdicm::dicm/mask-rcnn_dicm.py'
#: mmdet's stock Mask R-CNN R-50-FPN, the model the DICM config wraps
STOCK_DETECTOR_CONFIG = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


# ---------------------------------------------------------------------------------- models
def _load_config(path: str) -> Any:
    """A config file, or a package-scoped one (``mmdet::...``, ``mmdicm::dicm/...``)."""
    from mmengine.config import Config
    if '::' in path:
        from mmengine.hub import get_config
        return get_config(path)
    return Config.fromfile(path)


def build_detector(config: str, cfg_options: Optional[Dict[str, Any]] = None,
                   seed: int = 0) -> nn.Module:
    """Build an mmdet detector of ``config`` with random weights, in eval mode.

    ``model.backbone.init_cfg`` is set to None (no pretrained weights are fetched; weights are
    not initialised beyond the modules' own constructors either). A DICM backbone gets its
    entropy tables with ``update(force=True)``.

    Args:
        config (str): Config file or package-scoped path (``mmdet::...``,
            ``mmdicm::dicm/...``; ``import mmdicm`` makes the latter resolvable).
        cfg_options (dict, optional): Nested overrides merged into the config's ``model``
            (e.g. ``dict(backbone=dict(depth=18))``). Defaults to None.
        seed (int): ``torch.manual_seed`` before building. Defaults to 0.

    Returns:
        nn.Module: The detector, in eval mode.
    """
    from mmengine.registry import MODELS, DefaultScope

    if cfg_options is not None and not isinstance(cfg_options, dict):
        raise TypeError(f'cfg_options must be a dict of model overrides, got {cfg_options!r}')
    cfg = _load_config(config)
    cfg.merge_from_dict(dict(model=dict(backbone=dict(init_cfg=None))))
    if cfg_options:
        cfg.merge_from_dict(dict(model=cfg_options))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model.eval()
    if hasattr(model.backbone, 'update') and getattr(model.backbone, 'codec', None) is not None:
        model.backbone.update(force=True)
    return model


def fix_detection_workload(detector: nn.Module, class_index: int = 0,
                           logit: float = 20.0) -> None:
    """Make a random-weight two-stage detector do a fixed amount of RoI-head work.

    Sets the box classifier (``roi_head.bbox_head.fc_cls``) to zero weights and a bias of
    ``logit`` for ``class_index`` (0 elsewhere): every proposal scores ~1 for that class and
    ~``exp(-logit)`` for the others, independent of the features. Box regression
    (``fc_reg``) becomes zero: detections are the proposals themselves. With the stock
    test_cfg, multiclass NMS then sees one candidate per proposal and keeps up to
    ``max_per_img``; the mask head runs on exactly those boxes.

    Args:
        detector (nn.Module): An mmdet two-stage detector with a ``roi_head.bbox_head``
            holding an ``fc_cls`` linear layer (Mask / Faster R-CNN).
        class_index (int): The class every proposal is given. Defaults to 0.
        logit (float): Its logit; the softmax of the others is ``~exp(-logit)``, far below
            any score threshold. Defaults to 20.
    """
    head = getattr(getattr(detector, 'roi_head', None), 'bbox_head', None)
    fc_cls = getattr(head, 'fc_cls', None)
    if not isinstance(fc_cls, nn.Linear):
        raise TypeError(f'{type(detector).__name__} has no roi_head.bbox_head.fc_cls linear '
                        'classifier (a two-stage detector such as Mask R-CNN is expected)')
    if not 0 <= class_index < fc_cls.out_features - 1:  # the last output is background
        raise ValueError(f'class_index must be in [0, {fc_cls.out_features - 2}], '
                         f'got {class_index!r}')
    with torch.no_grad():
        fc_cls.weight.zero_()
        fc_cls.bias.zero_()
        fc_cls.bias[class_index] = float(logit)
        fc_reg = getattr(head, 'fc_reg', None)
        if isinstance(fc_reg, nn.Linear):
            fc_reg.weight.zero_()
            fc_reg.bias.zero_()



def detection_sample(size: Tuple[int, int], padded: Optional[Tuple[int, int]] = None) -> Any:
    """A data sample for a ``size`` image at scale 1; ``padded`` also sets what the data
    preprocessor would (``batch_input_shape``, ``pad_shape``), for the DICM receiver."""
    from mmdet.structures import DetDataSample

    meta = dict(img_shape=tuple(size), ori_shape=tuple(size), scale_factor=(1.0, 1.0))
    if padded is not None:
        meta.update(batch_input_shape=tuple(padded), pad_shape=tuple(padded))
    return DetDataSample(metainfo=meta)


def make_detection_batch(batch_size: int = 2,
                         size: Tuple[int, int] = (320, 320),
                         seed: int = 0) -> Dict[str, List[Any]]:
    """A detection batch of embedded-dataset images with their boxes, labels and masks.

    Images are rendered at ``max(size)`` and cropped to ``size`` (objects cut by the crop
    keep their visible part; an image left without objects is re-drawn).

    Returns:
        dict: ``inputs`` (uint8 CHW BGR tensors, as mmdet's ``PackDetInputs``) and
        ``data_samples`` (``DetDataSample`` with ``gt_instances``), the format
        ``model.train_step`` takes.
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    from ..datasets.embedded import render_sample

    h, w = size
    inputs, samples = [], []
    index = 0
    while len(inputs) < batch_size:
        sample = render_sample(index, 'train', image_size=max(h, w), seed=seed)
        index += 1
        masks = [o.mask[:h, :w] for o in sample.objects]
        keep = [i for i, m in enumerate(masks) if m.sum() >= 16]
        if not keep:
            continue
        boxes, labels = [], []
        for i in keep:
            ys, xs = np.nonzero(masks[i])
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            labels.append(sample.objects[i].label)
        image = np.ascontiguousarray(sample.image[:h, :w, ::-1])  # RGB -> BGR (mmcv's)
        inputs.append(torch.from_numpy(image).permute(2, 0, 1).contiguous())
        data = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                           scale_factor=(1., 1.), flip=False,
                                           flip_direction=None, img_id=index))
        data.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.long),
            masks=BitmapMasks(np.stack([masks[i] for i in keep]).astype(np.uint8), h, w))
        samples.append(data)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------------------------- workload
#: :func:`mmdicm.models.inject_backbone_features` under the benchmarks' older name: within a
#: ``with`` block, ``backbone(x)`` returns the given decoded features, as in ``tools/analyze.py``.
backbone_returns = inject_backbone_features


class fixed_proposals:  # noqa: N801  (a context manager, used like a function)
    """Within the block, the detector's RPN runs in full but returns ``proposals``.

    Wraps ``rpn_head.predict_by_feat`` (box decoding + NMS: its cost is kept) by an instance
    attribute, removed on exit; every call returns fresh copies of ``proposals``, so every
    pipeline's RoI heads work on the same boxes.

    Args:
        detector (nn.Module): A two-stage mmdet detector (``rpn_head``).
        proposals (list[InstanceData]): One per image, with ``bboxes`` (and ``scores``).
    """

    def __init__(self, detector: nn.Module, proposals: Sequence[Any]) -> None:
        self.head = detector.rpn_head
        self.proposals = list(proposals)

    def __enter__(self) -> None:
        if 'predict_by_feat' in vars(self.head):
            raise RuntimeError('rpn_head.predict_by_feat is already overridden')
        original = self.head.predict_by_feat
        proposals = self.proposals

        def predict_by_feat(*args: Any, **kwargs: Any) -> List[Any]:
            out = original(*args, **kwargs)
            if len(out) != len(proposals):
                raise RuntimeError(f'fixed proposals are for {len(proposals)} images, the '
                                   f'RPN predicted {len(out)}')
            return [copy_instances(p) for p in proposals]

        self.head.predict_by_feat = predict_by_feat

    def __exit__(self, *exc: Any) -> None:
        del self.head.predict_by_feat


def copy_instances(instances: Any) -> Any:
    """A copy of mmengine ``InstanceData`` whose tensors are cloned."""
    copy = instances.new()
    for key, value in instances.items():
        copy[key] = value.clone() if torch.is_tensor(value) else value
    return copy


def record_proposals(detector: nn.Module, run: Callable[[], Any]) -> List[Any]:
    """The proposals a two-stage detector's RPN hands its RoI head during ``run()``.

    Wraps ``rpn_head.predict_by_feat`` (by an instance attribute, removed after) and keeps
    copies of what its last call returned, for :class:`fixed_proposals`.

    Raises:
        ValueError: The detector has no ``rpn_head``, or its RPN predicted nothing in ``run``.
    """
    head = getattr(detector, 'rpn_head', None)
    if head is None or not callable(getattr(head, 'predict_by_feat', None)):
        raise ValueError(f'{type(detector).__name__} has no rpn_head (a two-stage detector '
                         'is expected)')
    original, seen = head.predict_by_feat, []

    def predict_by_feat(*args: Any, **kwargs: Any) -> List[Any]:
        out = original(*args, **kwargs)
        seen[:] = [[copy_instances(p) for p in out]]
        return out

    head.predict_by_feat = predict_by_feat
    try:
        run()
    finally:
        del head.predict_by_feat
    if not seen:
        raise ValueError(f'the RPN of {type(detector).__name__} predicted no proposals')
    return seen[0]


def instrument_detector(probe: Probe, model: nn.Module, backbone_key: Optional[str]) -> None:
    """Stage timers on a detector: preprocessor, backbone, neck, RPN, RoI bbox and mask
    (each with its post-processing: NMS, mask pasting)."""
    probe.hook(model.data_preprocessor, 'preprocess')
    if backbone_key is not None:
        probe.hook(model.backbone, backbone_key)
    probe.hook(model.neck, 'neck')
    probe.wrap(model.rpn_head, 'predict', 'rpn')
    probe.wrap(model.roi_head, 'predict_bbox', 'roi_bbox')
    probe.wrap(model.roi_head.bbox_head, 'predict_by_feat', 'bbox_post')
    if getattr(model.roi_head, 'with_mask', False):
        probe.wrap(model.roi_head, 'predict_mask', 'roi_mask')
        probe.wrap(model.roi_head.mask_head, 'predict_by_feat', 'mask_post')


def count_workload(model: nn.Module, run: Callable[[], Any]) -> Dict[str, Any]:
    """Proposals (RPN output), detections, masks and the detections' mean box area (pixels)
    of one untimed run."""
    counts: Dict[str, Any] = {}
    original = model.rpn_head.predict

    def predict(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        counts['proposals'] = int(sum(len(r) for r in out))
        return out

    model.rpn_head.predict = predict
    try:
        samples = run()
    finally:
        del model.rpn_head.predict
    counts['detections'] = int(sum(len(s.pred_instances) for s in samples))
    if 'masks' in samples[0].pred_instances:
        counts['masks'] = int(sum(len(s.pred_instances.masks) for s in samples))
    boxes = torch.cat([s.pred_instances.bboxes for s in samples])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    counts['mean_box_area'] = round(float(areas.mean()), 1) if len(areas) else 0.0
    return counts

