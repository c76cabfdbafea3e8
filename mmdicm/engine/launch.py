"""What ``tools/train.py`` and ``tools/test.py`` do, importable and tested.

Mirrors mmdet's stock tools (``--cfg-options``, ``--work-dir``, ``--resume``, ``--amp``,
``--launcher``) with two differences: the default Runner is :class:`DICMRunner` (its
checkpoints load again under torch >= 2.6), and a bad path or option is a one-line error.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Any, Callable, Dict, Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .runner import DICMRunner

__all__ = ['prepare_config', 'build_runner', 'set_local_rank', 'add_common_args', 'run_tool']


def prepare_config(config: str,
                   work_dir: Optional[str] = None,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   resume: Optional[str] = None,
                   amp: bool = False,
                   launcher: str = 'none',
                   checkpoint: Optional[str] = None) -> Config:
    """Load ``config`` and apply the command-line overrides.

    Args:
        config (str): Config file path.
        work_dir (str, optional): Overrides the config's; default ``work_dirs/<config name>``.
        cfg_options (dict, optional): ``--cfg-options`` key/values merged into the config.
        resume (str, optional): ``'auto'`` resumes from the work dir's latest checkpoint, a
            path resumes from that checkpoint, None does not resume.
        amp (bool): Use ``AmpOptimWrapper`` with dynamic loss scaling. Defaults to False.
        launcher (str): ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        checkpoint (str, optional): Weights to evaluate (``tools/test.py``); sets
            ``load_from``.

    Returns:
        Config: ready for :func:`build_runner`.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    for name, path in (('resume checkpoint', None if resume in (None, 'auto') else resume),
                       ('checkpoint', checkpoint)):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{name} not found: {path}')
    if launcher not in ('none', 'pytorch', 'slurm', 'mpi'):
        raise ValueError(f"launcher must be 'none', 'pytorch', 'slurm' or 'mpi', got {launcher!r}")
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    if amp:
        if 'optim_wrapper' not in cfg:
            raise ValueError('--amp needs an optim_wrapper in the config (training only)')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if checkpoint is not None:
        cfg.load_from = checkpoint
    return cfg


def build_runner(cfg: Config) -> Runner:
    """``runner_type`` from the config if set, :class:`DICMRunner` otherwise."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return DICMRunner.from_cfg(cfg)


def set_local_rank(local_rank: int) -> None:
    """``torch.distributed.launch`` passes ``--local-rank``; mmengine reads ``LOCAL_RANK``."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options that ``tools/train.py`` and ``tools/test.py`` share (mmdet's names)."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='where logs, checkpoints and metrics go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.real_coding=True')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def run_tool(args: argparse.Namespace, action: Callable[[Runner], Any], **overrides: Any) -> int:
    """Prepare the config from ``args`` (+ ``overrides``), build the runner, run ``action``.

    Returns the exit code: 0, or 2 with a one-line message for a bad path or option.
    """
    set_local_rank(args.local_rank)
    try:
        cfg = prepare_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                             launcher=args.launcher, **overrides)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    action(build_runner(cfg))
    return 0
