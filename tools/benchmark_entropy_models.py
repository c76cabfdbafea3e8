"""Encode/decode time of the two entropy models of y (hyperprior, context_mixture) on this CPU.

Usage::

    python tools/benchmark_entropy_models.py                      # 512x512, 1 thread
    python tools/benchmark_entropy_models.py --size 256x256 --repeats 5 --json out.json

Released widths, random weights, same input for both; prints ms per stage. The logic lives in
:mod:`mmdicm.benchmarks.entropy_models`.
"""
import argparse
import sys
from typing import List, Optional

from mmdicm.benchmarks import (format_entropy_model_benchmark, print_result,
                               run_entropy_model_benchmark)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time DICM encode (f1 -> container) and decode (container -> f3) with '
        'each entropy model of y.')
    parser.add_argument('--size', default='512x512', metavar='HxW',
                        help='image size, a multiple of 64 (default: %(default)s)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs after one warm-up (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch.set_num_threads for the run (default: %(default)s)')
    parser.add_argument('--models', nargs='+', default=None,
                        help='entropy models (default: hyperprior context_mixture)')
    parser.add_argument('--json', metavar='OUT', default=None,
                        help='also write every number to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    kwargs = {} if args.models is None else dict(models=args.models)
    result = run_entropy_model_benchmark(size=args.size, repeats=args.repeats,
                                         threads=args.threads, **kwargs)
    print_result(format_entropy_model_benchmark(result), result, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
