"""Rate saving of the context + mixture entropy model over the hyperprior at CPU scale: stage 4
(demo config) per model and λ from one stage-3 checkpoint, real bytes and NMSE(f3, f2) on the
embedded val images, BD-rate.

Usage::

    python tools/benchmark_entropy_rate.py work_dirs/ssl_pipeline/stage3/epoch_2.pth \\
        [--work-dir work_dirs/entropy_rate] [--lambdas 0.04 0.16 0.64 2.56] [--images 30]

Trained checkpoints are kept in the work dir and reused by a rerun. Logic:
:mod:`mmdicm.benchmarks.entropy_rate`; results: ``docs/codec.md``.
"""
import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('stage3', help='stage-3 checkpoint (tools/ssl_pipeline.py writes one)')
    parser.add_argument('--work-dir', default='work_dirs/entropy_rate')
    parser.add_argument('--lambdas', type=float, nargs='+', default=[0.04, 0.16, 0.64, 2.56])
    parser.add_argument('--models', nargs='+', default=['hyperprior', 'context_mixture'])
    parser.add_argument('--images', type=int, default=30, help='val images measured')
    parser.add_argument('--json', default=None, help='also write the numbers here')
    args = parser.parse_args(argv)
    import os.path as osp
    if not osp.isfile(args.stage3):
        print(f'error: stage-3 checkpoint not found: {args.stage3}', file=sys.stderr)
        return 2
    from mmdicm.benchmarks.entropy_rate import run_entropy_rate_benchmark
    from mmdicm.benchmarks.utils import print_result
    result = run_entropy_rate_benchmark(args.stage3, args.work_dir, args.lambdas,
                                        models=args.models, num_images=args.images)
    lines = [f'{m:<16} ' + '  '.join(f'{p["bpp"]:.3f} bpp / {p["quality_db"]:.2f} dB'
                                     for p in pts) for m, pts in result['curves'].items()]
    lines += [f'BD-rate of {m} vs {result["bd_rate_vs"]}: '
              + ('n/a' if v is None else f'{v:+.1f} %') for m, v in result['bd_rate'].items()]
    print_result('\n'.join(lines), result, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
