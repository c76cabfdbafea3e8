"""tools/train.py and tools/test.py logic: overrides, runner choice, one-line errors."""
import os.path as osp
import subprocess
import sys

import pytest

from mmdicm.engine import DICMRunner
from mmdicm.apis.launch import build_runner, prepare_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = '''
custom_imports = dict(imports=['mmdicm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='DICMResNet', depth=18, codec=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=512))
'''


@pytest.fixture
def config(tmp_path):
    path = tmp_path / 'tiny_cls.py'
    path.write_text(CONFIG)
    return str(path)


def test_overrides(config, tmp_path):
    cfg = prepare_config(config, cfg_options={'model.head.num_classes': 5})
    assert cfg.model.head.num_classes == 5
    assert cfg.work_dir == osp.join('work_dirs', 'tiny_cls') and cfg.launcher == 'none'
    with pytest.raises(ValueError, match='--amp needs an optim_wrapper'):
        prepare_config(config, amp=True)
    cfg = prepare_config(config, work_dir=str(tmp_path / 'w'), resume='auto', amp=True,
                         cfg_options={'optim_wrapper': dict(optimizer=dict(type='SGD', lr=0.1))})
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    cfg = prepare_config(config, resume=str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt)


@pytest.mark.parametrize('kwargs, match', [
    (dict(resume='missing.pth'), 'resume checkpoint not found: missing.pth'),
    (dict(checkpoint='nope.pth'), 'checkpoint not found: nope.pth'),
])
def test_missing_files_are_named(config, kwargs, match):
    with pytest.raises(FileNotFoundError, match=match):
        prepare_config(config, **kwargs)


def test_default_runner_is_dicm_runner_and_runner_type_is_honoured(config, tmp_path):
    runner = build_runner(prepare_config(config, work_dir=str(tmp_path / 'a')))
    assert type(runner) is DICMRunner
    from mmengine.runner import Runner
    cfg = prepare_config(config, work_dir=str(tmp_path / 'b'),
                         cfg_options={'runner_type': 'Runner'})
    assert type(build_runner(cfg)) is Runner


def test_train_tool_gives_a_one_line_error_for_a_missing_config(tmp_path):
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'),
                           str(tmp_path / 'nope.py')], capture_output=True, text=True)
    assert proc.returncode == 2
    # (earlier stderr lines are third-party import warnings, e.g. torch.jit deprecation)
    assert proc.stderr.strip().splitlines()[-1] == (
        f'error: config file not found: {tmp_path / "nope.py"}')
    assert 'Traceback' not in proc.stderr


def test_test_tool_help_runs():
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), '--help'],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and 'checkpoint' in proc.stdout


def test_an_unparsable_cfg_option_is_a_usage_error(capsys):
    """mmengine's DictAction recursed until RecursionError on a dict value."""
    import runpy
    main = runpy.run_path(osp.join(ROOT, 'tools', 'train.py'))['main']
    with pytest.raises(SystemExit) as info:
        main(['config.py', '--cfg-options', "custom_hooks=[dict(type='RateLossHook',x=1)]"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.endswith(": error: --cfg-options: cannot parse \"custom_hooks=[dict(type="
                         "'RateLossHook',x=1)]\" (RecursionError); values are numbers, strings, "
                         '[a,b] or (a,b): set a dict key by key, e.g. '
                         'custom_hooks.0.lambda_rate=0.02'), last
