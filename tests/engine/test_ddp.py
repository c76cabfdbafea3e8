"""Two-process DDP on CPU through ``tools/dist_train.sh`` (torchrun, gloo) with the rate hooks.

The configs keep the model zoo's ``env_cfg.dist_cfg.backend='nccl'`` and set no
``find_unused_parameters``: DICMRunner starts gloo on a CPU-only machine, wraps DDP without
GPU ids and looks for unused parameters by default (the RE latent's density model gets no
gradient while ``lambda_re=0``), so the shipped configs run as they are.
"""
import hashlib
import json
import os.path as osp
import socket
import subprocess
import sys

import pytest

from dicm_tiny import ROOT, make_data, one_thread_env, write_tiny_config
from mmdicm.engine import load_trusted_checkpoint

DIST_TRAIN = osp.join(ROOT, 'tools', 'dist_train.sh')
MAX_ITERS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.parametrize('model', ['classifier', pytest.param('mask-rcnn',
                                                              marks=pytest.mark.slow)])
def test_two_process_ddp_on_cpu_with_the_rate_hooks(model, tmp_path):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    probe, work = tmp_path / 'probe', tmp_path / 'work'
    config = write_tiny_config(str(tmp_path / f'tiny_{model}.py'), model, data_root,
                               probe_dir=str(probe), max_iters=MAX_ITERS, name=f'ddp-{model}')
    env = one_thread_env()
    env.update(PYTHON=sys.executable, MASTER_PORT=str(_free_port()))
    env.pop('PORT', None)
    proc = subprocess.run(['bash', DIST_TRAIN, config, '2', '--work-dir', str(work)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]

    ranks = [json.loads((probe / f'rank_{r}.json').read_text()) for r in (0, 1)]
    for r in ranks:
        assert r['iter'] == MAX_ITERS and r['finite'], r['losses']
        assert {'loss_rate', 'loss_aux'} <= set(r['losses'])  # the hooks ran inside DDP
    # each rank trained on its own images (DistributedSampler) ...
    assert ranks[0]['losses'] != ranks[1]['losses']
    # ... and all-reduced gradients kept every parameter bit-identical
    assert ranks[0]['params'] == ranks[1]['params']
    # the checkpoint rank 0 wrote is what rank 1 holds
    state = load_trusted_checkpoint(str(work / f'iter_{MAX_ITERS}.pth'))['state_dict']
    saved = {name: hashlib.sha256(state[name].contiguous().numpy().tobytes()).hexdigest()
             for name in ranks[1]['params']}
    assert saved == ranks[1]['params']
