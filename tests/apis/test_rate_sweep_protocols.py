"""The rate sweep's COCO-like task and its protocols: the dataset presets, the task model's
learning curve and plateau, the paper's task stage per λ (the edge and its bits stay, the
receiver trains) and the learned pixel codec trained on DICM's codec budget."""
import glob
import json
import math
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData

from mmdicm.apis import rate_sweep as rs
from mmdicm.apis.rate_sweep import phases, runs
from mmdicm.apis.rate_sweep.tasks import CONFIG_ROOT, dataset_settings
from mmdicm.baselines.learned import load_learned_codec

from dicm_tiny import TINY_CODEC, make_data
from test_rate_sweep import CLS, DET, _tiny_options

COCO = rs.SWEEP_TASKS['detection-coco-like']


# ----------------------------------------------------------------------- dataset presets
def test_dataset_settings_fill_the_presets_defaults_and_keep_old_caches_valid():
    # the default preset records exactly what sweeps recorded before presets existed
    assert dataset_settings('default', num_train=None, num_val=None, image_size=None) == \
        dict(num_train=400, num_val=100, image_size=256)
    assert dataset_settings('coco-like', num_train=None, num_val=50, image_size=None) == \
        dict(num_train=1000, num_val=50, image_size=256, preset='coco-like')
    with pytest.raises(rs.SweepError, match="unknown dataset preset 'coco'"):
        dataset_settings('coco', num_train=None)


# ----------------------------------------------------------------------- learning curve
def _scalars(tmp_path, rows, run='20260101_000000'):
    path = tmp_path / run / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')


def test_the_learning_curve_is_read_from_the_newest_run_and_its_plateau_judged(tmp_path):
    _scalars(tmp_path, [{'coco/bbox_mAP': 0.5, 'step': 100}], run='20250101_000000')
    _scalars(tmp_path, [{'loss': 2.0, 'step': 10}, {'coco/bbox_mAP': 0.10, 'step': 300},
                        {'loss': 1.0, 'step': 310}, {'coco/bbox_mAP': 0.20, 'step': 600},
                        {'coco/bbox_mAP': 0.30, 'step': 900},
                        {'coco/bbox_mAP': 0.31, 'step': 1200}])
    curve = rs.read_learning_curve(str(tmp_path), 'coco/bbox_mAP')
    assert curve == [(300, 0.1), (600, 0.2), (900, 0.3), (1200, 0.31)]
    flat = rs.plateau(curve, max_iters=1200)  # last quarter: 900 -> 1200
    assert (flat['from_iter'], flat['to_iter']) == (900, 1200)
    assert flat['gain'] == pytest.approx(0.01 / 0.30) and flat['reached']
    rising = rs.plateau(curve[:3], max_iters=900)  # 3/4 of 900 = 675: from 600 -> 900
    assert rising['from_iter'] == 600 and rising['gain'] == pytest.approx(0.5)
    assert not rising['reached']
    assert not rs.plateau([(3, 0.0), (6, 0.0)], 6)['reached']  # nothing learnt: no plateau
    with pytest.raises(rs.SweepError, match="no 'accuracy/top1'"):
        rs.read_learning_curve(str(tmp_path), 'accuracy/top1')
    # a schedule trained over two sessions: the run stopped after its checkpoint at 900
    # (logging on to 950), resumed from it in a new folder that logs from 950 on
    _scalars(tmp_path, [{'loss': 1.0, 'step': 950}, {'loss': 0.9, 'step': 1000},
                        {'coco/bbox_mAP': 0.33, 'step': 1200}], run='20270101_000000')
    assert rs.read_learning_curve(str(tmp_path), 'coco/bbox_mAP') == [
        (300, 0.1), (600, 0.2), (900, 0.3), (1200, 0.33)]
    # ... but not a run that stopped long before where the newer one starts
    _scalars(tmp_path, [{'loss': 1.0, 'step': 1550}, {'loss': 0.9, 'step': 1600},
                        {'coco/bbox_mAP': 0.4, 'step': 1800}], run='20280101_000000')
    assert rs.read_learning_curve(str(tmp_path), 'coco/bbox_mAP') == [(1800, 0.4)]
    with pytest.raises(rs.SweepError, match='no scalars.json'):
        rs.read_learning_curve(str(tmp_path / 'nothing'), 'coco/bbox_mAP')


# ----------------------------------------------------------------------- COCO-like configs
def test_the_coco_like_task_reads_the_split_and_its_task_stage_freezes_the_edge():
    task, dicm = Config.fromfile(COCO.task_config), Config.fromfile(COCO.dicm_config)
    stage, codec = Config.fromfile(COCO.task_stage_config), Config.fromfile(COCO.codec_config)
    classes = task.train_dataloader.dataset.metainfo['classes']
    from mmdicm.datasets.embedded import COCO_LIKE_CATEGORIES
    assert tuple(classes) == COCO_LIKE_CATEGORIES
    assert task.model.roi_head.bbox_head.num_classes == len(COCO_LIKE_CATEGORIES)
    for cfg in (task, dicm, stage, codec):
        assert cfg.train_dataloader.dataset.data_root == 'data/embedded-coco-like/'
    assert task.model.backbone.codec is None and task.custom_hooks == []
    assert task.train_cfg.val_interval < task.train_cfg.max_iters  # a learning curve
    assert task.default_hooks.logger.log_metric_by_epoch is False  # ... by iteration
    assert [m['type'] for m in dicm.test_evaluator] == ['CocoMetric', 'DICMBppMetric']
    assert 'edge' in stage.model.backbone.frozen_parts and stage.model.backbone.codec.re is None
    assert COCO.preset == 'coco-like' and COCO.learned_codecs == ('mbt2018-mean', )


def _det_batch(size=64):
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(0)
    samples, inputs = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8))
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4., 6., 40., 44.]]),
                                      labels=torch.tensor([3]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_a_task_stage_step_keeps_every_bit_deciding_weight_and_trains_the_receiver(one_thread):
    cfg = Config.fromfile(COCO.task_stage_config)
    cfg.model.backbone.codec = dict(re=None, net=TINY_CODEC['net'])
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    backbone = model.backbone
    edge = {id(p) for m in backbone.part_modules('edge') for p in m.parameters()}
    backbone.codec.update(force=True)  # the entropy tables the fingerprint covers
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fingerprint = backbone.edge_fingerprint()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train_step(_det_batch(), optim)

    after = model.state_dict()
    names = {id(p): n for n, p in model.named_parameters()}
    edge_keys = {'backbone.' + n for m in backbone.part_modules('edge')
                 for n, _ in m.named_parameters()} | {names[i] for i in edge}
    edge_keys |= {f'backbone.{prefix}.{n}' for prefix, m in backbone.named_modules()
                  if any(m is e for e in backbone.part_modules('edge'))
                  for n, _ in m.named_buffers()}
    edge_keys &= set(after)
    assert len(edge_keys) > 50  # stem, layer1, g_a, h_a, h_s, entropy models, their buffers
    changed = [k for k in edge_keys if not torch.equal(before[k], after[k])]
    backbone.codec.update(force=True)  # what EntropyUpdateHook does before a checkpoint
    assert changed == [] and backbone.edge_fingerprint() == fingerprint
    # the receiver learns: g_s, the tail, the neck and the heads all moved
    for prefix in ('backbone.codec.net.g_s.', 'backbone.layer2.', 'backbone.layer4.', 'neck.',
                   'rpn_head.', 'roi_head.'):
        keys = [k for k, p in model.named_parameters() if k.startswith(prefix)]
        assert keys and any(not torch.equal(before[k], after[k]) for k in keys), prefix


# ----------------------------------------------------------------------- a tiny sweep of both
def test_tiny_sweep_with_a_task_stage_and_a_learned_codec(tmp_path, one_thread, monkeypatch):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    stage_cfg = tmp_path / 'task_stage.py'
    stage_cfg.write_text(
        f"_base_ = '{osp.abspath(CLS.dicm_config)}'\n"
        "model = dict(backbone=dict(codec=dict(re=None), frozen_parts=('edge', )))\n"
        "train_cfg = dict(max_iters=2, val_interval=2)\n")
    spec = rs.SweepTask(**dict(vars(CLS), name='cls-protocols',
                               task_stage_config=str(stage_cfg),
                               learned_codecs=('mbt2018-mean', )))
    options = _tiny_options()
    options['task_stage'] = dict(options['dicm'])
    work = str(tmp_path / 'sweep')
    kwargs = dict(task='cls-protocols', tasks={'cls-protocols': spec}, work_dir=work,
                  data_root=data_root, lambdas=(0.5, 8.0), codecs=['jpeg'],
                  qualities={'jpeg': [5, 50]}, task_iters=2, codec_epochs=1,
                  warm_start_epochs=1, num_train=4, num_val=2, image_size=64,
                  learned_lambdas=(0.002, 0.02), cfg_options=options)
    logs = []
    result = rs.run_rate_sweep(log=logs.append, **kwargs)

    assert [c.name for c in result.curves] == ['jpeg', 'mbt2018-mean', 'dicm',
                                               'dicm-task-stage']
    # the task stage trained the receiver from each λ's merged checkpoint: same bits
    for lam in ('lambda0.5', 'lambda8'):
        ts, frozen = result.points[f'dicm-task-stage@{lam}'], result.points[f'dicm@{lam}']
        assert ts['edge'] == frozen['checkpoint'] and ts['checkpoint'] != frozen['checkpoint']
        assert ts['payload_bpp'] == frozen['payload_bpp'] and ts['bpp'] == frozen['bpp']
    # the learned codec: DICM's codec budget (1 epoch of 4 images at batch 4 = 1 step; warm
    # start 1 epoch), one checkpoint per MSE λ, its points counted in real bytes
    settings = result.points['mbt2018-mean@1']['train_settings']
    batch = 4
    assert settings['iters'] == math.ceil(4 / batch) and settings['warm_start_iters'] == 1
    for q, lam in ((1, 0.002), (2, 0.02)):
        meta = load_learned_codec(osp.join(work, 'learned', 'mbt2018-mean', f'q{q}.pth'))[1]
        assert meta['lmbda'] == lam and meta['iters'] == settings['iters']
        assert meta['warm_start'].endswith('warm_start.pth')
        p = result.points[f'mbt2018-mean@{q}']
        assert 0 < p['payload_bpp'] < p['bpp'] and p['lambda_mse'] == lam
    assert {(r['test'], r['anchor']) for r in result.table} == {
        (d, a) for d in ('dicm', 'dicm-task-stage') for a in ('jpeg', 'mbt2018-mean')}
    md = open(result.files['md']).read()
    assert '| dicm-task-stage | λ=8 |' in md and '| mbt2018-mean | q2 (MSE λ=0.02) |' in md

    # --reuse-from takes the warm start and the codecs where the configs are this sweep's
    # (a sweep differing only in its task stage trains only that; an equal one nothing)
    train, trained = runs.train, []
    monkeypatch.setattr(runs, 'train', lambda cfg: trained.append(
        osp.relpath(cfg.work_dir, tmp_path)) or train(cfg))
    for name, iters, want in (('same', None, []),
                              ('ts3', 3, ['ts3/lambda0.5/task_stage', 'ts3/lambda8/task_stage'])):
        trained.clear()
        logs2 = []
        reused = rs.run_rate_sweep(log=logs2.append, reuse_from=work, **dict(
            kwargs, work_dir=str(tmp_path / name), task_stage_iters=iters))
        assert trained == want
        assert any('(made by the same configs) the warm start and the codecs of λ=0.5, 8'
                   + (' (2 with their task stage)' if iters is None else '') in line
                   for line in logs2), logs2
        for point, value in reused.points.items():
            if not point.startswith('dicm-task-stage') or iters is None:
                assert value == result.points[point], point
            else:
                assert value['edge'] == result.points[point]['edge']
                assert value['checkpoint'].startswith(str(tmp_path / name))

    # again: everything from the cache
    trained = []
    monkeypatch.setattr(runs, 'train', lambda cfg: trained.append(cfg.work_dir))
    again = rs.run_rate_sweep(log=logs.append, **kwargs)
    assert trained == [] and again.points == result.points

    # a task stage whose test codes other bits than its edge is refused, loudly
    state = json.load(open(osp.join(work, 'sweep.json')))
    del state['points']['dicm-task-stage@lambda8']
    del state['points']['jpeg@50']
    json.dump(state, open(osp.join(work, 'sweep.json'), 'w'))
    # (meanwhile, a report of what is measured: the incomplete curves as far as they go)
    partial = rs.run_rate_sweep(log=logs.append, report_only=True, **kwargs)
    assert trained == [] and [c.name for c in partial.curves] == [
        'jpeg', 'mbt2018-mean', 'dicm', 'dicm-task-stage']
    assert list(partial.curves[0].rates) == [result.points['jpeg@5']['bpp']]
    # a DICM curve with some λ done: those points, their rows in results.md
    assert list(partial.curves[-1].rates) == [result.points['dicm-task-stage@lambda0.5']['bpp']]
    assert 'dicm-task-stage@lambda0.5' in partial.points
    with open(partial.files['md'], encoding='utf-8') as f:
        assert f"| dicm-task-stage | {result.points['dicm-task-stage@lambda0.5']['bpp']:.3f} |" \
            in f.read()
    # before any DICM curve is complete: the baselines alone, no BD rows
    state['points'] = {k: v for k, v in state['points'].items() if not k.startswith('dicm')}
    json.dump(state, open(osp.join(work, 'sweep.json'), 'w'))
    early = rs.run_rate_sweep(log=logs.append, report_only=True, **kwargs)
    assert [c.name for c in early.curves] == ['jpeg', 'mbt2018-mean'] and early.table == []
    state['points'].update({k: v for k, v in result.points.items() if k.startswith('dicm')})
    del state['points']['dicm-task-stage@lambda8']
    json.dump(state, open(osp.join(work, 'sweep.json'), 'w'))
    monkeypatch.setattr(runs, 'train', lambda cfg: result.points['dicm@lambda8']['checkpoint'])
    test = runs.test

    def other_bits(cfg, *a, **k):
        metrics = test(cfg, *a, **k)
        if 'dicm/payload_bpp' in metrics:  # (jpeg@50 is measured again first)
            metrics['dicm/payload_bpp'] += 0.5
        return metrics

    monkeypatch.setattr(runs, 'test', other_bits)
    with pytest.raises(rs.SweepError, match='task stage of λ=8 changed the bits'):
        rs.run_rate_sweep(log=logs.append, **kwargs)


def test_a_report_of_an_empty_sweep_says_nothing_was_measured(tmp_path):
    with pytest.raises(rs.SweepError, match='nothing measured yet'):
        rs.run_rate_sweep(task='classification', work_dir=str(tmp_path / 'w'),
                          data_root=make_data(str(tmp_path / 'd'), 2, 1, 32), num_train=2,
                          num_val=1, image_size=32, report_only=True)


def test_the_results_say_how_much_each_curve_loses_and_show_the_learning_curve():
    from mmdicm.apis.rate_sweep.report import codec_losses
    from mmdicm.evaluation.bd_metrics import Curve
    curves = [Curve('jpeg', rates=[1.0, 0.1, 0.5], metrics=[0.30, 0.12, 0.27],
                    metric_name='bbox mAP'),
              Curve('dicm', rates=[0.2, 0.4], metrics=[0.25, 0.28], metric_name='bbox mAP')]
    points = {'uncompressed': dict(metric=0.30, learning_curve=[(300, 0.1), (600, 0.3)],
                                   plateau=dict(gain=0.02, reached=True))}
    result = rs.SweepResult(task='t', metric_name='bbox mAP', reference=0.30, curves=curves,
                            table=[], points=points, files={})
    losses = codec_losses(result)
    assert losses['jpeg'] == pytest.approx(0.6) and losses['dicm'] == pytest.approx(0.1)
    md = rs.format_sweep_markdown(result)
    assert '| jpeg | 60% |' in md and '| dicm | 10% |' in md
    assert '300: 0.100, 600: 0.300' in md and '+2.0% (plateau reached' in md


def test_the_results_give_each_dicm_point_its_rate_over_each_anchor_s_at_equal_accuracy():
    from mmdicm.evaluation.bd_metrics import Curve
    jpeg = Curve('jpeg', rates=[0.1, 0.2, 0.4, 0.8], metrics=[0.1, 0.2, 0.25, 0.28],
                 metric_name='bbox mAP')
    dicm = Curve('dicm', rates=[0.3, 0.6, 0.05], metrics=[0.2, 0.25, 0.29],
                 metric_name='bbox mAP')
    result = rs.SweepResult(task='t', metric_name='bbox mAP', reference=0.30,
                            curves=[jpeg, dicm], table=[dict(test='dicm', anchor='jpeg',
                                                            bd_rate_pct=None, bd_metric=None)],
                            points={}, files={})
    md = rs.format_sweep_markdown(result)
    assert '| curve | bpp | bbox mAP | jpeg |' in md
    # 0.2 for jpeg's 0.2 bpp: 1.5x; 0.25 for its 0.4: 1.5x; 0.29 above jpeg's top: < 0.05/0.8
    assert '| dicm | 0.600 | 0.250 | 1.50x |' in md and '| dicm | 0.300 | 0.200 | 1.50x |' in md
    assert '| dicm | 0.050 | 0.290 | < 0.06x |' in md
    # no DICM curve measured yet (a partial report): no such table
    result.table = []
    assert '| curve | bpp |' not in rs.format_sweep_markdown(result)


def test_the_bd_table_is_split_by_object_size_where_the_points_record_it():
    from mmdicm.apis.rate_sweep.report import tables_by_size
    spec = rs.SWEEP_TASKS['detection-coco-like']

    def point(bpp, small, medium, large):
        return dict(bpp=bpp, metric=(small + medium + large) / 3, metrics={
            'coco/bbox_mAP': (small + medium + large) / 3, 'coco/bbox_mAP_s': small,
            'coco/bbox_mAP_m': medium, 'coco/bbox_mAP_l': large})

    ap = [0.05, 0.08, 0.10, 0.11]  # the same AP at each rate step...
    points = {'uncompressed': point(None, 0.11, 0.2, 0.3)}
    for i, q in enumerate((5, 10, 20, 40)):
        points[f'jpeg@{q}'] = point(0.2 * 2 ** i, ap[i], ap[i], ap[i])
    for i, lam in enumerate((10, 3, 1, 0.1)):  # ...DICM: less AP_small, more AP_large
        points[f'dicm@lambda{lam:g}'] = point(0.2 * 2 ** i, ap[i] - 0.02, ap[i], ap[i] + 0.02)
    dicm, baselines = [('dicm', (0.1, 1, 3, 10))], [('jpeg', (5, 10, 20, 40))]
    by_size = tables_by_size(spec, points, baselines, dicm)
    assert list(by_size) == ['small', 'medium', 'large']
    assert by_size['small']['reference'] == 0.11
    small, medium, large = (by_size[s]['table'][0] for s in ('small', 'medium', 'large'))
    assert small['bd_rate_pct'] > 20 and large['bd_rate_pct'] < -20
    assert abs(medium['bd_rate_pct']) < 1e-6
    md = rs.format_sweep_markdown(rs.SweepResult(
        task='t', metric_name='bbox mAP', reference=0.2, curves=[], table=[],
        points={'uncompressed': points['uncompressed']}, files={}, by_size=by_size))
    assert '| DICM curve | anchor | small | medium | large |' in md
    assert f"| dicm | jpeg | {small['bd_rate_pct']:+.1f} | " in md
    # a size some point did not record is left out; a classifier's points record none
    del points['dicm@lambda3']['metrics']['coco/bbox_mAP_l']
    assert list(tables_by_size(spec, points, baselines, dicm)) == ['small', 'medium']
    assert tables_by_size(rs.SWEEP_TASKS['classification'], points, baselines, dicm) == {}


def test_the_coco_like_task_model_starts_from_the_pretrained_backbone(tmp_path):
    from mmdicm.apis.rate_sweep.plan import make_plan
    plan = make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                     None, None, None, None, None, 0, None,
                     dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))
    pre = plan.pretrain_cfg
    assert pre.train_dataloader.dataset.data_root == str(tmp_path / 'd') + '/classification/'
    assert pre.model.head.num_classes == 10 and pre.work_dir == str(tmp_path / 'w' / 'pretrain')
    init = plan.task_cfg.model.backbone.init_cfg
    assert init == dict(type='DICMPretrained', prefix='backbone.', checkpoint=osp.join(
        str(tmp_path / 'w' / 'pretrain'), f'iter_{pre.train_cfg.max_iters}.pth'))
    # the task model's digest (in sweep.json's settings) follows the pre-training's checkpoint
    other = make_plan(COCO, str(tmp_path / 'x'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                      None, None, None, None, None, 0, None,
                      dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))
    assert other.settings['task_config_digest'] != plan.settings['task_config_digest']


def test_the_pretrained_backbone_loads_from_a_runner_checkpoint(tmp_path):
    """A Runner checkpoint pickles mmengine objects (HistoryBuffer in message_hub): mmengine's
    stock 'Pretrained' init fails on them under torch >= 2.6 (weights_only); the sweep's
    task model must load it (it once crashed there after 9 minutes of pre-training)."""
    from mmengine.logging import HistoryBuffer
    from mmdicm.apis.rate_sweep.plan import make_plan
    plan = make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                     None, None, None, None, None, 0, None,
                     dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))
    init_default_scope('mmdet')
    source = MODELS.build(plan.task_cfg.model)
    path = plan.task_cfg.model.backbone.init_cfg['checkpoint']
    os.makedirs(osp.dirname(path))
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in
                                source.backbone.state_dict().items()},
                    message_hub=dict(log_scalars={'loss': HistoryBuffer([1.0], [1])})), path)
    model = MODELS.build(plan.task_cfg.model)
    model.init_weights()
    for k, v in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k


def test_task_iters_stretch_the_task_model_s_schedule(tmp_path):
    """--task-iters trains longer with the same shape of schedule: the linear warm-up and
    the multi-step decay after it scaled together, milestones included (not a decay left at
    the old iterations, or one past the new end), down to a schedule shorter than the
    warm-up was; the validation interval too."""
    from mmdicm.apis.rate_sweep.plan import make_plan
    args = (COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'], None)
    sizes = dict(num_train=4, num_val=2, image_size=256, preset='coco-like')
    default = make_plan(*args, None, None, None, None, 0, None, sizes).task_cfg
    assert default.train_cfg.max_iters == 3000
    assert [(s.begin, s.end) for s in default.param_scheduler] == [(0, 100), (0, 3000)]
    assert default.param_scheduler[1].milestones == [2000, 2750]
    longer = make_plan(*args, 6000, None, None, None, 0, None, sizes).task_cfg
    warm, steps = longer.param_scheduler
    assert (warm.begin, warm.end, steps.begin, steps.end) == (0, 200, 0, 6000)
    assert steps.milestones == [4000, 5500] and longer.train_cfg.max_iters == 6000
    # its checkpoints stay every 250 iterations (a run the session stops resumes from the
    # last; one checkpoint at the end lost a 3600-iteration run); the end is saved as well
    assert longer.default_hooks.checkpoint.interval == 250
    assert longer.default_hooks.checkpoint.get('save_last', True)
    # the learning curve keeps its 12 validations, one at 3/4 where the plateau check starts
    assert default.train_cfg.val_interval == 250 and longer.train_cfg.val_interval == 500
    half = make_plan(*args, 1500, None, None, None, 0, None, sizes).task_cfg
    assert half.train_cfg.val_interval == 125 and 1125 % half.train_cfg.val_interval == 0
    tiny = make_plan(*args, 9, None, None, None, 0, None, sizes).task_cfg
    assert [(s.begin, s.end) for s in tiny.param_scheduler] == [(0, 1), (0, 9)]
    assert tiny.param_scheduler[1].milestones == [6, 8]
    assert tiny.default_hooks.checkpoint.interval == 9
    assert tiny.train_cfg.val_interval == 1
    # a cosine (the pre-training's) keeps spanning its stretch
    from mmengine.config import Config
    from mmdicm.apis.rate_sweep.configs import set_iters
    cfg = Config(dict(train_cfg=dict(max_iters=1800), default_hooks=dict(checkpoint=dict(
        interval=1800)), param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=False,
                                               begin=100, end=1800, T_max=1700)]))
    set_iters(cfg, 3600)
    assert (cfg.param_scheduler[0].begin, cfg.param_scheduler[0].end,
            cfg.param_scheduler[0].T_max) == (200, 3600, 3400)
    # a config that checkpoints at its end alone (the task stage) does so at the new end
    stage = make_plan(*args, None, None, None, None, 0, None, sizes,
                      task_stage_iters=900).task_stage_cfg
    assert stage.train_cfg.max_iters == stage.default_hooks.checkpoint.interval == 900


def test_training_curves_average_each_quarter_of_the_newest_run(tmp_path):
    """The results say whether more training still moves the codec and the task stage:
    each logged value's mean over each quarter of its newest run."""
    from mmdicm.apis.rate_sweep.curve import read_training_curve
    old = tmp_path / 'codec' / '20260101_000000' / 'vis_data'
    new = tmp_path / 'codec' / '20260102_000000' / 'vis_data'
    for d in (old, new):
        os.makedirs(d)
    (old / 'scalars.json').write_text(json.dumps(dict(bpp=9.0, step=1)) + '\n')
    rows = [dict(bpp=float(8 - i), dist_tail=0.5, loss=1.0, step=10 * (i + 1)) for i in range(8)]
    rows.insert(4, dict(**{'coco/bbox_mAP': 0.1}, step=40))  # a validation row: no bpp
    (new / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows) + '\nnot json\n')
    curve = read_training_curve(str(tmp_path / 'codec'), 'bpp')
    assert curve == [(20, 7.5), (40, 5.5), (60, 3.5), (80, 1.5)]
    assert read_training_curve(str(tmp_path / 'codec'), 'missing') is None
    assert read_training_curve(str(tmp_path / 'nowhere'), 'bpp') is None
    result = rs.SweepResult(task='t', metric_name='bbox mAP', reference=0.3, curves=[],
                            table=[], points={}, files={},
                            training={'λ=0.1 codec': {'bpp': curve}})
    md = rs.format_sweep_markdown(result)
    assert '| λ=0.1 codec | bpp | 7.5 (20) -> 5.5 (40) -> 3.5 (60) -> 1.5 (80) |' in md


def _rate_sweep_tool():
    """tools/rate_sweep.py as a module (its main() is called with an argv)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'rate_sweep_tool', osp.join(osp.dirname(__file__), '..', '..', 'tools', 'rate_sweep.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_codec_preset_reaches_every_dicm_config_and_the_settings(tmp_path, monkeypatch,
                                                                 capsys):
    """tools/rate_sweep.py --codec-preset s (DICM-S's rate–accuracy, issue 18): the codec,
    DICM test and task-stage configs get the preset, the task model (no codec) does not,
    and the sweep's settings record it (a cache of another preset is refused)."""
    import mmdicm.apis.rate_sweep as rate_sweep
    from mmdicm.apis.rate_sweep.plan import make_plan
    tool = _rate_sweep_tool()
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        raise rate_sweep.SweepError('stop here')

    monkeypatch.setattr(rate_sweep, 'run_rate_sweep', fake)
    assert tool.main(['--task', 'detection-coco-like', '--codec-preset', 's']) == 2
    assert tool.main(['--codec-preset', 'x']) == 2 and seen['cfg_options'] is not None
    seen_options = seen['cfg_options']
    assert tool.main(['--codec-preset', 'default']) == 2  # renamed: refused before any work
    assert seen['cfg_options'] is seen_options
    assert "--codec-preset: codec preset 'default' was renamed 'mmdicm-v1'" in \
        capsys.readouterr().err
    options = seen['cfg_options']
    assert set(options) == {'codec', 'dicm', 'task_stage'}
    plan = make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                     None, None, None, None, None, 0, options,
                     dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))
    for cfg in (plan.codec_base, plan.dicm_base, plan.task_stage_cfg):
        assert cfg.model.backbone.codec.preset == 's'
    assert plan.task_cfg.model.backbone.codec is None
    assert plan.settings['cfg_options']['codec'] == {'model.backbone.codec.preset': 's'}


def _lrs(cfg, epoch_length):
    """The learning rate at every iteration of a run of ``cfg``'s schedule, built the way
    mmengine's runner builds it (by-epoch schedulers with convert_to_iter_based stepping
    per iteration)."""
    from mmengine.registry import PARAM_SCHEDULERS
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        cls = PARAM_SCHEDULERS.get(sched.pop('type'))
        if sched.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(opt, epoch_length=epoch_length,
                                                        **sched))
        else:
            assert not sched.get('by_epoch', True), sched  # no per-epoch stepping left
            schedulers.append(cls(opt, **sched))
    lrs = []
    for _ in range(epoch_length * cfg.train_cfg.max_epochs):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        for s in schedulers:
            s.step()
    return lrs


def test_the_coco_like_codec_runs_anneal_within_each_run(tmp_path):
    """Each λ's one-epoch codec run (and the warm start) warms up and anneals to ~0 within
    the run: a by-epoch cosine stepped only at epoch ends, so the whole run sat at full lr."""
    from mmdicm.apis.rate_sweep.plan import make_plan
    plan = make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (0.1, 1.0), ['jpeg'],
                     None, None, 1, 2, None, 0, None,
                     dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))
    for cfg, epochs in ((plan.codec_base, 1), (plan.warm_cfg, 2)):
        assert cfg.train_cfg.max_epochs == epochs
        lrs = _lrs(cfg, 250)
        assert lrs[0] <= 0.1 + 1e-9 and max(lrs) > 0.9  # warm-up, then the full lr
        assert lrs[-1] < 0.01  # annealed by the end of the run
        assert lrs[len(lrs) // 2] == pytest.approx(0.5, abs=0.05)  # a cosine, per iteration


def test_reuse_from_matches_a_task_model_with_a_pretrained_backbone(tmp_path):
    """--reuse-from on the COCO-like task: the task config names its pre-trained backbone by
    a path inside its own work dir, so its digest differs between work dirs; the other
    sweep's task model is still recognised as this one's (and one of other iterations
    refused)."""
    from mmdicm.apis.rate_sweep.phases import Sweep
    from mmdicm.apis.rate_sweep.reuse import reuse_task_model
    from mmdicm.apis.rate_sweep.plan import make_plan
    sizes = dict(num_train=4, num_val=2, image_size=256, preset='coco-like')
    other = tmp_path / 'released'
    plan = make_plan(COCO, str(other), str(tmp_path / 'd'), (1.0, ), ['jpeg'], None, 3600,
                     None, None, None, 0, None, sizes)
    os.makedirs(other / 'task')
    (other / 'task' / 'iter_3600.pth').write_bytes(b'x')
    points = {'uncompressed': dict(method='uncompressed', metric=0.07,
                                   checkpoint=str(other / 'task' / 'iter_3600.pth')),
              'jpeg@5': dict(method='jpeg', bpp=0.2, metric=0.05),
              'dicm@lambda1': dict(method='dicm', bpp=0.4, metric=0.02)}
    (other / 'sweep.json').write_text(json.dumps(dict(version=1, settings=plan.settings,
                                                      points=points)))
    preset = {'model.backbone.codec.preset': 's'}
    for iters, ok in ((3600, True), (1800, False)):
        mine = make_plan(COCO, str(tmp_path / f's{iters}'), str(tmp_path / 'd'), (1.0, ),
                         ['jpeg'], None, iters, None, None, None, 0,
                         dict(codec=preset, dicm=preset, task_stage=preset), sizes)
        assert mine.settings['task_config_digest'] != plan.settings['task_config_digest']
        os.makedirs(mine.work_dir)
        sweep = Sweep(mine, lambda _: None)
        if ok:
            reuse_task_model(sweep, str(other))
            assert set(sweep.points) == {'uncompressed', 'jpeg@5'}  # not DICM's
        else:
            with pytest.raises(rs.SweepError, match=r'task_config_digest, task_iters differ'):
                reuse_task_model(sweep, str(other))


def test_pretrain_from_links_the_pre_training_of_another_schedule(tmp_path):
    """--pretrain-from: a task model on another schedule (--task-iters, refused by
    --reuse-from) starts from the other sweep's pre-trained backbone, linked to where this
    sweep's task config loads it, so its pre-training phase trains nothing; one made by
    another pre-training config, an unfinished one or a missing file is refused by name."""
    from mmdicm.apis.rate_sweep.configs import config_digest
    from mmdicm.apis.rate_sweep.phases import Sweep, pretrain
    from mmdicm.apis.rate_sweep.reuse import reuse_pretraining
    from mmdicm.apis.rate_sweep.plan import make_plan
    sizes = dict(num_train=4, num_val=2, image_size=256, preset='coco-like')
    other = tmp_path / '1x'
    theirs = make_plan(COCO, str(other), str(tmp_path / 'd'), (1.0, ), ['jpeg'], None, None,
                       None, None, None, 0, None, sizes)
    source = other / 'pretrain' / 'iter_3000.pth'
    os.makedirs(source.parent)
    source.write_bytes(b'backbone')
    done = dict(checkpoint=str(source), top1=61.5, seconds=9.0,
                config_digest=config_digest(theirs.pretrain_cfg))

    def write(pretrain):
        (other / 'sweep.json').write_text(json.dumps(dict(
            version=1, settings=theirs.settings, points={}, pretrain=pretrain)))

    def mine(name, seed=0):
        plan = make_plan(COCO, str(tmp_path / name), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                         None, 6000, None, None, None, seed, None, sizes)
        os.makedirs(plan.work_dir)
        return Sweep(plan, lambda _: None)

    write(done)
    sweep = mine('2x')
    reuse_pretraining(sweep, str(other))
    expected = sweep.plan.task_cfg.model.backbone.init_cfg['checkpoint']
    assert expected.startswith(str(tmp_path / '2x')) and open(expected, 'rb').read() == \
        b'backbone'
    assert sweep.state['pretrain']['checkpoint'] == expected
    assert json.loads((tmp_path / '2x' / 'sweep.json').read_text())['pretrain']['top1'] == 61.5
    assert pretrain(sweep)['checkpoint'] == expected  # cached: nothing trains
    # refused: another pre-training config (seed), none finished, its checkpoint gone
    with pytest.raises(rs.SweepError, match='made by another config'):
        reuse_pretraining(mine('seed1', seed=1), str(other))
    write(None)
    with pytest.raises(rs.SweepError, match='no finished pre-training'):
        reuse_pretraining(mine('none'), str(other))
    write(done)
    source.unlink()
    with pytest.raises(rs.SweepError, match='iter_3000.pth is gone'):
        reuse_pretraining(mine('gone'), str(other))
    (other / 'sweep.json').write_text('[]')
    with pytest.raises(rs.SweepError, match='not a readable sweep state'):
        reuse_pretraining(mine('bad'), str(other))
    with pytest.raises(rs.SweepError, match='not both'):
        rs.run_rate_sweep(task='detection-coco-like', work_dir=str(tmp_path / 'both'),
                          reuse_from=str(other), pretrain_from=str(other))


# ------------------------------------------------- the second task: one bitstream, two curves
def _second_task_spec(tmp_path):
    """A tiny detection sweep with a task stage, and a whole-image classifier as its second
    task (the demo's 4-class image labels), every config the shipped ones' shape."""
    det_stage = tmp_path / 'det_task_stage.py'
    det_stage.write_text(
        f"_base_ = '{osp.abspath(DET.dicm_config)}'\n"
        "model = dict(backbone=dict(codec=dict(re=None), frozen_parts=('edge', )))\n"
        "train_cfg = dict(max_iters=2, val_interval=2)\n")
    cls_stage = tmp_path / 'cls_task_stage.py'
    cls_stage.write_text(
        "_base_ = '" + osp.abspath(osp.join(
            CONFIG_ROOT, 'demo', 'resnet18_dicm_embedded_image-cls_from-stage4.py'))
        + "'\nmodel = dict(backbone=dict(codec=dict(re=None), init_cfg=None))\n"
        "train_cfg = dict(max_iters=2, val_interval=2)\n"
        "default_hooks = dict(checkpoint=dict(interval=2))\n")
    cls_task = tmp_path / 'cls_task.py'
    cls_task.write_text(
        f"_base_ = '{cls_stage}'\n"
        "model = dict(backbone=dict(codec=None, real_coding=False, frozen_parts=()))\n"
        "custom_hooks = []\n"
        "val_evaluator = [dict(type='Accuracy', topk=(1, ))]\ntest_evaluator = val_evaluator\n")
    second = rs.SecondTask('image-cls', str(cls_task), str(cls_stage))
    return rs.SweepTask(**dict(vars(DET), name='det-two-tasks', task_stage_config=str(det_stage),
                               second_task=second))


def _second_task_options():
    tiny = dict(re=None, net=TINY_CODEC['net'])
    loaders = {f'{s}_dataloader.{k}': v for s in ('train', 'test')
               for k, v in (('batch_size', 2), ('num_workers', 0), ('persistent_workers', False))}
    det = dict(loaders, **{'model.test_cfg.rcnn.score_thr': 0.0, 'log_level': 'WARNING'})
    codec = {'model.backbone.codec': tiny, 'train_dataloader.batch_size': 2,
             'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
             'log_level': 'WARNING'}
    cls = dict(loaders, log_level='WARNING')
    return dict(task=det, codec=codec, dicm=dict(det, **{'model.backbone.codec': tiny}),
                task_stage=dict(det, **{'model.backbone.codec': tiny}),
                second_task=cls, second_task_stage=cls)


def test_a_second_task_model_reads_the_detector_s_files_per_lambda(tmp_path, one_thread,
                                                                   monkeypatch):
    """The classification curve of one bitstream: a classifier trained on uncompressed
    images (the pixel codecs' points), then per λ its own task stage on the detector's frozen
    edge, tested on the very files the detector's edge wrote (the detector reads them too)."""
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    spec = _second_task_spec(tmp_path)
    work = str(tmp_path / 'sweep')
    kwargs = dict(task=spec.name, tasks={spec.name: spec}, work_dir=work, data_root=data_root,
                  lambdas=(0.5, 8.0), codecs=['jpeg'], qualities={'jpeg': [5, 50]},
                  task_iters=2, codec_epochs=1, num_train=4, num_val=2, image_size=64,
                  learned_codecs=(), cfg_options=_second_task_options())
    logs = []
    result = rs.run_rate_sweep(log=logs.append, **kwargs)

    second = result.second
    assert second is not None and second.task == 'image-cls'
    assert [c.name for c in second.curves] == ['jpeg', 'dicm-task-stage']
    points = {k: v for k, v in json.load(open(osp.join(work, 'sweep.json')))['points'].items()
              if k.startswith('image-cls/')}
    assert set(points) == {'image-cls/uncompressed', 'image-cls/jpeg@5', 'image-cls/jpeg@50',
                           'image-cls/dicm-task-stage@lambda0.5',
                           'image-cls/dicm-task-stage@lambda8'}
    for lam in ('lambda0.5', 'lambda8'):
        p, det = points[f'image-cls/dicm-task-stage@{lam}'], result.points[
            f'dicm-task-stage@{lam}']
        # the detector's files, read by both: their rate is the detector's test pass's
        assert p['writer'] == det['checkpoint'] and p['num_files'] == 2
        # (within a few bits: the test pass codes in batches of 2, the files one at a time;
        # 0.23059 / 0.23083 bpp measured on an AMD EPYC machine: second.SAME_BITS_SLACK_BYTES)
        assert p['bpp'] == pytest.approx(det['bpp'], rel=5e-3)
        assert p['payload_bpp'] == det['payload_bpp']
        assert 'coco/bbox_mAP' in p['detector_metrics'] and 0 <= p['metric'] <= 100
        assert sorted(os.listdir(p['files'])) == sorted(
            ['manifest.csv', 'manifest.json'] + [f for f in os.listdir(p['files'])
                                                 if f.endswith('.dicm')])
        # its task stage kept the detector's edge, bit for bit, and trained its receiver
        edge = torch.load(result.points[f'dicm@{lam}']['checkpoint'],
                          weights_only=False)['state_dict']
        mine = torch.load(p['checkpoint'], weights_only=False)['state_dict']
        start = torch.load(osp.join(work, 'image-cls', lam, 'start.pth'),
                           weights_only=False)['state_dict']
        for k in ('backbone.conv1.weight', 'backbone.layer1.0.conv1.weight'):
            assert torch.equal(mine[k], edge[k])
        bits = [k for k in mine if k.startswith(tuple(f'backbone.codec.net.{p}.' for p in (
            'g_a', 'h_a', 'h_s', 'entropy_bottleneck', 'gaussian_conditional',
            'context_mixture')))]
        assert bits and all(torch.equal(mine[k], edge[k]) for k in bits)
        assert not torch.equal(mine['head.fc.weight'], start['head.fc.weight'])
    assert osp.isfile(osp.join(work, 'image-cls', 'results.md'))
    assert '| dicm-task-stage | λ=8 |' in open(second.files['md']).read()
    summary = rs.format_sweep_summary(result)
    assert 'Second task (image-cls), the same DICM files' in summary

    # again: everything from the cache; --no-second-task: no second curves at all
    monkeypatch.setattr(runs, 'train', lambda cfg: pytest.fail(f'trained {cfg.work_dir}'))
    again = rs.run_rate_sweep(log=logs.append, **kwargs)
    assert again.second.points == second.points
    assert rs.run_rate_sweep(log=logs.append, second_task=False, **kwargs).second is None


def test_a_second_task_whose_codec_is_not_the_detector_s_is_refused(tmp_path):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    spec = _second_task_spec(tmp_path)
    options = _second_task_options()
    options['second_task_stage'] = {'model.backbone.codec': dict(re=None)}
    with pytest.raises(rs.SweepError, match='its codec differs'):
        rs.run_rate_sweep(task=spec.name, tasks={spec.name: spec}, work_dir=str(tmp_path / 'w'),
                          data_root=data_root, lambdas=(0.5, ), codecs=['jpeg'],
                          num_train=4, num_val=2, image_size=64, learned_codecs=(),
                          cfg_options=options)


def test_coco_points_count_only_the_tested_images_and_old_ones_are_tested_again(
        tmp_path, one_thread, monkeypatch):
    """--val-images N < all: mmdet's CocoMetric gets the annotations of the N tested images
    only (an untested image's objects are not misses); points cached before that was so are
    tested again from their checkpoints, nothing trained again."""
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    spec = rs.SweepTask(**dict(vars(_second_task_spec(tmp_path)), name='det-subset',
                               second_task=None))
    options = _second_task_options()
    del options['second_task'], options['second_task_stage']
    work = str(tmp_path / 'sweep')
    kwargs = dict(task=spec.name, tasks={spec.name: spec}, work_dir=work, data_root=data_root,
                  lambdas=(8.0, ), codecs=['jpeg'], qualities={'jpeg': [50]}, task_iters=2,
                  codec_epochs=1, num_train=4, num_val=2, image_size=64, val_images=1,
                  learned_codecs=(), cfg_options=options)
    result = rs.run_rate_sweep(log=lambda _: None, **kwargs)
    subsets = sorted(glob.glob(osp.join(work, '**', 'eval_subset', '*.json'), recursive=True))
    assert len(subsets) == 4  # task model, jpeg@50, dicm@lambda8, its task stage
    for path in subsets:
        coco = json.load(open(path))
        assert len(coco['images']) == 1 and coco['images'][0]['id'] == json.load(open(
            osp.join(data_root, 'annotations', 'instances_val.json')))['images'][0]['id']
        assert {a['image_id'] for a in coco['annotations']} <= {coco['images'][0]['id']}
    assert all(p['eval_version'] == phases.EVAL_VERSION for p in result.points.values())

    # a cache of the old evaluation: every point tested again, no training
    state = json.load(open(osp.join(work, 'sweep.json')))
    for point in state['points'].values():
        del point['eval_version']
        point['metric'] = -1.0
    json.dump(state, open(osp.join(work, 'sweep.json'), 'w'))
    monkeypatch.setattr(runs, 'train', lambda cfg: pytest.fail(f'trained {cfg.work_dir}'))
    logs = []
    again = rs.run_rate_sweep(log=logs.append, **kwargs)
    assert any('4 cached point(s) were evaluated with COCO metrics over every val image' in m
               for m in logs)
    for name, point in result.points.items():
        assert again.points[name]['metric'] == point['metric'], name
        assert again.points[name]['eval_version'] == phases.EVAL_VERSION
        for key in ('checkpoint', 'bpp', 'payload_bpp'):
            assert again.points[name].get(key) == point.get(key), (name, key)


def test_the_task_model_s_learning_curve_counts_the_validated_images_alone(tmp_path,
                                                                          monkeypatch):
    """--val-images N: the task model's validation passes (its learning curve, the plateau)
    run on the first N val images and count only their objects, as the tests do."""
    from mmdicm.apis.rate_sweep.plan import make_plan
    data_root = tmp_path / 'd'
    os.makedirs(data_root / 'annotations')
    images = [dict(id=i, file_name=f'{i}.png', width=256, height=256) for i in (7, 3, 5)]
    (data_root / 'annotations' / 'instances_val.json').write_text(json.dumps(dict(
        images=images, categories=[dict(id=1, name='a')],
        annotations=[dict(id=i, image_id=i, category_id=1, bbox=[0, 0, 9, 9], area=81,
                          iscrowd=0) for i in (7, 3, 5)])))
    sizes = dict(num_train=4, num_val=3, image_size=256, preset='coco-like')
    plan = make_plan(COCO, str(tmp_path / 'w'), str(data_root), (1.0, ), ['jpeg'], None, None,
                     None, None, 2, 0, None, sizes)
    seen = []
    monkeypatch.setattr(runs, 'train', lambda cfg: seen.append(cfg) or 'task.pth')
    monkeypatch.setattr(phases, 'read_learning_curve', lambda *a: [(300, 0.1), (600, 0.2)])
    assert phases._train_task_model(plan)['checkpoint'] == 'task.pth'
    cfg = seen[0]
    assert cfg.val_dataloader.dataset.indices == 2
    cocos = [e for e in cfg.val_evaluator if e['type'] == 'CocoMetric']
    subset = json.load(open(cocos[0]['ann_file']))
    assert [i['id'] for i in subset['images']] == [7, 3]  # the file's order, as CocoDataset
    assert sorted(a['image_id'] for a in subset['annotations']) == [3, 7]
    # the plan's own config (its digest: the cached task models) is left as it was
    assert plan.task_cfg.val_evaluator[0]['ann_file'].endswith('annotations/instances_val.json')


def test_codec_options_reach_every_dicm_config_and_bad_ones_are_refused_first(tmp_path,
                                                                             monkeypatch,
                                                                             capsys):
    """tools/rate_sweep.py --codec-options net.entropy_model=hyperprior (issue 16: the
    release preset's blocks with the hyperprior alone): the codec, DICM test and task-stage
    configs get the key beside the preset, the DICM points' digest changes with it, and a key
    or value the codec does not take is refused before the sweep starts."""
    import mmdicm.apis.rate_sweep as rate_sweep
    from mmdicm.apis.rate_sweep.plan import make_plan
    tool = _rate_sweep_tool()
    seen = []

    def fake(**kwargs):
        seen.append(kwargs['cfg_options'])
        raise rate_sweep.SweepError('stop here')

    monkeypatch.setattr(rate_sweep, 'run_rate_sweep', fake)
    for bad, message in ((['net.entropy_model=gauss'], 'entropy_model must be one of'),
                         (['net.no_such_width=3'], "unexpected keyword argument 'no_such_width'"),
                         (['net.a.b.c=1'], "'net.a.b.c': expected re.NAME, net.NAME"),
                         (['net.mid_channels=8', 'net.mid_channels.x=1'],
                          'net.mid_channels is set to a value, not a dict'),
                         (['net.entropy_model=context_mixture', 'net.context.no_such_key=2'],
                          "unexpected keyword argument 'no_such_key'"),
                         (['preset=s'], 'preset is not an option here')):
        assert tool.main(['--task', 'detection-coco-like', '--codec-options', *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: --codec-options: ') and message in err, err
    assert seen == []  # refused before any work
    assert tool.main(['--task', 'detection-coco-like', '--codec-preset', 'release']) == 2
    assert tool.main(['--task', 'detection-coco-like', '--codec-preset', 'release',
                      '--codec-options', 'net.entropy_model=hyperprior']) == 2
    # a dict argument's keys (issue 18's S-ctx: an S-width context model) reach the configs
    context = ['net.entropy_model=context_mixture', 'net.context.dim=64',
               'net.context.param_hidden=192']
    assert tool.main(['--task', 'detection-coco-like', '--codec-preset', 's',
                      '--codec-options', *context]) == 2
    preset_only, hyperprior, s_ctx = seen
    assert s_ctx['task_stage'] == {'model.backbone.codec.preset': 's',
                                   'model.backbone.codec.net.entropy_model': 'context_mixture',
                                   'model.backbone.codec.net.context.dim': 64,
                                   'model.backbone.codec.net.context.param_hidden': 192}
    assert hyperprior['codec'] == {'model.backbone.codec.preset': 'release',
                                   'model.backbone.codec.net.entropy_model': 'hyperprior'}
    assert hyperprior['codec'] == hyperprior['dicm'] == hyperprior['task_stage']

    def plan(options):
        return make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                         None, None, None, None, None, 0, options,
                         dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))

    with_key, without = plan(hyperprior), plan(preset_only)
    codec = plan(s_ctx).task_stage_cfg.model.backbone.codec
    assert codec.net.context == dict(dim=64, param_hidden=192)
    for cfg in (with_key.codec_base, with_key.dicm_base, with_key.task_stage_cfg):
        assert cfg.model.backbone.codec.preset == 'release'
        assert cfg.model.backbone.codec.net.entropy_model == 'hyperprior'
    assert 'entropy_model' not in without.dicm_base.model.backbone.codec.get('net', {})
    assert with_key.dicm_digest != without.dicm_digest
    assert with_key.second_stage_digest != without.second_stage_digest  # its files' codec
    assert with_key.task_stage_digest != without.task_stage_digest
    assert with_key.settings['task_config_digest'] == without.settings['task_config_digest']


def test_a_revised_preset_changes_the_digests_of_its_configs_alone(tmp_path, monkeypatch):
    """Issue 18 revised preset 's' (the release's LeakyReLU latent and drop path): the points
    a sweep cached under the old 's' must be measured again, not reported as the new one's,
    while every other preset's digests (and so their cached points) stay as they were."""
    import copy
    import hashlib

    import mmdicm.apis.rate_sweep.configs as configs
    from mmdicm.apis.rate_sweep.plan import make_plan

    def plan(preset):
        options = {'model.backbone.codec.preset': preset}
        return make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                         None, None, None, None, None, 0,
                         dict(codec=options, dicm=dict(options), task_stage=dict(options)),
                         dict(num_train=4, num_val=2, image_size=256, preset='coco-like'))

    def plain(cfg):  # the digest before revisions existed
        cfg = copy.deepcopy(cfg)
        for key in ('work_dir', 'load_from', 'experiment_name'):
            cfg.pop(key, None)
        return hashlib.sha256(cfg.pretty_text.encode('utf-8')).hexdigest()[:16]

    s, release = plan('s'), plan('release')
    assert configs.config_digest(release.task_stage_cfg) == plain(release.task_stage_cfg)
    assert configs.config_digest(s.task_stage_cfg) != plain(s.task_stage_cfg)
    assert s.settings['task_config_digest'] == release.settings['task_config_digest']
    monkeypatch.setitem(configs.CODEC_PRESET_REVISIONS, 'release', 'a test revision')
    assert configs.config_digest(release.task_stage_cfg) != plain(release.task_stage_cfg)


def test_task_stage_iters_0_plans_the_frozen_curve_alone(tmp_path):
    """--task-stage-iters 0 --no-second-task: no task-stage config (the sweep runs no task
    stage); the other DICM configs and their digests are those of the full plan."""
    from mmdicm.apis.rate_sweep.plan import make_plan

    def plan(iters):
        return make_plan(COCO, str(tmp_path / 'w'), str(tmp_path / 'd'), (1.0, ), ['jpeg'],
                         None, None, None, None, None, 0, None,
                         dict(num_train=4, num_val=2, image_size=256, preset='coco-like'),
                         task_stage_iters=iters, second_task=False)

    frozen, full = plan(0), plan(None)
    assert frozen.task_stage_cfg is None and frozen.task_stage_digest == ''
    assert full.task_stage_cfg is not None
    assert frozen.dicm_digest == full.dicm_digest and frozen.settings == full.settings


def test_same_bits_check_allows_a_few_bits_per_file_not_another_bitstream():
    """The second task's files must be the detector's test pass's bits: a couple of bits
    moved by another batch size pass (measured: 2 of ~1890 bits on two 64-px files, 0.10 %,
    above the 1e-3 relative tolerance alone), another edge's or other images' percents do
    not."""
    from mmdicm.apis.rate_sweep.second import check_same_bits
    # two 64-px files, 236 bytes in all: 0.23059 bpp against the test pass's 0.23083
    check_same_bits(0.23059, 0.23083, 2, 236, 'tiny')
    # a hundred 256-px files at 0.3 bpp (~245 kB): 4 bytes a file is 0.16 %, 1 % is not
    check_same_bits(0.3 * 1.0015, 0.3, 100, 245_760, 'real')
    with pytest.raises(rs.SweepError, match=r'real: the files hold 0\.30300 bpp.*not the '
                                            r'bitstream of its curve'):
        check_same_bits(0.303, 0.3, 100, 245_760, 'real')
    with pytest.raises(rs.SweepError, match='tiny'):  # another λ's edge
        check_same_bits(0.18, 0.23083, 2, 184, 'tiny')
