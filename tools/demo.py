"""``make demo``: train DICM Mask R-CNN on the embedded data on CPU, untrained vs trained.

Generates the embedded dataset (offline, deterministic), evaluates the untrained model, trains
for a few CPU minutes, evaluates again (mAP on features decoded from real bitstreams, measured
bpp) and prints both with the checkpoint, log and bitstream paths. Exit code 1 if the trained
model's bbox mAP is not above the untrained one's. See :mod:`mmdicm.apis.demo`.
"""
import argparse
import sys


def main(argv=None) -> int:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='checkpoints, logs, bitstreams (default: %(default)s)')
    parser.add_argument('--data-root', default='data/embedded',
                        help='embedded dataset, generated if missing (default: %(default)s)')
    parser.add_argument('--max-iters', type=int, help="training iterations (config's default)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. optim_wrapper.optimizer.lr=0.01')
    args = parser.parse_args(argv)
    if args.max_iters is not None and args.max_iters < 1:
        parser.error(f'--max-iters must be >= 1, got {args.max_iters}')

    from mmdicm.apis import format_summary, learned, run_demo
    try:
        result = run_demo(work_dir=args.work_dir, data_root=args.data_root,
                          max_iters=args.max_iters, cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print('\n' + format_summary(result))
    return 0 if learned(result) else 1


if __name__ == '__main__':
    sys.exit(main())
