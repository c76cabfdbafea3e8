"""SemanticBoxHook: schedule, boxes from the model's own backbone, mode restoring, wrappers,
checkpoints, the distributed shard path (simulated) and a short real mmengine Runner run of
mmpretrain's MoCo with a DICMResNet backbone and persistent dataloader workers."""
from types import SimpleNamespace
from unittest.mock import MagicMock

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger
from mmengine.registry import HOOKS, MODEL_WRAPPERS, DefaultScope
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import MODELS
from torch.utils.data import DataLoader

import mmdicm.models  # noqa: F401  (registers DICMResNet)
from mmdicm.datasets.transforms import get_box_store
from mmdicm.engine.hooks import semantic_box_hook as box_hook_module
from mmdicm.engine.hooks.semantic_box_hook import SemanticBoxHook, compute_semantic_boxes
from mmdicm.models.selfsup.guidance import semantic_boxes

NUM_IMAGES = 7
LOGGER = MMLogger.get_instance('test_box_hook', log_level='INFO')


@MODEL_WRAPPERS.register_module(name='MMDICMBoxHookTestWrapper')
class Wrapper(nn.Module):

    def __init__(self, module):
        super().__init__()
        self.module = module


pytestmark = pytest.mark.usefixtures('one_thread_module')


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    """Images of different sizes, each a bright square on a dark noisy background."""
    root = tmp_path_factory.mktemp('box_hook_images')
    rng = np.random.default_rng(0)
    for i in range(NUM_IMAGES):
        h, w = 48 + 8 * i, 80 - 4 * i
        img = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[y:y + h // 3, x:x + w // 3] = 220
        cv2.imwrite(str(root / f'{i:03d}.png'), img)
    return root


def moco(backbone=None):
    cfg = dict(
        type='MoCo', queue_len=32, feat_dim=16, momentum=0.01,
        backbone=backbone or dict(type='DICMResNet', depth=18, out_indices=(3,), codec=None),
        neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=32, out_channels=16),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def train_dataset(image_dir, store, scale=32):
    view = [dict(type='SemanticGuidedCrop', scale=scale, crop_ratio_range=(0.2, 1.),
                 store=store), dict(type='RandomFlip', prob=0.5)]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return CustomDataset(
            data_root=str(image_dir), with_label=False,
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='MultiView', num_views=2, transforms=[view]),
                      dict(type='PackInputs')])


def mock_runner(model, dataset, epoch=0):
    loader = DataLoader(dataset, batch_size=4, collate_fn=default_collate)
    return SimpleNamespace(model=model, epoch=epoch, train_dataloader=loader,
                           train_loop=SimpleNamespace(),
                           logger=LOGGER)


def expected_boxes(hook, model, dataset):
    """Boxes computed one image at a time, straight from the pieces (no hook batching)."""
    plain = hook.plain_dataset(dataset)
    rows = []
    model.backbone.eval()
    with torch.no_grad():
        for i in range(len(plain)):
            data = model.data_preprocessor(default_collate([plain[i]]), False)
            feats = model.backbone(data['inputs'])[-1]
            rows.append(semantic_boxes(feats, data['inputs'].shape[-2:], hook.threshold))
    model.backbone.train()
    return torch.cat(rows)


def test_registered_and_validated():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        hook = HOOKS.build(dict(type='SemanticBoxHook', interval=5, start=10, store='reg'))
    assert isinstance(hook, SemanticBoxHook) and hook.store is get_box_store('reg')
    for kwargs, match in ((dict(interval=0), 'interval'), (dict(start=-1), 'start'),
                          (dict(threshold=1.), 'threshold'), (dict(image_size=0), 'image_size'),
                          (dict(batch_size=0), 'batch_size'), (dict(pipeline=[]), 'pipeline'),
                          (dict(backbone=''), 'backbone'), (dict(num_workers=-1), 'num_workers')):
        with pytest.raises(ValueError, match=match):
            SemanticBoxHook(**kwargs)


def test_schedule():
    hook = SemanticBoxHook(interval=20, start=20, store='schedule')
    hook.store.allocate(1)
    hook.store.update(torch.tensor([[0., 0., 1., 1.]]))
    assert [e for e in range(101) if hook.should_refresh(e)] == [20, 40, 60, 80, 100]
    hook.store.reset()   # e.g. resumed at epoch 30 from a checkpoint without boxes
    assert not hook.should_refresh(19) and hook.should_refresh(30)


def test_fills_the_store_at_the_right_epochs_and_restores_modes(image_dir):
    name = 'hook-epochs'
    model = moco()
    dataset = train_dataset(image_dir, name)
    hook = SemanticBoxHook(interval=2, start=1, image_size=48, batch_size=3, num_workers=0,
                           store=name)
    runner = mock_runner(model, dataset)
    model.train()
    model.backbone.layer1.eval()          # a frozen part stays frozen
    modes = {n: m.training for n, m in model.named_modules()}

    hook.before_train(runner)
    store = hook.store
    assert store.num_samples == NUM_IMAGES and not store.ready
    seen = []
    for epoch in range(6):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        seen.append(store.epoch)
        assert {n: m.training for n, m in model.named_modules()} == modes
        if epoch == 1:
            first = store.boxes
    assert seen == [-1, 1, 1, 3, 3, 5]

    boxes = store.boxes
    assert torch.isfinite(boxes).all() and ((boxes >= 0) & (boxes <= 1)).all()
    assert ((boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])).all()
    torch.testing.assert_close(first, boxes)   # same weights: same boxes
    torch.testing.assert_close(boxes, expected_boxes(hook, model, dataset))

    # the train pipeline now crops inside the boxes, and MoCo trains on it
    batch = next(iter(runner.train_dataloader))
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert torch.isfinite(losses['loss'])


def test_wrapped_model_custom_pipeline_and_real_coding_flag(image_dir):
    name = 'hook-wrapped'
    model = moco()
    model.backbone.real_coding = True      # must not be used (nor left changed)
    dataset = train_dataset(image_dir, name)
    hook = SemanticBoxHook(start=0, image_size=(48, 64), batch_size=4, num_workers=0,
                           store=name,
                           pipeline=[dict(type='LoadImageFromFile'),
                                     dict(type='Resize', scale=(64, 48), keep_ratio=False),
                                     dict(type='PackInputs')])
    runner = mock_runner(Wrapper(model), dataset)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert hook.store.ready and hook.store.epoch == 0 and model.backbone.real_coding is True
    torch.testing.assert_close(hook.store.boxes, expected_boxes(hook, model, dataset))


def test_checkpoint_round_trip_and_resume(image_dir):
    name = 'hook-ckpt'
    model = moco()
    dataset = train_dataset(image_dir, name)
    kwargs = dict(interval=3, start=1, image_size=32, num_workers=0, store=name)
    hook = SemanticBoxHook(**kwargs)
    runner = mock_runner(model, dataset, epoch=1)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    saved = checkpoint['semantic_boxes']
    assert saved['ready'] and saved['epoch'] == 1

    # resume at epoch 2 (no refresh due): the saved boxes come back, nothing is recomputed
    resumed = SemanticBoxHook(**kwargs)
    resumed.after_load_checkpoint(runner, checkpoint)
    runner.epoch = 2
    resumed.before_train(runner)
    calls = []
    resumed.refresh = lambda r: calls.append(r.epoch)
    resumed.before_train_epoch(runner)
    assert calls == [] and resumed.store.epoch == 1
    torch.testing.assert_close(resumed.store.boxes, saved['boxes'])

    # a checkpoint without boxes: recomputed at the first epoch >= start
    fresh = SemanticBoxHook(**kwargs)
    fresh.after_load_checkpoint(runner, {})
    fresh.before_train(runner)
    assert not fresh.store.ready
    fresh.before_train_epoch(runner)
    assert fresh.store.ready and fresh.store.epoch == 2

    # load_from at epoch 0 (not a resume past start): plain crops until start
    runner.epoch = 0
    loaded = SemanticBoxHook(**kwargs)
    loaded.after_load_checkpoint(runner, checkpoint)
    loaded.before_train(runner)
    assert not loaded.store.ready


def test_distributed_shards_are_summed(image_dir, monkeypatch):
    """Rank 1 of 2 computes the odd rows; all_reduce brings rank 0's even rows."""
    name = 'hook-dist'
    model = moco()
    dataset = train_dataset(image_dir, name)
    hook = SemanticBoxHook(start=0, image_size=32, batch_size=2, num_workers=0, store=name)
    runner = mock_runner(model, dataset)
    hook.before_train(runner)
    plain = hook.plain_dataset(dataset)
    rank0 = compute_semantic_boxes(model, plain, range(0, NUM_IMAGES, 2), NUM_IMAGES,
                                   collate_fn=default_collate)
    assert (rank0[1::2] == 0).all() and (rank0[0::2, 2:] > 0).all()
    reduced = []

    def fake_all_reduce(data, op='sum'):
        assert op == 'sum'
        reduced.append(data.clone())
        data += rank0

    monkeypatch.setattr(box_hook_module, 'get_dist_info', lambda: (1, 2))
    monkeypatch.setattr(box_hook_module, 'all_reduce', fake_all_reduce)
    hook.before_train_epoch(runner)
    assert (reduced[0][0::2] == 0).all() and (reduced[0][1::2, 2:] > 0).all()
    torch.testing.assert_close(hook.store.boxes, expected_boxes(hook, model, dataset))


def test_refuses_what_it_cannot_serve(image_dir):
    name = 'hook-refuse'
    model = moco()
    dataset = train_dataset(image_dir, name)
    runner = mock_runner(model, dataset)
    runner.train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    with pytest.raises(TypeError, match='epoch-based'):
        SemanticBoxHook(store=name).before_train(runner)
    runner = mock_runner(model, dataset)
    runner.train_dataloader._iterator = object()  # persistent workers already running
    with pytest.raises(RuntimeError, match='persistent workers'):
        SemanticBoxHook(store=name).before_train(runner)
    runner = mock_runner(model, dataset)
    with pytest.raises(AttributeError, match='encoder'):
        hook = SemanticBoxHook(start=0, backbone='encoder', store=name, num_workers=0)
        hook.before_train(runner)
        hook.before_train_epoch(runner)
    runner.logger = MagicMock()
    SemanticBoxHook(store='nobody-reads-this').before_train(runner)
    assert 'no SemanticGuidedCrop' in runner.logger.warning.call_args[0][0]


def test_real_runner_with_persistent_workers(image_dir, tmp_path):
    """mmengine's Runner, mmpretrain's MoCo + DICMResNet, a config-built hook and transform:
    boxes computed before epochs 1 and 2 (0-based) and used by persistent workers."""
    from mmengine.runner import Runner
    name = 'default'   # what a config gets without naming a store
    view = [dict(type='SemanticGuidedCrop', scale=32, crop_ratio_range=(0.2, 1.)),
            dict(type='RandomFlip', prob=0.5)]
    used = []
    store = get_box_store(name)
    original_update = store.update
    store.update = lambda boxes, epoch=0: (used.append(epoch), original_update(boxes, epoch))
    try:
        runner = Runner(
            model=dict(
                type='MoCo', queue_len=32, feat_dim=16, momentum=0.01,
                backbone=dict(type='DICMResNet', depth=18, out_indices=(3,), codec=None),
                neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=32,
                          out_channels=16),
                head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                          temperature=0.2),
                data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                       mean=[123.675, 116.28, 103.53],
                                       std=[58.395, 57.12, 57.375], to_rgb=True)),
            work_dir=str(tmp_path),
            train_dataloader=dict(
                batch_size=4, num_workers=2, persistent_workers=True, drop_last=True,
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'),
                dataset=dict(type='CustomDataset', data_root=str(image_dir), with_label=False,
                             pipeline=[dict(type='LoadImageFromFile'),
                                       dict(type='MultiView', num_views=2, transforms=[view]),
                                       dict(type='PackInputs')])),
            train_cfg=dict(by_epoch=True, max_epochs=3),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
            custom_hooks=[dict(type='SemanticBoxHook', interval=1, start=1, image_size=32,
                               batch_size=4, num_workers=0)],
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=100),
                               logger=dict(type='LoggerHook', interval=1)),
            default_scope='mmpretrain',
            env_cfg=dict(mp_cfg=dict(mp_start_method='fork')),
            log_level='WARNING')
        runner.train()
    finally:
        del store.update
    assert used == [1, 2]
    multi_view = runner.train_dataloader.dataset.pipeline.transforms[1]
    assert multi_view.transforms[0].transforms[0].store is store
    assert store.ready and store.epoch == 2 and store.num_samples == NUM_IMAGES
    assert runner.train_dataloader._iterator is not None   # workers persisted across epochs
