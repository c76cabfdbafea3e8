"""The SSL stage configs resolve to what DICM's four stages are: losses, freezing, optimizers,
data, and a checkpoint chain whose every link names the previous stage's last checkpoint.
(Building every config in a clean interpreter is tests/test_configs.py's job: it globs
configs/ recursively.)"""
import os.path as osp

import pytest
from mmengine.config import Config

import mmdicm  # noqa: F401  (the mmdicm:: scope, before any Config.fromfile)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FULL = ['stage1_mocov2-ccrop_r50_8xb32-coslr-800e_in1k.py',
        'stage2_re_r50_8xb8-adam-coslr-20e_in1k.py',
        'stage3_re-ssl_r50_8xb32-sgd-coslr-200e_in1k.py',
        'stage4_codec_r50_8xb4-adamw-coslr-20e_in1k.py']
DEMO = ['stage1_mocov2-ccrop_r18_embedded.py', 'stage2_re_r18_embedded.py',
        'stage3_re-ssl_r18_embedded.py', 'stage4_codec_r18_embedded.py']
SETS = {'full': [osp.join(ROOT, 'configs', 'ssl', f) for f in FULL],
        'demo': [osp.join(ROOT, 'configs', 'ssl', 'demo', f) for f in DEMO]}

#: stage -> (contrastive weight, RE present, compression network present, frozen parts)
STAGES = {1: (1., False, False, ()),
          2: (0., True, False, ('head', 'tail')),
          3: (1., True, False, ()),
          4: (0., True, True, ('head', 're', 'tail'))}
#: stage -> the loss hook's arguments (the released weights)
LOSS_HOOKS = {
    2: dict(type='RateDistortionLossHook', lambda_re=1.0,
            distortions=[dict(pred='f2', target='f1', metric='l1', weight=128.)]),
    3: dict(type='RateDistortionLossHook', lambda_re=0.1,
            distortions=[dict(pred='f2', target='f1', metric='l1', weight=0.1,
                              detach_target=False)]),
    4: dict(type='RateDistortionLossHook', lambda_rate=0.08,
            distortions=[dict(pred='f3', target='f2', metric='l2', weight=2048.)],
            tail_distortion=dict(target='f2', metric='l2', weights=(384., 256., 192.))),
}
OPTIMIZERS = {1: ('SGD', 0.03), 2: ('Adam', 1e-4), 3: ('SGD', 1e-3), 4: ('AdamW', 1e-4)}


@pytest.fixture(scope='module')
def configs():
    return {name: [Config.fromfile(p) for p in paths] for name, paths in SETS.items()}


def _hooks(cfg, type_):
    return [h for h in cfg.custom_hooks if h['type'] == type_]


@pytest.mark.parametrize('name', ['full', 'demo'])
@pytest.mark.parametrize('stage', [1, 2, 3, 4])
def test_stage_semantics(configs, name, stage):
    cfg = configs[name][stage - 1]
    weight, has_re, has_net, frozen = STAGES[stage]
    model = cfg.model
    assert model.type == 'DICMMoCoV2' and model.contrastive_weight == weight
    backbone = model.backbone
    assert backbone.type == 'DICMResNet' and backbone.out_indices == (3, )
    assert tuple(backbone.get('frozen_parts', ())) == frozen
    codec = backbone.codec
    assert (codec is not None) == has_re
    if codec is not None:
        assert (codec.get('re', {}) is not None) == has_re
        assert (codec.get('net', {}) is not None) == has_net
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys['entropy_bottleneck.quantiles'] == dict(
            lr_mult=1.0, decay_mult=0.0)
    loss_hooks = _hooks(cfg, 'RateDistortionLossHook')
    if stage == 1:
        assert not loss_hooks and not _hooks(cfg, 'RateLossHook')
    else:
        assert loss_hooks == [LOSS_HOOKS[stage]]
        assert _hooks(cfg, 'EntropyUpdateHook')
    assert bool(_hooks(cfg, 'SemanticBoxHook')) == (weight > 0)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr) == OPTIMIZERS[stage]
    assert cfg.custom_imports.imports == ['mmdicm'] and cfg.runner_type == 'DICMRunner'
    assert cfg.default_scope == 'mmpretrain'


@pytest.mark.parametrize('name, size', [('full', (224, 224, 224, 256)),
                                        ('demo', (64, 64, 64, 128))])
def test_the_train_loader_reads_the_stage_pipeline(configs, name, size):
    for stage, cfg in enumerate(configs[name], 1):
        pipeline = cfg.train_dataloader.dataset.pipeline
        views = pipeline[1]
        assert views.type == 'MultiView'
        crop = views.transforms[0][0]
        assert crop.scale == size[stage - 1]
        contrastive = cfg.model.contrastive_weight > 0
        assert views.num_views == (2 if contrastive else 1)
        assert crop.type == ('SemanticGuidedCrop' if contrastive else 'RandomResizedCrop')
        assert '_scope_' not in cfg.train_dataloader.collate_fn  # not passed to the function
        box = _hooks(cfg, 'SemanticBoxHook')
        if box:
            assert box[0]['image_size'] == size[stage - 1]
        if name == 'demo':
            dataset = cfg.train_dataloader.dataset
            assert dataset.type == 'CustomDataset' and 'split' not in dataset
            assert dataset.data_root == 'data/embedded/classification/'


@pytest.mark.parametrize('name', ['full', 'demo'])
def test_each_stage_loads_the_previous_stages_last_checkpoint(configs, name):
    assert configs[name][0].get('load_from') is None
    for k in range(1, 4):
        previous = configs[name][k - 1]
        stem = osp.splitext(osp.basename(SETS[name][k - 1]))[0]
        expected = f'work_dirs/{stem}/epoch_{previous.train_cfg.max_epochs}.pth'
        assert configs[name][k].load_from == expected
        assert previous.default_hooks.checkpoint.interval == 1


def test_stage4_clips_the_main_gradient_only(configs):
    for cfg in (configs['full'][3], configs['demo'][3]):
        wrapper = cfg.optim_wrapper
        assert wrapper.type == 'DICMOptimWrapper'
        assert wrapper.constructor == 'DICMOptimWrapperConstructor'
        assert wrapper.clip_grad == dict(max_norm=1.0)


@pytest.mark.parametrize('task', ['mask-rcnn_dicm.py', 'mask-rcnn_dicm_from-stage4.py',
                                  'faster-rcnn_dicm_voc0712.py',
                                  'faster-rcnn_dicm_voc0712_from-stage4.py',
                                  'resnet50_dicm_in1k_from-stage4.py',
                                  'resnet50_dicm_in1k_linear-probe.py',
                                  'retinanet_dicm.py', 'resnet50_dicm_in1k.py',
                                  'demo/mask-rcnn_dicm_r18_embedded.py'])
def test_stage4_backbone_is_the_task_configs_backbone(configs, task):
    """Same depth, split and codec: stage 4's backbone.* initialises the task model."""
    task_cfg = Config.fromfile(osp.join(ROOT, 'configs', task))
    stage4 = configs['demo' if task.startswith('demo/') else 'full'][3]
    ours, theirs = stage4.model.backbone, task_cfg.model.backbone
    assert ours.depth == theirs.depth
    assert ours.get('split_stage', 0) == theirs.get('split_stage', 0)
    assert ours.codec.get('re', {}) == theirs.codec.get('re', {})
    assert ours.codec.get('net', {}) == theirs.codec.get('net', {})


TASK_STAGES = ['mask-rcnn_dicm_from-stage4.py', 'faster-rcnn_dicm_voc0712_from-stage4.py',
               'resnet50_dicm_in1k_from-stage4.py', 'resnet50_dicm_in1k_linear-probe.py']


@pytest.mark.parametrize('task', TASK_STAGES)
def test_task_stages_start_from_stage4_with_the_edge_frozen(configs, task):
    """Every *_from-stage4 config (and the linear probe) reads the file stage 4 writes (its
    last epoch, backbone.* keys) with the whole edge frozen -- head, RE, g_a, h_a, h_s and
    the entropy models: no gradient, eval mode -- so every task model of one stage-4 edge
    reads the same files; g_s and the tail train (the probe: neither)."""
    import torch
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(osp.join(ROOT, 'configs', task))
    stage4 = configs['full'][3]
    stem = osp.splitext(FULL[3])[0]
    assert cfg.model.backbone.init_cfg == dict(
        type='DICMPretrained', prefix='backbone.',
        checkpoint=f'work_dirs/{stem}/epoch_{stage4.train_cfg.max_epochs}.pth')
    probe = 'linear-probe' in task
    assert tuple(cfg.model.backbone.frozen_parts) == (
        ('edge', 'g_s', 'tail') if probe else ('edge', ))
    if task == 'mask-rcnn_dicm_from-stage4.py':  # nothing else differs from the base
        base = Config.fromfile(osp.join(ROOT, 'configs', 'mask-rcnn_dicm.py'))
        for c in (cfg, base):
            for key in ('init_cfg', 'frozen_parts'):
                c.model.backbone.pop(key, None)
        assert cfg.to_dict() == base.to_dict()
        cfg = Config.fromfile(osp.join(ROOT, 'configs', task))

    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model).backbone.train()
    edge = backbone.part_modules('edge')
    assert not any(p.requires_grad for m in edge for p in m.parameters())
    assert not any(m.training for e in edge for m in e.modules())
    g_s = backbone.codec.net.g_s
    assert all(p.requires_grad is not probe for p in g_s.parameters())
    assert backbone.layer2.training is not probe
    # the gradient stops at g_s's input: the frozen edge runs no backward at all
    backbone.keep_features = True
    outs = backbone(torch.rand(1, 3, 64, 64))
    assert not backbone.last_features['f2'].requires_grad
    assert backbone.last_features['f3'].requires_grad is not probe
    assert outs[-1].requires_grad is not probe


#: the CPU twins of the task stages -> their frozen parts
CPU_TASK_STAGES = {'mask-rcnn_dicm_r18_embedded_from-stage4.py': ('edge', ),
                   'faster-rcnn_dicm_r18_embedded_from-stage4.py': ('edge', ),
                   'resnet18_dicm_embedded_image-cls_from-stage4.py': ('edge', ),
                   'resnet18_dicm_embedded_image-cls_linear-probe.py': ('edge', 'g_s', 'tail')}


@pytest.mark.parametrize('task', list(CPU_TASK_STAGES))
def test_cpu_task_stages_read_what_the_demo_stage4_writes(configs, task):
    """The CPU twins (two of them chained by tools/ssl_pipeline.py): the edge frozen,
    initialised from the file the demo stage 4 writes in the chain's work dir, and the edge's
    input -- pipeline size and normalisation -- the same for detectors and classifiers (they
    read one set of files the detector's edge writes)."""
    from mmdicm.apis.ssl_pipeline import TASK_CONFIGS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', task))
    stage4 = configs['demo'][3]
    assert cfg.model.backbone.init_cfg == dict(
        type='DICMPretrained', prefix='backbone.',
        checkpoint=f'work_dirs/ssl_pipeline/stage4/epoch_{stage4.train_cfg.max_epochs}.pth')
    assert tuple(cfg.model.backbone.frozen_parts) == CPU_TASK_STAGES[task]
    assert cfg.model.backbone.depth == stage4.model.backbone.depth
    assert {osp.basename(c) for _, c in TASK_CONFIGS} < set(CPU_TASK_STAGES)
    detector = Config.fromfile(osp.join(ROOT, 'configs', 'demo', TASK_CONFIGS[0][1]))
    ours = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    theirs = detector.model.data_preprocessor
    for key in ('mean', 'std'):
        assert list(ours[key]) == list(theirs[key])
    assert ours.get('to_rgb', ours.get('bgr_to_rgb')) and theirs.bgr_to_rgb
    sizes = [t for t in cfg.test_pipeline if t['type'] in ('Resize', 'ResizeEdge')]
    scale = sizes[0]['scale']
    assert (scale if isinstance(scale, int) else max(scale)) == \
        max(detector.test_pipeline[1]['scale'])


def test_the_cpu_linear_probe_trains_the_head_alone():
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo',
                                   'resnet18_dicm_embedded_image-cls_linear-probe.py'))
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    trained = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {'head'} and cfg.optim_wrapper.optimizer.lr == 30.


# ---------------------------------------------------------------------- DICM-S (issue 18)
def test_the_stages_accept_the_dicm_s_preset_and_hand_it_to_the_task_config(configs):
    """--cfg-options model.backbone.codec.preset=s on stages 2-4 builds DICM-S there, and
    stage 4's codec has exactly the DICM-S task stage's tensors (its checkpoint loads)."""
    from mmengine.registry import MODELS, init_default_scope

    task = Config.fromfile(osp.join(ROOT, 'configs', 'mask-rcnn_dicm-s_from-stage4.py'))
    for k in (2, 3, 4):
        cfg = Config.fromfile(SETS['full'][k - 1])
        cfg.merge_from_dict({'model.backbone.codec.preset': 's'})
        init_default_scope(cfg.default_scope)
        codec = MODELS.build(cfg.model).backbone.codec
        assert codec.preset == 's' and codec.re.depths == (0, 1, 2)
        assert (codec.net is None) == (k < 4)
        if k == 4:
            assert codec.net.config['analysis_full_res_block'] is False
            init_default_scope(task.default_scope)
            theirs = MODELS.build(task.model).backbone.codec.state_dict()
            assert {k: v.shape for k, v in codec.state_dict().items()} == \
                {k: v.shape for k, v in theirs.items()}


def test_ssl_pipeline_sets_the_preset_where_there_is_a_codec(monkeypatch, tmp_path):
    """run_ssl_pipeline(codec_preset='s'): stages 2-4 and the task stages get it; stage 1
    (codec=None: the plain backbone) does not get a codec by the merge."""
    from mmdicm.apis import one_bitstream, ssl_pipeline

    seen = []

    def train(cfg):
        seen.append(cfg)
        return str(tmp_path / f'ckpt{len(seen)}.pth')

    monkeypatch.setattr(ssl_pipeline, 'train_to_checkpoint', train)
    monkeypatch.setattr(one_bitstream, 'train_to_checkpoint', train)
    monkeypatch.setattr(ssl_pipeline, 'compress_and_analyze', lambda *a, **k: dict(seconds={}))
    ssl_pipeline.run_ssl_pipeline(
        work_dir=str(tmp_path), data_root=osp.join(ROOT, 'data', 'embedded'),
        tasks=[ssl_pipeline.TASK_CONFIGS[0]], codec_preset='s', log=lambda _: None)
    presets = [(cfg.model.backbone.codec or {}).get('preset') for cfg in seen]
    assert presets == [None, 's', 's', 's', 's']
    assert seen[0].model.backbone.codec is None
    with pytest.raises(ValueError, match=r"codec_preset: codec preset must be one of "
                                         r"\['mmdicm-v1', 'release', 's'\], got 'x'"):
        ssl_pipeline.run_ssl_pipeline(work_dir=str(tmp_path), codec_preset='x')
