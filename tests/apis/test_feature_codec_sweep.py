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
