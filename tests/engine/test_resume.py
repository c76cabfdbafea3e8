"""``tools/train.py`` killed (SIGKILL) after a mid-run checkpoint, then ``--resume``: training
continues from that iteration to the end, and the entropy tables, the estimated bpp and the
real containers of a fixed batch are exactly those of the model that wrote the checkpoint."""
import json
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from dicm_tiny import (ROOT, TABLE_SUFFIXES, fixed_batch_probe, make_data, one_thread_env,
                       write_tiny_config)
from mmdicm.engine import load_trusted_checkpoint
from mmdicm.apis.launch import build_runner, prepare_config

TRAIN = osp.join(ROOT, 'tools', 'train.py')
MAX_ITERS, INTERVAL = 8, 2


def _read(path):
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ''


def _wait_for_checkpoint(path, proc, timeout=180.):
    """Poll until mmengine's ``last_checkpoint`` names a checkpoint (it is created empty,
    then written, after the ``.pth`` file is complete)."""
    deadline = time.monotonic() + timeout
    while not _read(path).endswith('.pth'):
        if proc.poll() is not None:
            pytest.fail(f'training ended (rc {proc.returncode}) before writing {path}')
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f'no {path} after {timeout} s')
        time.sleep(0.02)


def test_train_tool_resumes_after_sigkill_with_identical_tables_and_bitstreams(tmp_path,
                                                                              one_thread):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    probe_dir, work = tmp_path / 'probe', tmp_path / 'work'
    # a 0.3 s pause per iteration keeps the run alive well past its first checkpoint
    config = write_tiny_config(str(tmp_path / 'tiny_cls.py'), 'classifier', data_root,
                               probe_dir=str(probe_dir), probe_sleep=0.3, max_iters=MAX_ITERS,
                               checkpoint_interval=INTERVAL, name='resume')
    cmd = [sys.executable, TRAIN, config, '--work-dir', str(work)]
    with open(tmp_path / 'first.err', 'w') as err:
        proc = subprocess.Popen(cmd, env=one_thread_env(), cwd=str(tmp_path),
                                stdout=subprocess.DEVNULL, stderr=err)
        _wait_for_checkpoint(work / 'last_checkpoint', proc)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    ckpt_path = (work / 'last_checkpoint').read_text().strip()
    killed_at = int(osp.basename(ckpt_path)[len('iter_'):-len('.pth')])
    assert killed_at % INTERVAL == 0 and 0 < killed_at < MAX_ITERS, ckpt_path
    assert not (work / f'iter_{MAX_ITERS}.pth').exists()

    # what the live training model measured right after the tables were refreshed for save
    before = json.loads((probe_dir / f'probe_iter_{killed_at}.json').read_text())

    proc = subprocess.run(cmd + ['--resume'], env=one_thread_env(), cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = sorted(work.glob('*/*.log'))[-1].read_text()
    assert f'resumed epoch: 0, iter: {killed_at}' in log
    iters = [int(line.split('Iter(train) [')[1].split('/')[0])
             for line in log.splitlines() if 'Iter(train) [' in line]
    assert iters == list(range(killed_at + 1, MAX_ITERS + 1))
    assert (work / f'iter_{MAX_ITERS}.pth').exists()

    # the checkpoint into a fresh runner: the tables come from it, not from update()
    checkpoint = load_trusted_checkpoint(ckpt_path)
    runner = build_runner(prepare_config(config, work_dir=str(tmp_path / 'fresh'),
                                         resume=ckpt_path))
    tables = [k for k in checkpoint['state_dict'] if k.endswith(TABLE_SUFFIXES)]
    # 3 buffers x (RE bottleneck, z's bottleneck); the default preset's y has no stored
    # tables (built per symbol from the coded mixture parameters)
    assert len(tables) >= 6
    fresh = runner.model.state_dict()
    assert all(fresh[k].numel() == 0 for k in tables)  # nothing computed them yet
    runner.load_or_resume()
    assert runner.iter == killed_at
    state = runner.model.state_dict()
    for key in tables:
        assert checkpoint['state_dict'][key].numel() > 0, key
        assert torch.equal(state[key], checkpoint['state_dict'][key]), key
    after = fixed_batch_probe(runner.model)
    assert after['bpp'] == before['bpp']
    assert after['containers'] == before['containers']
