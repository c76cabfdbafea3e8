"""The training-step benchmark on tiny models and images: every field is there and
consistent (``tools/benchmark_train_step.py`` runs the real sizes; it is not a test)."""
import runpy
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdicm.benchmarks import (STOCK_CONFIG, TRAIN_STEP_TARGET, format_train_step_benchmark,
                               make_detection_batch, resolve_config, run_train_step_benchmark)

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / 'configs' / 'demo' / 'mask-rcnn_dicm_r18_embedded.py')
TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))
# "stock": the same demo detector without a codec (a plain ResNet-18), for speed
NO_CODEC = {'model.backbone.codec': None}


@pytest.fixture(scope='module')
def result():
    return run_train_step_benchmark(DEMO, DEMO, batch_size=2, size=(64, 96), steps=2,
                                    warmup=1, threads=1,
                                    dicm_cfg_options={'model.backbone.codec': TINY_CODEC},
                                    stock_cfg_options=NO_CODEC)


def test_result_has_every_field(result):
    for name in ('dicm', 'stock'):
        r = result[name]
        assert len(r['times_s']) == 2 and all(t > 0 for t in r['times_s'])
        assert r['median_s'] == min(r['times_s'])  # lower median of two
        assert r['params_m'] > 0
    assert result['dicm']['config'] == result['stock']['config'] == DEMO
    assert result['dicm']['params_m'] > result['stock']['params_m']  # + the codec
    assert 0 < result['dicm']['codec_forward_median_s'] < result['dicm']['median_s']
    assert result['ratio'] == pytest.approx(result['dicm']['median_s'] /
                                            result['stock']['median_s'])
    assert result['ratio'] > 0 and result['mean_ratio'] == pytest.approx(
        statistics.mean(result['dicm']['times_s']) / statistics.mean(result['stock']['times_s']))
    assert result['paired_ratio'] == pytest.approx(statistics.median(
        [d / s for d, s in zip(result['dicm']['times_s'], result['stock']['times_s'])]))
    assert result['target'] == TRAIN_STEP_TARGET == 1.5
    assert result['meets_target'] == (result['ratio'] <= 1.5)
    assert result['size'] == (64, 96) and result['batch_size'] == 2 and result['threads'] == 1
    text = format_train_step_benchmark(result)
    assert 'ratio DICM / stock' in text and ('PASS' in text or 'MISS' in text)
    assert len(result['load_average']) == 2
    prof = result['codec_profile']
    assert prof['dense_s'] > 0 and prof['depthwise_s'] > 0 and prof['other_s'] > 0
    assert prof['total_s'] == pytest.approx(prof['dense_s'] + prof['depthwise_s'] +
                                            prof['other_s'])
    assert result['dense_floor_ratio'] == pytest.approx(
        1 + prof['dense_s'] / result['stock']['median_s'])
    assert 'the dense part alone would make the ratio' in text
    assert f'codec forward + backward: {prof["unprofiled_s"]:.3f} s; profiled' in text


def test_both_models_do_the_same_work_outside_the_codec(result):
    # every stock tensor (the whole detector: the stock side is the DICM config minus its
    # codec) went into the DICM model, and its RoI head got the stock proposals
    assert result['shared_tensors'] > 100 and result['pinned_proposals']
    dicm, stock = result['dicm']['rois'], result['stock']['rois']
    names = [n for n, _ in dicm]
    assert 'roi_head.bbox_roi_extractor' in names and 'roi_head.mask_roi_extractor' in names
    assert dicm == stock and result['same_rois']
    assert 'same work outside the codec' in format_train_step_benchmark(result)


def test_recorded_proposals_replace_the_targets_own():
    from mmdicm.benchmarks import build_train_model, fixed_proposals, record_proposals
    batch = make_detection_batch(1, (64, 64), seed=0)
    (target, t_optim, _), (source, s_optim, _) = [
        build_train_model(DEMO, NO_CODEC, rate_hook=False) for _ in range(2)]
    got = {}
    for name, model in (('target', target), ('source', source)):
        own = model.roi_head.loss

        def spy(x, rpn_results, samples, _own=own, _name=name):
            got[_name] = rpn_results[0].bboxes.clone()
            return _own(x, rpn_results, samples)
        model.roi_head.loss = spy
    target.train_step(batch, t_optim)
    proposals = record_proposals(source, lambda: source.train_step(batch, s_optim))
    assert torch.equal(proposals[0].bboxes, got['source'])
    assert not torch.equal(got['target'], got['source'])  # own random RPNs: own proposals
    with fixed_proposals(target, proposals):
        target.train_step(batch, t_optim)
    assert torch.equal(got['target'], got['source'])
    target.train_step(batch, t_optim)  # unpinned again
    assert not torch.equal(got['target'], got['source'])
    with pytest.raises(ValueError, match='has no rpn_head'):
        record_proposals(torch.nn.Linear(2, 2), lambda: None)
    with pytest.raises(ValueError, match='predicted no proposals'):
        record_proposals(source, lambda: None)


def test_codec_profile_sorts_ops_into_dense_depthwise_and_other():
    from mmdicm.benchmarks import profile_codec_step

    class Codec(torch.nn.Module):
        def __init__(self, dense: int, depthwise: int):
            super().__init__()
            self.pw = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 1) for _ in range(dense)])
            self.dw = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 7, padding=3, groups=32)
                                            for _ in range(depthwise)])

        def forward(self, x):
            y = self.dw(self.pw(x))
            return dict(f3=y, likelihoods=dict(y=torch.sigmoid(y) * 0.5 + 0.25))

    x = torch.randn(1, 32, 24, 24)
    dense, depthwise = Codec(2, 0), Codec(0, 2)
    only_dense, only_depthwise = profile_codec_step(dense, x), profile_codec_step(depthwise, x)
    assert only_dense['dense_s'] > 0 and only_dense['depthwise_s'] == 0
    assert only_depthwise['depthwise_s'] > 0 and only_depthwise['dense_s'] == 0
    assert only_dense['other_s'] > 0  # sigmoid, log, mean and their backward
    assert only_dense['unprofiled_s'] > 0 and only_depthwise['unprofiled_s'] > 0
    assert all(p.grad is None for p in dense.parameters())  # gradients cleared


def test_independent_weights_keep_their_own_heads():
    result = run_train_step_benchmark(DEMO, DEMO, batch_size=1, size=(64, 64), steps=1,
                                      warmup=0, threads=1, same_head_work=False,
                                      dicm_cfg_options={'model.backbone.codec': TINY_CODEC},
                                      stock_cfg_options=NO_CODEC)
    assert result['shared_tensors'] == 0 and not result['pinned_proposals']
    assert 'own random weights' in format_train_step_benchmark(result)


def test_batch_has_consistent_boxes_and_masks():
    batch = make_detection_batch(3, (80, 64), seed=0)
    assert len(batch['inputs']) == len(batch['data_samples']) == 3
    for image, sample in zip(batch['inputs'], batch['data_samples']):
        assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 80, 64)
        gt = sample.gt_instances
        masks = gt.masks.to_ndarray()
        assert len(gt.bboxes) == len(gt.labels) == len(masks) > 0
        for box, mask in zip(gt.bboxes.tolist(), masks):
            ys, xs = np.nonzero(mask)
            assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert ((gt.labels >= 0) & (gt.labels < 4)).all()


@pytest.mark.parametrize('kwargs, match', [
    (dict(steps=0), 'steps must be an int >= 1'),
    (dict(warmup=-1), 'warmup must be an int >= 0'),
    (dict(size=(16, 64)), r'size must be \(H, W\)'),
    (dict(dicm_config=STOCK_CONFIG, dicm_cfg_options=None), 'not a DICM training config'),
])
def test_bad_arguments(kwargs, match):
    args = dict(dicm_config=DEMO, stock_config=DEMO, size=(64, 64), steps=1, warmup=0,
                dicm_cfg_options={'model.backbone.codec': TINY_CODEC},
                stock_cfg_options=NO_CODEC)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_train_step_benchmark(**args)


def test_configs_resolve_by_package_scope():
    assert resolve_config(STOCK_CONFIG).endswith('mmdet/.mim/configs/mask_rcnn/'
                                                 'mask-rcnn_r50_fpn_1x_coco.py')
    with pytest.raises(FileNotFoundError, match='mmdet::nope/x.py'):
        resolve_config('mmdet::nope/x.py')


def test_tool_exits_2_on_a_bad_config(capsys):
    main = runpy.run_path(str(ROOT / 'tools' / 'benchmark_train_step.py'))['main']
    assert main(['--dicm-config', 'missing.py']) == 2
    assert capsys.readouterr().err.strip() == 'error: config file not found: missing.py'
