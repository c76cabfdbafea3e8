"""Dataloader workers die with their trainer, also after ``kill -9`` (DICMRunner installs
:class:`~mmdicm.engine.runner.ExitWithParent` as their ``worker_init_fn``)."""
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import time

import pytest

from dicm_tiny import DEMO_CONFIGS, ROOT, make_data, one_thread_env, tiny_options
from mmdicm.engine import DICMRunner
from mmdicm.apis.launch import prepare_config
from mmdicm.engine.runner import ExitWithParent


def _alive(pid: int) -> bool:
    """Running (a zombie, reparented to an init that does not reap, counts as gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def test_exit_with_parent_chains_the_loaders_own_init_and_pickles():
    calls = []
    fn = ExitWithParent(calls.append, parent_pid=-1)  # not our parent: sets nothing
    fn(3)
    assert calls == [3]
    copy = pickle.loads(pickle.dumps(ExitWithParent(None)))  # spawn start method pickles it
    assert copy.parent_pid == os.getpid() and copy.worker_init_fn is None


def test_the_runner_wraps_the_loaders_it_builds():
    loader = DICMRunner.build_dataloader(
        dict(dataset=list(range(4)), sampler=dict(type='DefaultSampler', shuffle=False),
             batch_size=1, num_workers=2),
        seed=0)
    assert isinstance(loader.worker_init_fn, ExitWithParent)
    assert loader.worker_init_fn.worker_init_fn is not None  # mmengine's seeding still runs
    loader0 = DICMRunner.build_dataloader(
        dict(dataset=list(range(4)), sampler=dict(type='DefaultSampler', shuffle=False),
             batch_size=1, num_workers=0))
    assert loader0.worker_init_fn is None  # no workers: nothing to do
    assert DICMRunner.build_dataloader(loader) is loader  # a built loader is left alone
    assert list(loader) == [[0], [1], [2], [3]]  # and its workers run (and exit) normally


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='prctl(PR_SET_PDEATHSIG)')
def test_workers_die_with_a_sigkilled_training_run(tmp_path):
    """Two workers sleep inside __getitem__ (torch's own watchdog would notice the dead
    parent only when they finish, 120 s later); after SIGKILL of tools/train.py they must be
    gone within 5 s."""
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    markers = tmp_path / 'markers'
    markers.mkdir()
    opts = tiny_options('classifier', data_root, max_iters=100, name='kill-9')
    opts.update({'train_dataloader.num_workers': 2,
                 'train_dataloader.persistent_workers': True})
    cfg = prepare_config(DEMO_CONFIGS['classifier'], cfg_options=opts)
    cfg.custom_imports = dict(imports=['mmdicm', 'dicm_probe_hooks'],
                              allow_failed_imports=False)
    cfg.train_dataloader.dataset.pipeline.insert(
        1, dict(type='SleepingTransform', marker_dir=str(markers), seconds=120))
    config = str(tmp_path / 'sleepy.py')
    cfg.dump(config)
    proc = subprocess.Popen(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
         str(tmp_path / 'work')], env=one_thread_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 240
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            workers = [int(n.split('_')[1]) for n in os.listdir(markers)]
        assert len(workers) == 2, f'workers did not start (exit code {proc.poll()})'
        assert all(_alive(w) for w in workers)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = time.monotonic()
    while any(_alive(w) for w in workers) and time.monotonic() - killed < 5:
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not left, f'workers {left} outlived their trainer by 5 s'
