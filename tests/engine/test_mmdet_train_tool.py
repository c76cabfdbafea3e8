"""mmdet's own ``tools/train.py`` (shipped in its wheel) runs our configs unchanged: it honours
``runner_type='DICMRunner'`` and the ``custom_imports``, trains with the rate hooks, and
``--resume`` works under torch >= 2.6 (mmengine's stock Runner cannot load its checkpoints)."""
import os.path as osp
import subprocess
import sys

import mmdet
import pytest

from dicm_tiny import DEMO_CONFIGS, make_data, one_thread_env, tiny_options

MMDET_TRAIN = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')


def _cli(value):
    """A ``--cfg-options`` value mmengine's DictAction parses back to ``value``."""
    if isinstance(value, (list, tuple)):
        inner = ','.join(_cli(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def cfg_options(options):
    """Flatten :func:`tiny_options` to ``key=value`` strings (dicts become dotted keys; the
    ``param_scheduler`` list of dicts, which DictAction cannot express, keeps the config's)."""
    out = []
    for key, value in options.items():
        if key == 'param_scheduler':
            continue
        if isinstance(value, dict):
            out += cfg_options({f'{key}.{k}': v for k, v in value.items()})
        else:
            out.append(f'{key}={_cli(value)}')
    return out


@pytest.mark.slow
def test_mmdet_train_tool_runs_the_demo_config_and_resumes(tmp_path):
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    work = tmp_path / 'work'
    base = [sys.executable, MMDET_TRAIN, DEMO_CONFIGS['mask-rcnn'], '--work-dir', str(work)]

    def run(max_iters, *extra):
        opts = cfg_options(tiny_options('mask-rcnn', data_root, max_iters=max_iters,
                                        checkpoint_interval=1, name=f'mmdet-{max_iters}'))
        proc = subprocess.run(base + list(extra) + ['--cfg-options', *opts], cwd=str(tmp_path),
                              env=one_thread_env(), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc

    run(2)
    assert (work / 'iter_2.pth').exists()
    log = sorted(work.glob('*/*.log'))[-1].read_text()
    assert 'loss_rate:' in log and 'bpp:' in log and 'loss_mask:' in log
    assert "runner_type = 'DICMRunner'" in log  # the config dump at the top of the log

    run(3, '--resume')
    log = sorted(work.glob('*/*.log'))[-1].read_text()
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [3/3]' in log
    assert 'Iter(train) [1/3]' not in log
    assert (work / 'iter_3.pth').exists()
