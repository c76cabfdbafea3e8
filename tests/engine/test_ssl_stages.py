"""DICM's four training stages through mmengine's Runner, from the shipped demo configs (shrunk
to tiny widths and 8 images): each trains, freezes exactly what it should, logs its loss
terms, and its checkpoint loads into the next stage -- and stage 4's into the demo Mask R-CNN
-- with no unexpected missing keys. Then the chain's task stages on stage 4's edge: a
detector and a classifier that read one set of container files."""
import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, MODELS, DefaultScope, init_default_scope

from mmdicm.engine.checkpoint import load_trusted_checkpoint
from mmdicm.apis.launch import build_runner, prepare_config
from mmdicm.engine.hooks.rate_distortion_hook import RateDistortionLossHook
from mmdicm.apis.ssl_pipeline import SSL_STAGES, TASK_CONFIGS, last_checkpoint

TINY_RE = dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1))
TINY_NET = dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
                hyper_heads=2, gl_size=(8, 5))
NUM_IMAGES = 8
PARTS = {'head': ('backbone.conv1.', 'backbone.bn1.', 'backbone.layer1.'),
         'tail': ('backbone.layer2.', 'backbone.layer3.', 'backbone.layer4.'),
         're': ('backbone.codec.re.', ), 'net': ('backbone.codec.net.', ), 'neck': ('neck.', )}
#: stage -> (parts trained, parts frozen)
EXPECTED = {1: ({'head', 'tail', 'neck'}, set()),
            2: ({'re'}, {'head', 'tail', 'neck'}),
            3: ({'head', 're', 'tail', 'neck'}, set()),
            4: ({'net'}, {'head', 're', 'tail', 'neck'})}
#: stage -> the loss-dict keys its forward must produce
LOSS_KEYS = {1: {'loss_contrastive'},
             2: {'loss_rate_re', 'bpp_re', 'loss_aux', 'loss_dist_f2_f1', 'dist_f2_f1'},
             3: {'loss_contrastive', 'loss_rate_re', 'bpp_re', 'loss_aux', 'loss_dist_f2_f1'},
             4: {'loss_rate', 'bpp', 'loss_aux', 'loss_dist_f3_f2', 'loss_dist_tail',
                 'dist_tail'}}
#: stage -> prefix of the keys it adds to the previous stage's model
NEW_PART = {2: 'codec.re.', 3: None, 4: 'codec.net.'}


pytestmark = pytest.mark.usefixtures('one_thread_module')


@HOOKS.register_module(name='MMDICMStageRecordHook')
class StageRecordHook(Hook):
    """Parameters (and batch-norm statistics) after loading and after training; the loss
    dict keys of every training iteration."""

    priority = 'VERY_HIGH'
    records = {}

    def __init__(self, key):
        self.key = key

    @staticmethod
    def _state(runner):
        return {n: t.detach().clone() for n, t in runner.model.state_dict().items()
                if not n.startswith('encoder_k.') and t.dtype.is_floating_point
                and 'entropy_bottleneck._' not in n and 'gaussian_conditional._' not in n
                and 'scale_table' not in n}

    def before_train(self, runner):
        self.records[self.key] = dict(before=self._state(runner), losses=[])

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.records[self.key]['losses'].append(
            {k: float(torch.as_tensor(v).detach()) for k, v in (outputs or {}).items()})

    def after_train(self, runner):
        self.records[self.key]['after'] = self._state(runner)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """A tiny classification view: images of a bright shape on noise, in an ann file."""
    root = tmp_path_factory.mktemp('ssl_stages_data')
    (root / 'train').mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(NUM_IMAGES):
        img = rng.integers(0, 60, (72, 72, 3), dtype=np.uint8)
        y, x = rng.integers(0, 36, 2)
        img[y:y + 30, x:x + 30] = rng.integers(150, 255, 3)
        cv2.imwrite(str(root / 'train' / f'{i:03d}.jpg'), img)
        lines.append(f'train/{i:03d}.jpg {i % 4}')
    (root / 'train.txt').write_text('\n'.join(lines) + '\n')
    return str(root) + '/'


def shrink(cfg: Config, key: str) -> Config:
    """Tiny widths, 8 images, 2 iterations, no worker processes; the recording hook."""
    cfg.model.queue_len, cfg.model.feat_dim = 8, 8
    cfg.model.neck.update(hid_channels=16, out_channels=8)
    codec = cfg.model.backbone.codec
    if codec is not None:
        if codec.get('re', {}) is not None:
            codec['re'] = dict(TINY_RE)
        if codec.get('net', {}) is not None:
            codec['net'] = dict(TINY_NET)
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_epochs = 1
    for hook in cfg.custom_hooks:
        if hook['type'] == 'SemanticBoxHook':
            hook.update(batch_size=4, num_workers=0)
    cfg.custom_hooks.append(dict(type='MMDICMStageRecordHook', key=key))
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.fixture(scope='module')
def chain(data_root, tmp_path_factory):
    """The four demo stages, each loading the previous checkpoint (as tools/ssl_pipeline.py)."""
    work = tmp_path_factory.mktemp('ssl_stages')
    checkpoints, configs = {}, {}
    for k, path in enumerate(SSL_STAGES, 1):
        options = {'train_dataloader.dataset.data_root': data_root}
        if k > 1:
            options['load_from'] = checkpoints[k - 1]
        cfg = shrink(prepare_config(path, work_dir=str(work / f'stage{k}'),
                                    cfg_options=options), key=k)
        build_runner(cfg).train()
        checkpoints[k] = last_checkpoint(cfg.work_dir)
        configs[k] = cfg
    return dict(checkpoints=checkpoints, configs=configs, records=StageRecordHook.records)


def _parts_of(name):
    return {part for part, prefixes in PARTS.items() if name.startswith(prefixes)}


@pytest.mark.parametrize('stage', [1, 2, 3, 4])
def test_each_stage_trains_exactly_its_parts(chain, stage):
    record = chain['records'][stage]
    before, after = record['before'], record['after']
    trained, frozen = EXPECTED[stage]
    changed = {part: False for part in trained}
    for name, value in before.items():
        parts = _parts_of(name)
        if parts & frozen:
            assert torch.equal(value, after[name]), f'stage {stage}: frozen {name} changed'
        elif parts & trained and not torch.equal(value, after[name]):
            changed.update({p: True for p in parts & trained})
    assert all(changed.values()), f'stage {stage}: parts that did not train: {changed}'


@pytest.mark.parametrize('stage', [1, 2, 3, 4])
def test_each_stage_logs_its_loss_terms(chain, stage):
    losses = chain['records'][stage]['losses']
    assert len(losses) == NUM_IMAGES // 4
    for logged in losses:
        assert LOSS_KEYS[stage] <= set(logged), set(logged)
        assert all(math.isfinite(v) for v in logged.values())
        unexpected = {'loss_rate', 'bpp'} if stage < 4 else {'loss_contrastive'}
        assert not unexpected & set(logged)


def _model_of(cfg):
    init_default_scope(cfg.default_scope)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('stage', [2, 3, 4])
def test_checkpoint_loads_into_the_next_stage(chain, stage):
    """Only the part a stage adds is missing, nothing is unexpected, shapes agree."""
    state = load_trusted_checkpoint(chain['checkpoints'][stage - 1])['state_dict']
    model = _model_of(chain['configs'][stage]).state_dict()
    missing, unexpected = set(model) - set(state), set(state) - set(model)
    assert not unexpected
    new = NEW_PART[stage]
    allowed = () if new is None else ('backbone.' + new, 'encoder_k.module.0.' + new)
    assert missing and all(k.startswith(allowed) for k in missing) if new else not missing
    resizable = ('_quantized_cdf', '_offset', '_cdf_length', 'scale_table')
    for k in set(state) & set(model):
        if not k.endswith(resizable):
            assert state[k].shape == model[k].shape, k


def _detector_cfg():
    cfg = Config.fromfile(TASK_CONFIGS[0][1])
    cfg.model.backbone.codec = dict(re=dict(TINY_RE), net=dict(TINY_NET))
    return cfg


def test_stage4_initialises_the_demo_mask_rcnn(chain):
    """The MoCo checkpoint's backbone.* is the detector's backbone: every key present with its
    shape, loaded by DICMPretrained (prefix) and by load_from alike."""
    path = chain['checkpoints'][4]
    state = load_trusted_checkpoint(path)['state_dict']
    cfg = _detector_cfg()
    detector = _model_of(cfg)
    backbone = {k: v for k, v in detector.state_dict().items() if k.startswith('backbone.')}
    assert set(backbone) <= set(state)
    # what a user writes in the detector config (or as --cfg-options)
    cfg.model.backbone.init_cfg = dict(type='DICMPretrained', prefix='backbone.',
                                       checkpoint=path)
    detector = _model_of(cfg)
    detector.init_weights()
    loaded = detector.state_dict()
    for k in backbone:
        assert torch.equal(loaded[k], state[k]), k
    # the codec's entropy tables came along: real coding works at once
    detector.backbone.eval().real_coding = True
    with torch.no_grad():
        outs = detector.backbone(torch.rand(1, 3, 64, 64))
    assert len(detector.backbone.last_bitstreams) == 1 and len(outs) == 4


@pytest.mark.slow
def test_raising_the_rate_weight_lowers_the_rate():
    """Stage 4 (compression network alone): a larger lambda gives fewer bits."""
    from mmdicm.models.selfsup.moco import DICMMoCoV2  # noqa: F401
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    bpp = {}
    for lam in (0.01, 20.):
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(dict(
                type='DICMMoCoV2', queue_len=8, feat_dim=8, contrastive_weight=0.,
                backbone=dict(type='DICMResNet', depth=18, out_indices=(3, ),
                              frozen_parts=('head', 're', 'tail'),
                              codec=dict(re=dict(TINY_RE), net=dict(TINY_NET))),
                neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16,
                          out_channels=8),
                head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                          temperature=0.2))).train()
        hook = RateDistortionLossHook(
            lambda_rate=lam, distortions=[dict(pred='f3', target='f2', weight=2048.)],
            tail_distortion=dict(target='f2', weights=(384., 256., 192.)))
        hook.attach(model)
        optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        values = []
        for _ in range(40):
            losses = model([images], None, mode='loss')
            optim.zero_grad()
            sum(v for k, v in losses.items() if 'loss' in k).backward()
            optim.step()
            values.append(float(losses['bpp']))
        hook.detach()
        bpp[lam] = sum(values[-5:]) / 5
    assert bpp[20.] < 0.7 * bpp[0.01], bpp


def _tiny_task_options(name):
    """The tiny edge of the test chain, no worker processes, small batches."""
    options = {'model.backbone.codec': dict(re=dict(TINY_RE), net=dict(TINY_NET)),
               'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
               'train_dataloader.persistent_workers': False, 'log_level': 'WARNING'}
    if name == 'detector':  # every box kept: a 2-iteration detector scores low
        options['model.test_cfg.rcnn.score_thr'] = 0.0
    return options


@pytest.fixture(scope='module')
def tasks(chain, tmp_path_factory):
    """Both CPU task stages (2 iterations each) on stage 4's edge, then one compress of 3
    embedded val images and both analyses, as tools/ssl_pipeline.py chains them."""
    from mmdicm.apis.one_bitstream import TASK_CONFIGS, compress_and_analyze, run_task_stage
    from mmdicm.datasets import generate_embedded_dataset
    work = tmp_path_factory.mktemp('one_bitstream')
    data = str(work / 'embedded')
    generate_embedded_dataset(data, num_train=4, num_val=3, image_size=64, max_objects=2)
    stage4 = chain['checkpoints'][4]
    models = []
    for name, config in TASK_CONFIGS:
        ckpt = run_task_stage(config, stage4, str(work / name), data, iters=2,
                              cfg_options=_tiny_task_options(name))
        models.append((name, config, ckpt))
    tiny = {'model.backbone.codec': dict(re=dict(TINY_RE), net=dict(TINY_NET))}
    options = dict(detector=dict(tiny, **{'model.test_cfg.rcnn.score_thr': 0.0}),
                   classifier=tiny)
    result = compress_and_analyze(models, data, str(work / 'shared'), cfg_options=options,
                                  log=lambda _: None)
    return dict(models=models, result=result, stage4=stage4, data=data)


def test_two_task_models_read_the_same_files(tasks):
    """One compress, a detector and a classifier of one edge: every file decodes in both,
    each gives its task's predictions and metric, against the one measured rate."""
    result = tasks['result']
    assert not any(result['failures'].values()), result['failures']
    assert result['num_files'] == 3 and result['bpp'] > 0
    assert 'coco/bbox_mAP' in result['metrics']['detector']
    assert 'coco/segm_mAP' in result['metrics']['detector']
    assert 0 <= result['metrics']['classifier']['accuracy/top1'] <= 100
    with open(osp.join(osp.dirname(result['files']), 'classifier.json')) as f:
        records = json.load(f)
    assert len(records) == 3 and all('pred_label' in r for r in records)
    with open(osp.join(osp.dirname(result['files']), 'detector.json')) as f:
        assert {r['image_id'] for r in json.load(f)} <= {1, 2, 3}


def test_task_stages_keep_the_edge_and_train_the_receiver(tasks):
    """Each task checkpoint holds stage 4's bit-deciding weights bit for bit (stem + layer1,
    RE, g_a, h_a, h_s, entropy models) and a changed receiver (g_s, tail)."""
    stage4 = load_trusted_checkpoint(tasks['stage4'])['state_dict']
    edge = ('backbone.conv1.', 'backbone.bn1.', 'backbone.layer1.', 'backbone.codec.re.',
            'backbone.codec.net.g_a.', 'backbone.codec.net.h_a.', 'backbone.codec.net.h_s.',
            'backbone.codec.net.entropy_bottleneck.',
            'backbone.codec.net.gaussian_conditional.', 'backbone.codec.net.context_mixture.')
    receiver = ('backbone.codec.net.g_s.', 'backbone.layer2.', 'backbone.layer3.')
    for name, _, ckpt in tasks['models']:
        state = load_trusted_checkpoint(ckpt)['state_dict']
        keys = [k for k in stage4 if k.startswith(edge)]
        assert len(keys) > 50
        for k in keys:
            assert torch.equal(state[k], stage4[k]), f'{name}: edge weight {k} changed'
        assert any(not torch.equal(state[k], stage4[k]) for k in stage4
                   if k.startswith(receiver) and stage4[k].is_floating_point()), name


def test_task_options_and_a_config_that_is_not_a_task_stage(tmp_path):
    from mmdicm.apis.one_bitstream import TASK_CONFIGS, _task_options, run_task_stage
    cfg = prepare_config(TASK_CONFIGS[0][1], work_dir=str(tmp_path),
                         cfg_options=_task_options('/data/embedded', '/x/s4.pth', 5, 0))
    assert cfg.val_dataloader is None and cfg.test_dataloader is None
    assert cfg.model.backbone.init_cfg.checkpoint == '/x/s4.pth'
    assert cfg.train_dataloader.dataset.data_root == '/data/embedded/'
    assert cfg.train_cfg.max_iters == 5 and 'edge' in cfg.model.backbone.frozen_parts
    with pytest.raises(ValueError, match="not a task stage.*'edge'"):
        run_task_stage(TASK_CONFIGS[0][1], '/x/s4.pth', str(tmp_path),
                       cfg_options={'model.backbone.frozen_parts': ('re', )})


def test_last_checkpoint_and_summary(tmp_path):
    from mmdicm.apis.ssl_pipeline import format_pipeline_summary
    with pytest.raises(FileNotFoundError):
        last_checkpoint(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/epoch_2.pth')
    assert last_checkpoint(str(tmp_path)) == '/elsewhere/epoch_2.pth'
    shared = dict(files='/w/bitstreams', num_files=100, bpp=0.75,
                  metrics=dict(detector={'coco/bbox_mAP': 0.12, 'coco/segm_mAP': 0.1},
                               classifier={'accuracy/top1': 61.0}),
                  failures=dict(compress=[], detector=[], classifier=[('a.dicm', 'bad')]))
    text = format_pipeline_summary(dict(
        checkpoints=['a', 'b', 'c', 'd'], num_stages=4,
        task_checkpoints=dict(detector='e', classifier='f'), one_bitstream=shared,
        seconds=dict(stage1=60., detector=60.)))
    assert 'detector   e' in text and 'classifier f' in text
    assert '100 files in /w/bitstreams, 0.750 bpp' in text
    assert 'bbox mAP 0.120, segm mAP 0.100' in text and 'top-1 % 61.000' in text
    assert 'FAILED files: classifier 1' in text and 'time: 2.0 min' in text
