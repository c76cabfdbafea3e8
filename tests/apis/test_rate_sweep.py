"""The rate sweep (``mmdicm.apis.rate_sweep``) and its parts: the pixel-codec transform and
metric inside a stock test loop, the config surgery, checkpoint merging, and a whole tiny
sweep that writes its files, resumes from its cache and refuses another sweep's folder."""
import copy
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from skimage import data as skdata

from mmdicm.apis import rate_sweep as rs
from mmdicm.apis.rate_sweep import runs
from mmdicm.baselines import get_pixel_codec
from mmdicm.datasets.transforms import PixelCodecRoundtrip
from mmdicm.evaluation import PixelCodecBppMetric

from dicm_tiny import TINY_CODEC, make_data

CLS = rs.SWEEP_TASKS['classification']
DET = rs.SWEEP_TASKS['detection']


# ----------------------------------------------------------------------- transform and metric
def test_roundtrip_transform_codes_the_rgb_image_and_counts_its_bytes():
    rgb = np.ascontiguousarray(skdata.astronaut()[100:164, 180:244])
    results = dict(img=np.ascontiguousarray(rgb[..., ::-1]), img_shape=(64, 64))  # BGR
    out = PixelCodecRoundtrip(codec='jpeg', quality=30).transform(dict(results))
    codec = get_pixel_codec('jpeg')
    expected, num_bytes = codec.roundtrip(rgb, 30)
    assert out['codec_bits'] == 8 * num_bytes == 8 * len(codec.encode(rgb, 30))
    payload = codec.payload_bytes(codec.encode(rgb, 30))
    assert out['codec_payload_bits'] == 8 * payload and 0 < payload < num_bytes
    np.testing.assert_array_equal(out['img'], expected[..., ::-1])  # back to BGR
    assert out['img'].dtype == np.uint8 and out['img'].shape == (64, 64, 3)
    assert not np.array_equal(out['img'], results['img'])  # lossy at q30: it did code
    low = PixelCodecRoundtrip(codec='jpeg', quality=5).transform(dict(results))
    assert low['codec_bits'] < out['codec_bits']


def test_roundtrip_transform_bad_arguments_fail_at_construction_or_clearly():
    with pytest.raises(ValueError, match='unknown pixel codec'):
        PixelCodecRoundtrip(codec='bpg', quality=30)
    with pytest.raises(ValueError, match=r'quality must be in \[1, 100\]'):
        PixelCodecRoundtrip(codec='jpeg', quality=0)
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8 BGR image'):
        PixelCodecRoundtrip(codec='jpeg', quality=30).transform(
            dict(img=np.zeros((8, 8), np.float32)))


def test_bpp_metric_counts_bits_over_input_pixels_and_names_what_is_missing():
    metric = PixelCodecBppMetric()
    metric.process({}, [dict(codec_bits=800, img_shape=(10, 20)),
                        dict(codec_bits=400, img_shape=(10, 10))])
    out = metric.compute_metrics(metric.results)
    assert out == dict(bpp=1200 / 300, bytes_per_image=75.0, num_images=2)  # no payload
    metric = PixelCodecBppMetric()
    metric.process({}, [dict(codec_bits=800, codec_payload_bits=500, img_shape=(10, 20)),
                        dict(codec_bits=400, codec_payload_bits=100, img_shape=(10, 10))])
    out = metric.compute_metrics(metric.results)
    assert out['payload_bpp'] == 600 / 300 and out['bpp'] == 1200 / 300
    with pytest.raises(RuntimeError, match='PixelCodecRoundtrip'):
        metric.process({}, [dict(img_shape=(4, 4))])


# ----------------------------------------------------------------------- config surgery
@pytest.mark.parametrize('spec', [CLS, DET], ids=['classification', 'detection'])
def test_with_pixel_codec_inserts_the_codec_before_pack_and_swaps_the_bpp_metric(spec):
    cfg = Config.fromfile(spec.dicm_config)
    before = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    out = rs.with_pixel_codec(cfg, 'hevc', 37)
    pipeline = out.test_dataloader.dataset.pipeline
    assert [t['type'] for t in pipeline[:-2]] == [t['type'] for t in before[:-1]]
    assert pipeline[-2] == dict(type='PixelCodecRoundtrip', codec='hevc', quality=37)
    assert pipeline[-1]['type'] == before[-1]['type']
    keys = pipeline[-1]['meta_keys']
    assert 'codec_bits' in keys and 'codec_payload_bits' in keys and 'img_shape' in keys
    types = [m['type'] for m in out.test_evaluator]
    assert types[-1] == 'PixelCodecBppMetric' and 'DICMBppMetric' not in types
    assert cfg.test_dataloader.dataset.pipeline == before  # the input config is untouched
    with pytest.raises(ValueError, match='QP must be in'):
        rs.with_pixel_codec(cfg, 'hevc', 70)


def test_with_pixel_codec_keeps_the_pack_transforms_default_meta_keys():
    from mmpretrain.datasets.transforms import PackInputs
    cfg = Config.fromfile(CLS.task_config)
    out = rs.with_pixel_codec(cfg, 'jpeg', 50)
    assert tuple(out.test_dataloader.dataset.pipeline[-1]['meta_keys']) == \
        tuple(PackInputs.DEFAULT_META_KEYS) + ('codec_bits', 'codec_payload_bits')


# ----------------------------------------------------------------------- checkpoints
def _save(path, state_dict):
    torch.save(dict(state_dict=state_dict, meta=dict(epoch=1)), path)
    return str(path)


def test_merge_takes_the_codec_from_the_codec_run_and_the_rest_from_the_task(tmp_path):
    task = {'backbone.conv1.weight': torch.ones(2), 'head.fc.weight': torch.full((2, ), 3.)}
    codec = {'backbone.conv1.weight': torch.ones(2), 'backbone.codec.net.w': torch.zeros(3),
             'neck.mlp.weight': torch.ones(1)}
    out = rs.merge_codec_checkpoint(_save(tmp_path / 't.pth', task),
                                    _save(tmp_path / 'c.pth', codec), str(tmp_path / 'm.pth'))
    merged = torch.load(out, weights_only=True)['state_dict']
    assert sorted(merged) == ['backbone.codec.net.w', 'backbone.conv1.weight', 'head.fc.weight']
    assert torch.equal(merged['head.fc.weight'], task['head.fc.weight'])


def test_merge_refuses_a_codec_trained_under_another_backbone(tmp_path):
    task = {'backbone.conv1.weight': torch.ones(2)}
    other = {'backbone.conv1.weight': torch.zeros(2), 'backbone.codec.w': torch.zeros(1)}
    with pytest.raises(rs.SweepError, match='not trained under the task model'):
        rs.merge_codec_checkpoint(_save(tmp_path / 't.pth', task),
                                  _save(tmp_path / 'c.pth', other), str(tmp_path / 'm.pth'))
    with pytest.raises(rs.SweepError, match='not a codec run'):
        rs.merge_codec_checkpoint(_save(tmp_path / 't.pth', task),
                                  _save(tmp_path / 'c2.pth', task), str(tmp_path / 'm.pth'))


def test_a_checkpoint_that_misses_weights_of_the_tested_model_is_refused(tmp_path):
    class Runner:
        model = torch.nn.Module()
    Runner.model.backbone = torch.nn.Linear(2, 2)
    ok = _save(tmp_path / 'ok.pth', dict(Runner.model.state_dict()))
    runs.check_covered(Runner, ok)
    partial = _save(tmp_path / 'partial.pth', {'backbone.weight': torch.zeros(2, 2)})
    with pytest.raises(rs.SweepError, match=r"lacks 1 weights.*backbone.bias"):
        runs.check_covered(Runner, partial)
    # a codec checkpoint from before shape_free_options: its load hook fills the buffer in
    Runner.model.backbone.register_buffer('shape_free_options', torch.tensor([4]))
    runs.check_covered(Runner, ok)


# ----------------------------------------------------------------------- argument checks
@pytest.mark.parametrize('kwargs, match', [
    (dict(task='segmentation'), 'unknown task'),
    (dict(lambdas=[1.0, -2.0]), 'finite number > 0'),
    (dict(lambdas=[1.0, 1.0]), 'distinct'),
    (dict(codecs=['jpeg', 'bpg']), 'unknown codecs'),
    (dict(codecs=['jpeg'], qualities={'webp': [10]}), 'not swept'),
    (dict(codecs=['jpeg'], qualities={'jpeg': [0]}), r'quality must be in'),
    (dict(task_iters=0), 'task_iters must be'),
    (dict(warm_start_epochs=0), 'warm_start_epochs must be'),
    (dict(cfg_options={'model': {}}), r"cfg_options keys must be some of \['task', 'codec'"),
    (dict(learned_codecs=['jpeg']), 'cannot be trained by the sweep'),
    (dict(task_stage_iters=-1), r'task_stage_iters must be an int >= 0 \(0: no task stage'),
    (dict(task='detection-coco-like', task_stage_iters=0),
     'a second task needs the main task.s task stage.*--no-second-task'),
])
def test_bad_sweep_arguments_fail_before_any_work(kwargs, match, tmp_path):
    with pytest.raises(rs.SweepError, match=match):
        rs.run_rate_sweep(work_dir=str(tmp_path / 'w'), data_root=str(tmp_path / 'd'),
                          **kwargs)
    assert not (tmp_path / 'd').exists()  # nothing generated, nothing trained


# ----------------------------------------------------------------------- a whole tiny sweep
def _tiny_options(image_size: int = 32):
    def loaders(*splits):
        return {f'{s}_dataloader.{k}': v for s in splits
                for k, v in (('batch_size', 4), ('num_workers', 0),
                             ('persistent_workers', False))}
    sizes = {'test_dataloader.dataset.pipeline.1.scale': image_size,
             'test_dataloader.dataset.pipeline.2.crop_size': image_size}
    task = dict(loaders('train', 'test'), **sizes,
                **{'train_dataloader.dataset.pipeline.1.scale': image_size,
                   'default_hooks.logger.interval': 1})
    tiny = dict(re=None, net=TINY_CODEC['net'])  # the sweep's codec has no RE
    codec = dict(loaders('train'), **{'model.backbone.codec': tiny,
                             'train_dataloader.dataset.pipeline.1.transforms.0.0.scale':
                             image_size, 'default_hooks.logger.interval': 1})
    dicm = dict(loaders('train', 'test'), **sizes, **{'model.backbone.codec': tiny})
    return dict(task=task, codec=codec, dicm=dicm)


def test_tiny_sweep_writes_curves_bd_and_plot_and_resumes_from_its_cache(tmp_path, one_thread,
                                                                         monkeypatch):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    work = str(tmp_path / 'sweep')
    kwargs = dict(task='classification', work_dir=work, data_root=data_root,
                  lambdas=(0.5, 8.0), codecs=['jpeg'], qualities={'jpeg': [5, 20, 50, 90]},
                  task_iters=2, codec_epochs=1, num_train=4, num_val=2, image_size=64,
                  cfg_options=_tiny_options())
    logs = []
    result = rs.run_rate_sweep(log=logs.append, **kwargs)

    names = [c.name for c in result.curves]
    assert names == ['jpeg', 'dicm']
    jpeg, dicm = result.curves
    assert list(jpeg.rates) == sorted(jpeg.rates)  # more bits at higher quality
    assert len(dicm.rates) == 2 and all(r > 0 for r in dicm.rates)
    # the DICM rate is real container bytes: the merged checkpoint codes what was measured
    point = result.points['dicm@lambda0.5']
    assert osp.isfile(point['checkpoint']) and point['metrics']['dicm/num_images'] > 0
    assert 0 <= result.reference <= 100
    # BD needs 4 points per curve: DICM has 2, so the row records why instead of a number
    assert len(result.table) == 1 and result.table[0]['bd_rate_pct'] is None
    assert 'at least 4 points' in result.table[0]['error']
    for key in ('csv', 'json', 'png', 'md'):
        assert osp.getsize(result.files[key]) > 0
    doc = json.load(open(result.files['json']))
    assert doc['reference']['name'] == 'uncompressed'
    assert [c['name'] for c in doc['curves']] == ['jpeg', 'dicm']
    md = open(result.files['md']).read()
    assert '| jpeg | quality 5 |' in md and 'λ=8' in md and 'rates: bpp (whole files)' in md
    # every point also has the bits of its entropy-coded payload alone
    for name, p in result.points.items():
        if name != 'uncompressed':
            assert 0 < p['payload_bpp'] < p['bpp'], name

    # the same call again: every point comes from sweep.json, nothing is trained or tested
    before = sorted(os.listdir(work))
    logs2 = []
    again = rs.run_rate_sweep(log=logs2.append, **kwargs)
    assert again.points == result.points
    assert not any('training' in line for line in logs2), logs2
    assert sorted(os.listdir(work)) == before
    # other settings in the same folder: refused, the cached points survive
    with pytest.raises(rs.SweepError, match='other settings.*task_iters'):
        rs.run_rate_sweep(log=logs2.append, **dict(kwargs, task_iters=3))
    assert json.load(open(osp.join(work, 'sweep.json')))['points'] == result.points

    # a warm start changes only the DICM points: one codec trained at the smallest λ, every
    # λ's codec starts from it; the task model and the baselines come from the cache
    loads = []
    train = runs.train

    def recording_train(cfg):
        loads.append((cfg.work_dir, cfg.load_from))
        return train(cfg)

    monkeypatch.setattr(runs, 'train', recording_train)
    logs3 = []
    warm = rs.run_rate_sweep(log=logs3.append, **dict(kwargs, warm_start_epochs=1))
    assert [osp.relpath(w, work) for w, _ in loads] == [
        'warm_start', osp.join('lambda0.5', 'codec'), osp.join('lambda8', 'codec')]
    task_ckpt = result.points['uncompressed']['checkpoint']
    assert loads[0][1] == task_ckpt
    warm_ckpt = json.load(open(osp.join(work, 'sweep.json')))['warm_start']['checkpoint']
    assert osp.dirname(warm_ckpt) == osp.join(work, 'warm_start')
    assert [lf for _, lf in loads[1:]] == [warm_ckpt, warm_ckpt]
    assert any('λ=0.5 for 1 epochs' in line for line in logs3), logs3
    for name in result.points:
        if not name.startswith('dicm@'):
            assert warm.points[name] == result.points[name], name
    assert warm.points['dicm@lambda8']['config_digest'] != \
        result.points['dicm@lambda8']['config_digest']
    # and again: the warm start and every point from the cache
    loads.clear()
    rs.run_rate_sweep(log=logs3.append, **dict(kwargs, warm_start_epochs=1))
    assert loads == []

    # curves over payload bpp: from the cache, into work/payload/
    tests = []
    test = runs.test
    monkeypatch.setattr(runs, 'test', lambda cfg, *a, **k: tests.append(cfg.work_dir) or
                        test(cfg, *a, **k))
    kwargs = dict(kwargs, warm_start_epochs=1)
    pay = rs.run_rate_sweep(log=logs3.append, rate='payload', **kwargs)
    assert loads == [] and tests == [] and pay.rate == 'payload'
    assert osp.dirname(pay.files['csv']) == osp.join(work, 'payload')
    assert list(pay.curves[0].rates) == [pay.points[f'jpeg@{q}']['payload_bpp']
                                         for q in (5, 20, 50, 90)]
    assert 'payload bpp (entropy-coded bytes only)' in open(pay.files['md']).read()
    with pytest.raises(rs.SweepError, match='rate must be one of'):
        rs.run_rate_sweep(rate='bytes', **kwargs)

    # a cache from before payload bytes were recorded: every point is tested again, DICM's
    # from its checkpoint (no training), and gets the same bpp and metric
    state = json.load(open(osp.join(work, 'sweep.json')))
    for name, p in state['points'].items():
        p.pop('payload_bpp', None)
    json.dump(state, open(osp.join(work, 'sweep.json'), 'w'))
    logs4 = []
    old = rs.run_rate_sweep(log=logs4.append, **kwargs)
    assert loads == [] and len(tests) == 4 + 2
    assert any('before payload bytes were recorded' in line for line in logs4), logs4
    for name, p in old.points.items():
        if name != 'uncompressed':
            assert p['payload_bpp'] == pay.points[name]['payload_bpp'], name
            assert (p['bpp'], p['metric']) == (pay.points[name]['bpp'],
                                               pay.points[name]['metric']), name

    # another codec against the same task model (e.g. --codec-preset s): --reuse-from takes
    # the task model and the baseline points, only the DICM codec trains
    other = dict(re=None, net={**TINY_CODEC['net'], 'mlp_ratios': (0.5, 2.0, 2.0)})
    options = _tiny_options()
    for key in ('codec', 'dicm'):
        options[key] = dict(options[key], **{'model.backbone.codec': other})
    work2 = str(tmp_path / 'sweep-other-codec')
    kwargs2 = dict(kwargs, work_dir=work2, cfg_options=options, lambdas=(8.0, ),
                   warm_start_epochs=None)
    loads.clear()
    logs5 = []
    reused = rs.run_rate_sweep(log=logs5.append, reuse_from=work, **kwargs2)
    assert loads == [(osp.join(work2, 'lambda8', 'codec'), task_ckpt)]
    assert any(f'reusing the task model of {work}' in line for line in logs5), logs5
    for name in ('uncompressed', 'jpeg@5', 'jpeg@90'):
        assert reused.points[name] == old.points[name], name
    assert reused.points['dicm@lambda8']['config_digest'] != \
        old.points['dicm@lambda8']['config_digest']
    # a task model made otherwise is refused, with what differs
    with pytest.raises(rs.SweepError, match=r'its task model was made with other settings '
                                            r'\(task_config_digest, task_iters differ\)'):
        rs.run_rate_sweep(reuse_from=work, **dict(kwargs2, work_dir=str(tmp_path / 'w3'),
                                                  task_iters=3))
    with pytest.raises(rs.SweepError, match='no sweep.json there'):
        rs.run_rate_sweep(reuse_from=str(tmp_path), **dict(kwargs2, work_dir=str(tmp_path / 'w4')))


def test_the_tool_says_what_is_wrong_in_one_line(tmp_path, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'rate_sweep_tool', osp.join(osp.dirname(osp.dirname(osp.dirname(
            osp.abspath(__file__)))), 'tools', 'rate_sweep.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    code = tool.main(['--lambdas', '1', '-2', '--work-dir', str(tmp_path / 'w'),
                      '--data-root', str(tmp_path / 'd')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ['error: every λ must be a finite number > 0, got -2.0']
    with pytest.raises(SystemExit):
        tool.main(['--quality', 'jpeg=a,b'])


@HOOKS.register_module(force=True)
class _StopAfterTwoIters(Hook):
    """Stops a run once iteration 2's checkpoint is written, while ``STOP`` holds True (a
    session that ended mid-training)."""
    priority = 'LOWEST'  # after the CheckpointHook
    STOP = [True]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.STOP[0] and runner.iter + 1 == 2:
            raise KeyboardInterrupt('session over')


def _stoppable_run(tmp_path, monkeypatch):
    """A tiny 4-iteration classifier config (no validation) stopped after iteration 2 while
    ``_StopAfterTwoIters.STOP`` holds, and the list every runner config built goes into."""
    from mmdicm.apis import launch
    from mmdicm.apis.rate_sweep.plan import make_plan
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    plan = make_plan(rs.SWEEP_TASKS['classification'], str(tmp_path / 'w'), data_root, (1.0, ),
                     ['jpeg'], None, 4, None, None, None, 0, _tiny_options(),
                     dict(num_train=4, num_val=2, image_size=64, preset='default'))
    cfg = copy.deepcopy(plan.task_cfg)
    rs.configs.no_val(cfg)
    cfg.custom_hooks = [dict(type='_StopAfterTwoIters')]
    built = []
    build = launch.build_runner
    monkeypatch.setattr(runs, 'build_runner', lambda c: built.append(c) or build(c))
    return cfg, built


def test_an_interrupted_training_resumes_where_it_stopped(tmp_path, one_thread, monkeypatch):
    """runs.train of the same config and start again after an interruption resumes from the
    last checkpoint (iteration 2 of 4), not from scratch; another config starts over."""
    cfg, built = _stoppable_run(tmp_path, monkeypatch)
    cfg.default_hooks.checkpoint.interval = 1
    _StopAfterTwoIters.STOP[0] = True
    with pytest.raises(KeyboardInterrupt):
        runs.train(copy.deepcopy(cfg))
    assert osp.basename(runs.last_checkpoint(cfg.work_dir)) == 'iter_2.pth'
    _StopAfterTwoIters.STOP[0] = False
    assert osp.basename(runs.train(copy.deepcopy(cfg))) == 'iter_4.pth'
    assert built[-1].resume and osp.basename(built[-1].load_from) == 'iter_2.pth'
    # another config in the same work dir: a fresh run
    other = copy.deepcopy(cfg)
    other.optim_wrapper.optimizer.lr *= 0.5
    runs.train(other)
    assert not built[-1].get('resume') and built[-1].get('load_from') is None


def test_a_run_that_checkpoints_at_its_end_alone_resumes_from_an_interim_one(
        tmp_path, one_thread, monkeypatch):
    """A config that checkpoints at its end alone (the task stages) still leaves a checkpoint
    every RESUME_EVERY iterations, one file kept, and resumes from it under the same identity;
    a config with its own interval, or an epoch-based one, is left as it is."""
    cfg, built = _stoppable_run(tmp_path, monkeypatch)
    assert cfg.train_cfg.max_iters == 4
    cfg.default_hooks.checkpoint.update(interval=4, by_epoch=False)
    cfg.default_hooks.checkpoint.pop('max_keep_ckpts', None)
    monkeypatch.setattr(runs, 'RESUME_EVERY', 1)
    _StopAfterTwoIters.STOP[0] = True
    with pytest.raises(KeyboardInterrupt):
        runs.train(copy.deepcopy(cfg))
    assert built[-1].default_hooks.checkpoint.interval == 1
    assert sorted(f for f in os.listdir(cfg.work_dir) if f.endswith('.pth')) == ['iter_2.pth']
    _StopAfterTwoIters.STOP[0] = False
    assert osp.basename(runs.train(copy.deepcopy(cfg))) == 'iter_4.pth'
    assert built[-1].resume and osp.basename(built[-1].load_from) == 'iter_2.pth'
    # its own interval shorter than the run, or epochs: untouched
    for own in (dict(interval=2, by_epoch=False), dict(interval=4, by_epoch=True)):
        other = copy.deepcopy(cfg)
        other.default_hooks.checkpoint.update(own)
        assert runs._resumable(other) is other


def test_the_plan_names_the_codec_preset_so_presets_never_share_cached_points(tmp_path):
    """A codec config that names no preset is prepared with the default one named: the DICM
    points' digest then follows the preset the codec is built with (cached points of the
    old default, built from the same config text, are not taken for the new default's)."""
    from mmdicm.apis.rate_sweep.plan import make_plan
    from mmdicm.codec import DEFAULT_PRESET

    def plan(preset=None):
        options = _tiny_options()
        if preset is not None:
            for key in ('codec', 'dicm'):
                options[key]['model.backbone.codec.preset'] = preset
        return make_plan(rs.SWEEP_TASKS['classification'], str(tmp_path / 'w'),
                         str(tmp_path / 'd'), (1.0, ), ['jpeg'], None, 2, 1, None, None, 0,
                         options, dict(num_train=4, num_val=2, image_size=64))

    default = plan()
    assert 'preset' not in _tiny_options()['codec']['model.backbone.codec']
    for cfg in (default.codec_base, default.dicm_base):
        assert cfg.model.backbone.codec.preset == DEFAULT_PRESET == 'release'
    assert plan('release').dicm_digest == default.dicm_digest  # the same codec
    assert plan('mmdicm-v1').dicm_digest != default.dicm_digest
    assert default.task_cfg.model.backbone.codec is None  # no codec: nothing to name
