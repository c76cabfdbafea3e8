"""Train a model from a config: ``python tools/train.py configs/<config>.py [options]``.

Thin wrapper over :mod:`mmdicm.engine.launch`, with mmdet's options. Multi-GPU / multi-node:
``tools/dist_train.sh`` (torchrun) or ``tools/slurm_train.sh`` (slurm), both through mmengine's
launchers.
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train with mmdicm (DICM feature codec)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or (no value) from the latest one '
                        'in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.codec.net.latent_'
                        'channels=128')
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
                             resume=args.resume, amp=args.amp, launcher=args.launcher)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    build_runner(cfg).train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
