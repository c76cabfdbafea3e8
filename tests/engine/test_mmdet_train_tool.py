"""mmdet's own ``tools/train.py`` (shipped in its wheel) runs our configs unchanged: it honours
``runner_type='DICMRunner'`` and the ``custom_imports``, trains with the rate hooks, and
``--resume`` works under torch >= 2.6 (mmengine's stock Runner cannot load its checkpoints);
and it runs a user's config that inherits ours by ``mmdicm::`` from outside the repository."""
import os
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


#: a user's config in their own project: 3 of the embedded set's 4 classes, another λ
USER_CONFIG = """\
_base_ = 'mmdicm::dicm/demo/mask-rcnn_dicm_r18_embedded.py'
classes = ('circle', 'triangle', 'rectangle')
model = dict(roi_head=dict(bbox_head=dict(num_classes=3), mask_head=dict(num_classes=3)))
train_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
custom_hooks = [dict(type='RateLossHook', lambda_rate=0.02), dict(type='EntropyUpdateHook'),
                dict(type='BitstreamRecordHook')]
"""


def test_mmdet_train_tool_trains_and_validates_a_user_config_outside_the_repo(tmp_path):
    """Issue 13: stock ``tools/train.py`` of mmdet on a config that inherits the demo config by
    ``mmdicm::`` from another folder, nothing imported first (the installed start-up hook
    makes the scope known): one iteration, then validation with CocoMetric and the measured
    bpp -- where it crashed (``CocoMetric is not in the mmengine::metric registry``)."""
    data_root = make_data(str(tmp_path / 'embedded'), num_train=4, num_val=2, image_size=64)
    project = tmp_path / 'my_project'
    project.mkdir()
    (project / 'my_dicm.py').write_text(USER_CONFIG)
    opts = cfg_options(tiny_options('mask-rcnn', data_root, max_iters=1, validate=True,
                                    name='user'))
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')  # no PYTHONPATH added
    proc = subprocess.run([sys.executable, MMDET_TRAIN, 'my_dicm.py', '--work-dir',
                           str(tmp_path / 'work'), '--cfg-options', *opts], cwd=str(project),
                          env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert 'mmengine does not support to load mmdicm config' not in output, \
        "mmdicm's start-up hook is not installed: pip install --no-build-isolation -e ."
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert 'is not installed' not in output and 'Failed to search registry' not in output
    log = sorted((tmp_path / 'work').glob('*/*.log'))[-1].read_text()
    assert 'Iter(train) [1/1]' in log and 'loss_rate:' in log
    assert 'coco/bbox_mAP:' in log and 'coco/segm_mAP:' in log and 'dicm/bpp:' in log
    assert 'num_classes=3' in log and 'lambda_rate=0.02' in log  # the user's changes
