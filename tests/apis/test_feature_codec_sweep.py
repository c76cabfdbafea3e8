"""The feature-domain anchor (issue 20) inside a task model's test pass and the rate sweep:
the split's output replaced by its decoded version, each prediction tagged with the bits, bpp
over the same pixels as the pixel codecs'."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner

from mmdicm.apis import rate_sweep as rs
from mmdicm.apis.rate_sweep import runs
from mmdicm.apis.rate_sweep.plan import make_plan
from mmdicm.baselines import FeatureVVCCodec
from mmdicm.engine import FeatureCodecRoundtripHook

from dicm_tiny import make_data
from test_rate_sweep import _tiny_options

CODEC = FeatureVVCCodec()
pytestmark = pytest.mark.skipif(not CODEC.available()[0], reason=CODEC.available()[1])


@pytest.fixture(scope='module')
def tiny_task(tmp_path_factory):
    """The tiny classification sweep's task model, trained 2 iterations."""
    tmp = tmp_path_factory.mktemp('fcm')
    data_root = make_data(str(tmp / 'embedded'), num_train=4, num_val=2, image_size=64)
    plan = make_plan(rs.SWEEP_TASKS['classification'], str(tmp / 'w'), data_root, (1.0, ),
                     ['fcm-vvc'], {'fcm-vvc': [51, 8]}, 2, 1, None, None, 0,
                     _tiny_options(), dict(num_train=4, num_val=2, image_size=64,
                                           preset='default'))
    cfg = copy.deepcopy(plan.task_cfg)
    rs.configs.no_val(cfg)
    return plan, runs.train(cfg)


def test_the_hook_replaces_the_split_features_and_tags_each_prediction(tiny_task):
    plan, checkpoint = tiny_task
    cfg = copy.deepcopy(plan.task_cfg)
    cfg.load_from = checkpoint
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(torch.load(checkpoint, weights_only=False)['state_dict'])
    batch = next(iter(Runner.build_dataloader(cfg.test_dataloader)))
    with torch.no_grad():
        plain = model.test_step(copy.deepcopy(batch))

    class FakeRunner:
        pass
    runner = FakeRunner()
    runner.model = model
    scores = {}
    for qp in (0, 63):
        hook = FeatureCodecRoundtripHook(quality=qp)
        hook.before_test(runner)
        with torch.no_grad():
            out = model.test_step(copy.deepcopy(batch))
        hook.after_test(runner)
        assert len(out) == len(plain)
        for sample in out:
            bits, payload = sample.metainfo['codec_bits'], sample.metainfo['codec_payload_bits']
            assert bits - payload == 8 * (12 + 8)  # header + one range pair, counted
        scores[qp] = torch.stack([s.pred_score for s in out])
    ref = torch.stack([s.pred_score for s in plain])
    assert (scores[0] - ref).abs().max() < (scores[63] - ref).abs().max()
    assert not torch.equal(scores[63], ref)
    with torch.no_grad():  # detached: the model is as it was
        assert torch.equal(torch.stack([s.pred_score for s in model.test_step(
            copy.deepcopy(batch))]), ref)
    with pytest.raises(ValueError, match="no module 'backbone.layer9'"):
        FeatureCodecRoundtripHook(quality=30, module='backbone.layer9').before_test(runner)


def test_the_sweep_measures_a_feature_codec_point_like_a_pixel_codec_s(tiny_task):
    """with_feature_codec + the sweep's test run: bpp and payload bpp over the input pixels;
    a model with a codec of its own is refused."""
    plan, checkpoint = tiny_task
    bpp = {}
    for qp in (51, 8):
        cfg = rs.with_feature_codec(plan.task_cfg, 'fcm-vvc', qp)
        cfg.work_dir = osp.join(plan.work_dir, f'fcm_{qp}')
        cfg.load_from = checkpoint
        metrics = runs.test(cfg, None)
        assert 0 < metrics['codec/payload_bpp'] < metrics['codec/bpp']
        bpp[qp] = metrics['codec/bpp']
    assert bpp[8] > bpp[51]
    with pytest.raises(rs.SweepError, match='has a codec of its own'):
        rs.with_feature_codec(plan.dicm_base, 'fcm-vvc', 30)
    assert rs.tasks.check_codecs(['fcm-vvc'], None) == [('fcm-vvc', (55, 51, 47, 42, 37, 32))]


def test_the_fpn_option_codes_every_pyramid_level_and_adds_their_bytes():
    """'fcm-vvc-fpn' (issue 20's FPN option): the hook codes the neck's output, one file per
    level and image (each with its header and range pair), the valid region only; the
    levels the heads read are the decoded ones, closer to the plain ones at a lower QP."""
    from mmdicm.benchmarks.detection import STOCK_DETECTOR_CONFIG, build_detector
    from mmdicm.benchmarks.detection import detection_sample

    heads = dict(neck=dict(in_channels=[64, 128, 256, 512], out_channels=16),
                 rpn_head=dict(in_channels=16, feat_channels=16),
                 roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                               bbox_head=dict(in_channels=16, fc_out_channels=32),
                               mask_roi_extractor=dict(out_channels=16),
                               mask_head=dict(in_channels=16, conv_out_channels=16)))
    model = build_detector(STOCK_DETECTOR_CONFIG, dict(backbone=dict(depth=18), **heads))
    torch.manual_seed(0)
    sizes = [(64, 96), (48, 64)]  # padded to 64 x 96 in the batch
    batch = dict(inputs=[torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for h, w in sizes],
                 data_samples=[detection_sample(s) for s in sizes])
    seen = []
    probe = model.neck.register_forward_hook(lambda m, a, out: seen.append(out))

    class FakeRunner:
        pass
    runner = FakeRunner()
    runner.model = model
    levels = {}
    try:
        with torch.no_grad():
            model.test_step(copy.deepcopy(batch))
        plain = seen.pop()
        for qp in (22, 63):  # (libvvenc refuses the huge AUs of random maps at QP ~0)
            hook = FeatureCodecRoundtripHook(quality=qp, codec='fcm-vvc-fpn')
            assert hook.module == 'neck'
            hook.before_test(runner)
            probe.remove()  # after the hook's: it sees the decoded levels
            probe = model.neck.register_forward_hook(lambda m, a, out: seen.append(out))
            with torch.no_grad():
                out = model.test_step(copy.deepcopy(batch))
            hook.after_test(runner)
            levels[qp] = seen.pop()
            for sample in out:  # 5 files per image: 5 headers and range pairs counted
                side = sample.metainfo['codec_bits'] - sample.metainfo['codec_payload_bits']
                assert side == 5 * 8 * (12 + 8)
    finally:
        probe.remove()
    assert isinstance(levels[22], tuple) and len(levels[22]) == len(plain) == 5
    for k, ref in enumerate(plain):
        err22 = (levels[22][k] - ref).abs().max()
        err63 = (levels[63][k] - ref).abs().max()
        assert err22 < err63, k
        # image 1 (48 x 64) covers the top-left 3/4 x 2/3 of the batch: the rest (padding)
        # is passed through as it was
        h, w = ref.shape[-2:]
        vh, vw = -(-48 * h // 64), -(-64 * w // 96)
        assert torch.equal(levels[63][k][1, :, vh:], ref[1, :, vh:])
        assert torch.equal(levels[63][k][1, :, :, vw:], ref[1, :, :, vw:])
    assert rs.tasks.check_codecs(['fcm-vvc-fpn'], None) == [
        ('fcm-vvc-fpn', (55, 51, 47, 42, 37, 32))]


def test_the_reduced_anchor_fits_its_basis_on_training_images_once(tiny_task, monkeypatch):
    """fcm-vvc-pca in the sweep: the channel basis is fitted on the task model's split
    features of training images (the train split's annotation file, not the test one's),
    cached against the task checkpoint; its points count the 10-byte basis header too."""
    from mmdicm.apis.rate_sweep import phases
    from mmdicm.baselines import ChannelPCA
    plan, checkpoint = tiny_task
    sweep = phases.Sweep(plan, log=lambda msg: None)
    seen = []
    real_test = runs.test

    def spy(cfg, val_images, *args, **kwargs):
        seen.append((cfg.test_dataloader.dataset.ann_file, val_images))
        return real_test(cfg, val_images, *args, **kwargs)
    monkeypatch.setattr(runs, 'test', spy)
    kwargs = phases.feature_basis(sweep, checkpoint, 'fcm-vvc-pca')
    train_ann = plan.task_cfg.train_dataloader.dataset.ann_file
    assert seen == [(train_ann, phases.BASIS_IMAGES)] and train_ann != \
        plan.task_cfg.test_dataloader.dataset.ann_file
    basis = ChannelPCA.load(kwargs['basis'])
    assert (basis.k, basis.channels) == (16, 64) and 0 < basis.explained <= 1
    record = sweep.state['feature_bases']['fcm-vvc-pca']
    assert record['task_checkpoint'] == checkpoint and record['components'] == 16
    assert phases.feature_basis(sweep, checkpoint, 'fcm-vvc-pca') == kwargs and len(seen) == 1
    cfg = rs.with_feature_codec(plan.task_cfg, 'fcm-vvc-pca', 32, kwargs)
    cfg.work_dir = osp.join(plan.work_dir, 'pca_32')
    cfg.load_from = checkpoint
    metrics = real_test(cfg, None)
    assert 0 < metrics['codec/payload_bpp'] < metrics['codec/bpp']
    # over the 32 x 32 test inputs of _tiny_options
    side_bits = (metrics['codec/bpp'] - metrics['codec/payload_bpp']) * 32 * 32
    assert side_bits == pytest.approx(8 * (10 + 12 + 8), rel=0.02)
    with pytest.raises(ValueError, match='no channel basis'):
        FeatureCodecRoundtripHook(quality=30, codec='fcm-vvc-pca').before_test(None)
