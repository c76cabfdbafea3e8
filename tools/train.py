"""Train a model from a config: ``python tools/train.py configs/<config>.py [options]``.

Thin wrapper over :mod:`mmdicm.apis.launch`, with mmdet's options. Multi-GPU / multi-node:
``tools/dist_train.sh`` (torchrun) or ``tools/slurm_train.sh`` (slurm), both through mmengine's
launchers.
"""
import argparse
import sys


def main(argv=None) -> int:
    from mmdicm.apis.launch import add_common_args, run_tool
    parser = argparse.ArgumentParser(description='Train with mmdicm (DICM feature codec)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or (no value) from the latest one '
                        'in the work dir')
    args = add_common_args(parser).parse_args(argv)
    return run_tool(args, lambda runner: runner.train(), resume=args.resume, amp=args.amp)


if __name__ == '__main__':
    sys.exit(main())
