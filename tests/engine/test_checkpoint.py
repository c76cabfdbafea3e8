"""torch>=2.6 weights_only trap: mmengine checkpoints save and resume through DICMRunner."""
import copy
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmdicm.engine import (DICMRunner, checkpoint_safe_globals, load_trusted_checkpoint,
                           mmengine_checkpoint_globals)


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        if mode == 'loss':
            return dict(loss=((out - data_samples.view(-1, 1).float())**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, 4, generator=g)
        self.y = self.x.sum(1)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], data_samples=self.y[i])


def _cfg(work_dir, max_epochs, resume):
    return dict(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4, num_workers=0, collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmengine',
        # MessageHub/logger are per-name singletons: runners built in the same second would share
        # them (the default name is a timestamp) and mix their histories.
        experiment_name=f'{work_dir.parent.name}-{work_dir.name}-{max_epochs}-{resume}',
    )


def test_stock_loading_still_hits_the_trap(tmp_path):
    """Guards the need for the fix: if this ever passes, mmengine/torch fixed it upstream."""
    runner = Runner(**_cfg(tmp_path, 1, False))
    runner.train()
    with pytest.raises(pickle.UnpicklingError, match='weights_only'):
        torch.load(tmp_path / 'epoch_1.pth')


def test_dicm_runner_resumes_an_interrupted_run(tmp_path):
    runner = DICMRunner(**_cfg(tmp_path, 1, False))
    runner.train()
    saved = copy.deepcopy(runner.model.state_dict())
    safe_before = torch.serialization.get_safe_globals()

    resumed = DICMRunner(**_cfg(tmp_path, 2, True))
    resumed.load_or_resume()
    assert resumed.epoch == 1 and resumed.iter == 2
    for key, value in saved.items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    # optimizer momentum and message hub history came back too
    state = resumed.optim_wrapper.optimizer.state_dict()['state']
    assert state and all('momentum_buffer' in s for s in state.values())
    assert resumed.message_hub.get_scalar('train/loss').data[0].size == 2
    # the allow-list was scoped to the load: none of ours is left. (Compare our entries only:
    # third-party imports done lazily during the resume, e.g. torch_geometric's, add safe
    # globals of their own; a whole-list comparison failed on that in a full suite.)
    ours = [g for g in checkpoint_safe_globals() if g not in safe_before]
    assert ours, 'the test needs globals that only the scoped load allow-lists'
    after = torch.serialization.get_safe_globals()
    assert not [g for g in ours if g in after]

    resumed.train()  # continues to epoch 2 from the restored state
    assert resumed.epoch == 2 and (tmp_path / 'epoch_2.pth').exists()


def test_load_trusted_checkpoint_and_scoped_context(tmp_path):
    DICMRunner(**_cfg(tmp_path, 1, False)).train()
    ckpt = load_trusted_checkpoint(str(tmp_path / 'epoch_1.pth'))
    assert ckpt['meta']['epoch'] == 1 and 'linear.weight' in ckpt['state_dict']
    with mmengine_checkpoint_globals():
        torch.load(tmp_path / 'epoch_1.pth')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / 'epoch_1.pth')  # outside the context: refused again


def test_dicm_runner_is_found_through_the_registry():
    from mmengine.registry import RUNNERS
    assert RUNNERS.get('DICMRunner') is DICMRunner
