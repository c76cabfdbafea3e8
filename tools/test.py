"""Evaluate a checkpoint: ``python tools/test.py <config> <checkpoint> [options]``."""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test with mmdicm (DICM feature codec)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'model.backbone.real_coding=True')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmdicm.engine.launch import build_runner, prepare_config, set_local_rank
    set_local_rank(args.local_rank)
    try:
        cfg = prepare_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                             launcher=args.launcher, checkpoint=args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    build_runner(cfg).test()
    return 0


if __name__ == '__main__':
    sys.exit(main())
