"""Every tool answers ``--help`` with its usage (exit 0), and a missing argument with its usage
and exit 2: the shell scripts (which died with ``$2: unbound variable`` under ``set -u``) and
the Python tools."""
import glob
import os.path as osp
import runpy
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
SHELL_TOOLS = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(TOOLS, '**', '*.sh'),
                                                             recursive=True))
PYTHON_TOOLS = sorted(osp.basename(p) for p in glob.glob(osp.join(TOOLS, '*.py')))
#: Python tools with required positional arguments
NEEDS_ARGUMENTS = ('analyze.py', 'compress.py', 'draw_heatmaps.py', 'test.py', 'train.py')


def _bash(*args):
    return subprocess.run(['bash', *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_every_shell_tool_is_covered():
    assert SHELL_TOOLS == ['tools/dist_train.sh', 'tools/setup/bootstrap.sh',
                           'tools/setup/detectron2.sh', 'tools/slurm_train.sh']


@pytest.mark.parametrize('flag', ['--help', '-h'])
@pytest.mark.parametrize('tool', SHELL_TOOLS)
def test_shell_tool_help(tool, flag):
    proc = _bash(tool, flag)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f'usage: bash {tool} '), proc.stdout
    assert proc.stderr == ''


@pytest.mark.parametrize('tool, args, message', [
    ('tools/dist_train.sh', [], 'error: CONFIG and GPUS are required'),
    ('tools/dist_train.sh', ['configs/mask-rcnn_dicm.py'], 'error: CONFIG and GPUS are required'),
    ('tools/dist_train.sh', ['configs/mask-rcnn_dicm.py', 'two'],
     "error: GPUS must be a positive integer, got 'two'"),
    ('tools/slurm_train.sh', ['p', 'job', 'configs/mask-rcnn_dicm.py'],
     'error: PARTITION, JOB_NAME, CONFIG and WORK_DIR are required'),
    ('tools/setup/bootstrap.sh', ['--frobnicate'],
     "error: unexpected argument '--frobnicate' (it takes none; see --help for its variables)"),
    ('tools/setup/detectron2.sh', ['.venv/bin/python', 'extra'],
     "error: unexpected argument 'extra' (it takes at most one: the Python to install into)"),
])
def test_shell_tool_missing_argument_is_usage_and_exit_2(tool, args, message):
    proc = _bash(tool, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f'usage: bash {tool}') and lines[-1] == message, proc.stderr
    assert 'unbound variable' not in proc.stderr and proc.stdout == ''


@pytest.mark.parametrize('tool', PYTHON_TOOLS)
def test_python_tool_help(tool, capsys, monkeypatch):
    """In-process (the stack is imported once): argparse's ``prog`` is ``argv[0]``."""
    monkeypatch.setattr(sys, 'argv', [tool])
    main = runpy.run_path(osp.join(TOOLS, tool))['main']
    with pytest.raises(SystemExit) as info:
        main(['--help'])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f'usage: {tool} ')


@pytest.mark.parametrize('tool', NEEDS_ARGUMENTS)
def test_python_tool_missing_argument_is_usage_and_exit_2(tool, capsys, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [tool])
    main = runpy.run_path(osp.join(TOOLS, tool))['main']
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f'usage: {tool} ')
    assert lines[-1].startswith(f'{tool}: error: the following arguments are required: ')
