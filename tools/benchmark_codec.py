"""Benchmark the DICM codec against CompressAI's mbt2018-mean and Pillow JPEG on this CPU.

Usage::

    python tools/benchmark_codec.py                                 # 512x512 and 800x1344
    python tools/benchmark_codec.py --sizes 512x512 --repeats 5 --threads 2 --json out.json
    python tools/benchmark_codec.py --sizes 512x512 --threads 1 --presets release s  # DICM-S

Prints a table (time, bytes, GFLOPs per stage) and the issue's targets marked PASS/MISS; it
does not fail on a MISS. Random weights: times and GFLOPs are the architectures', byte counts
are not those of trained models. The logic lives in :mod:`mmdicm.benchmarks.codec`.
"""
import argparse
import sys
from typing import List, Optional

from mmdicm.benchmarks import format_benchmark, parse_size, print_result, run_benchmark


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time and count GFLOPs of DICM (edge: image -> bytes, receiver: bytes -> '
        'f3) beside mbt2018-mean and JPEG, and check the codec issue\'s targets.')
    parser.add_argument('--sizes', nargs='+', type=parse_size, default=['512x512', '800x1344'],
                        metavar='HxW', help='image sizes (default: 512x512 800x1344)')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs after one warm-up; the median is reported '
                        '(default: %(default)s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads for the run (default: torch\'s own)')
    parser.add_argument('--mbt-quality', type=int, default=3,
                        help='mbt2018-mean quality, 1-8 (default: %(default)s)')
    parser.add_argument('--jpeg-quality', type=int, default=75,
                        help='Pillow JPEG quality (default: %(default)s)')
    parser.add_argument('--image', default='astronaut',
                        help='skimage.data photo resized to each size (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--presets', nargs='+', default=['release'], metavar='PRESET',
                        help="codec presets measured in this run, side by side, e.g. "
                        "'release s' (DICM-S, docs/dicm-s.md; 'mmdicm-v1': the default before "
                        "Dec 2026) (default: release)")
    parser.add_argument('--json', metavar='OUT', default=None,
                        help='also write every number to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    sizes = [parse_size(s) if isinstance(s, str) else s for s in args.sizes]
    try:
        result = run_benchmark(sizes=sizes, repeats=args.repeats, threads=args.threads,
                               mbt_quality=args.mbt_quality, jpeg_quality=args.jpeg_quality,
                               image=args.image, seed=args.seed, presets=args.presets)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print_result(format_benchmark(result), result, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
