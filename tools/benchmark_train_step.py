"""Time one CPU training step of DICM Mask R-CNN beside mmdet's stock R-50 Mask R-CNN.

Usage::

    python tools/benchmark_train_step.py                       # 2 x 320x320, 5 steps
    python tools/benchmark_train_step.py --size 256x256 --steps 3 --threads 2 --json out.json

Forward + backward + optimizer step of each model on the same batch (embedded-dataset images
with boxes and masks), interleaved, median of ``--steps`` after ``--warmup``; prints both and
their ratio against the training-integration target (<= 1.5x). It does not fail on a MISS.
Random weights (nothing pretrained offline), shared by the two models wherever they agree,
and DICM's RoI head gets the stock model's proposals, so that both heads work on the same
RoIs (the RoI counts are printed) and the models differ by the codec only; the codec's own
forward + backward is then profiled by kind of op. The logic lives in
:mod:`mmdicm.benchmarks.train_step`.
"""
import argparse
import sys
from typing import List, Optional

from mmdicm.benchmarks import (DICM_CONFIG, STOCK_CONFIG, format_train_step_benchmark,
                               parse_size, print_result, run_train_step_benchmark)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time one training step (forward + backward + optimizer step) of a DICM '
        'detector and of the stock detector it wraps, on the same batch, in one run.')
    parser.add_argument('--dicm-config', default=DICM_CONFIG,
                        help='DICM config (default: %(default)s)')
    parser.add_argument('--stock-config', default=STOCK_CONFIG,
                        help='stock config (default: %(default)s)')
    parser.add_argument('--size', type=parse_size, default=(320, 320), metavar='HxW',
                        help='image size (default: 320x320)')
    parser.add_argument('--batch-size', type=int, default=2, help='default: %(default)s')
    parser.add_argument('--steps', type=int, default=5,
                        help='timed steps per model, median reported (default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps per model first (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=None,
                        help="torch.set_num_threads for the run (default: torch's own)")
    parser.add_argument('--seed', type=int, default=0, help='default: %(default)s')
    parser.add_argument('--independent-weights', action='store_true',
                        help='keep each model\'s own random weights and RPN (by default the '
                        'DICM model starts from the stock weights, its RoI head gets the stock '
                        'proposals and every step starts from the same weights, so the heads '
                        'do the same work and the models differ by the codec only)')
    parser.add_argument('--json', metavar='OUT', default=None,
                        help='also write every number to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        result = run_train_step_benchmark(
            dicm_config=args.dicm_config, stock_config=args.stock_config,
            batch_size=args.batch_size, size=args.size, steps=args.steps, warmup=args.warmup,
            threads=args.threads, seed=args.seed,
            same_head_work=not args.independent_weights)
    except (FileNotFoundError, ValueError) as e:
        print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
        return 2
    print_result(format_train_step_benchmark(result), result, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
