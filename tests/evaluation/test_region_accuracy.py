"""The classifier of regions: GT boxes as a stock FastRCNN's proposals, top-1 per object."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmdicm  # noqa: F401
from mmdicm.datasets.transforms import GTBoxesAsProposals
from mmdicm.evaluation import RegionAccuracy

CONFIG = 'configs/sweep/fast-rcnn_r18_coco-like_region-cls.py'


def test_gt_boxes_become_the_proposals_in_their_order():
    from mmdet.structures.bbox import HorizontalBoxes
    boxes = HorizontalBoxes(torch.tensor([[1., 2., 30., 40.], [5., 5., 9., 12.]]))
    out = GTBoxesAsProposals()(dict(gt_bboxes=boxes))
    np.testing.assert_array_equal(out['proposals'], boxes.tensor.numpy())
    assert out['proposals'].dtype == np.float32 and out['proposals_scores'].tolist() == [1, 1]
    with pytest.raises(KeyError, match=r'LoadAnnotations\(with_bbox=True\)'):
        GTBoxesAsProposals()(dict(img=np.zeros((4, 4, 3), np.uint8)))


def _sample(scores, labels, boxes, scale=(1.0, 1.0)):
    return dict(gt_instances=dict(labels=torch.tensor(labels), bboxes=torch.tensor(boxes)),
                pred_instances=dict(scores=torch.tensor(scores)), scale_factor=scale)


def test_top1_per_object_by_coco_size_band_background_excluded():
    metric = RegionAccuracy()
    # 3 classes + background: the background column never wins, however high
    metric.process(None, [_sample([[0.1, 0.2, 0.0, 0.7], [0.5, 0.1, 0.1, 0.3]], [1, 0],
                                  [[0, 0, 10, 10], [0, 0, 100, 100]])])
    # a 20x20 box in the input, 40x40 in the image (scale 0.5): medium; named wrong
    metric.process(None, [_sample([[0.6, 0.2, 0.1, 0.1]], [2], [[0, 0, 20, 20]], (0.5, 0.5))])
    out = metric.compute_metrics(metric.results)
    assert out['num_objects'] == 3 and out['top1'] == pytest.approx(200 / 3)
    assert (out['top1_small'], out['top1_medium'], out['top1_large']) == (100.0, 0.0, 100.0)


def test_predictions_that_are_not_one_row_per_object_are_refused():
    metric = RegionAccuracy()
    with pytest.raises(RuntimeError, match=r'test_cfg.rcnn=None'):  # NMS'd detections
        metric.process(None, [_sample([0.9], [1], [[0, 0, 10, 10]])])
    with pytest.raises(RuntimeError, match='LoadAnnotations'):
        metric.process(None, [dict(pred_instances=dict(scores=torch.zeros(1, 3)))])
    with pytest.raises(RuntimeError, match='no objects'):
        metric.compute_metrics([])


def test_the_region_config_is_a_stock_fast_rcnn_that_trains_and_scores_every_object():
    """The sweep's detector minus its RPN: a train step on GT proposals moves the RoI head,
    and the test pass (the config's own test pipeline on an in-memory image) gives one raw
    score row per annotated object, which RegionAccuracy reads."""
    from mmdet.registry import MODELS
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(CONFIG)
    assert cfg.model.type == 'FastRCNN' and 'rpn_head' not in cfg.model
    assert cfg.model.test_cfg.rcnn is None
    assert cfg.model.roi_head.bbox_head.num_classes == 10
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    pipe = [t for t in cfg.train_pipeline if t['type'] not in ('LoadImageFromFile',
                                                               'LoadAnnotations')]
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    boxes = np.array([[4., 6., 40., 44.], [30., 2., 60., 20.]], np.float32)
    from mmdet.structures.bbox import HorizontalBoxes

    def item(pipeline):
        return Compose(pipeline)(dict(
            img=img.copy(), img_shape=(64, 64), ori_shape=(64, 64),
            gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes)),
            gt_bboxes_labels=np.array([3, 7]), gt_ignore_flags=np.zeros(2, bool), img_id=0))

    batch = pseudo_collate([item(pipe), item(pipe)])
    assert batch['data_samples'][0].proposals.bboxes.shape == (2, 4)
    model.train()
    before = {k: v.clone() for k, v in model.named_parameters() if k.startswith('roi_head.')}
    losses = model.train_step(batch, build_optim_wrapper(model, cfg.optim_wrapper))
    assert 'loss_cls' in losses and torch.isfinite(losses['loss_cls'])
    assert any(not torch.equal(v, dict(model.named_parameters())[k]) for k, v in before.items())
    test = [t for t in cfg.test_pipeline if t['type'] not in ('LoadImageFromFile',
                                                              'LoadAnnotations')]
    model.eval()
    with torch.no_grad():
        out = model.test_step(pseudo_collate([item(test)]))
    assert out[0].pred_instances.scores.shape == (2, 11)  # 10 classes + background
    metric = RegionAccuracy()
    metric.process(None, [o.to_dict() for o in out])
    assert metric.compute_metrics(metric.results)['num_objects'] == 2
