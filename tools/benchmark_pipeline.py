"""End-to-end latency of DICM vs pixel codecs + stock Mask R-CNN on this CPU.

Usage::

    python tools/benchmark_pipeline.py                                  # 512x512, 5 repeats
    python tools/benchmark_pipeline.py --size 512 --repeats 7 --warmup 1 --threads 2 \\
        --json pipeline.json
    python tools/benchmark_pipeline.py --skip-cheng2020                 # no autoregressive codec
    python tools/benchmark_pipeline.py --threads 1 --presets release s  # DICM-S beside the released

Receiver side: bitstream -> predictions (DICM: entropy decode, codec decoder, ResNet tail,
stock neck and heads; JPEG / mbt2018-mean / cheng2020-anchor: decode the image, then the whole
stock Mask R-CNN). Edge side: image -> bytes. Prints the times, the ratios against the codec
preset's targets marked PASS/FAIL (issue 6's; DICM-S's own for ``s``:
``PIPELINE_PRESET_LIMITS``; it does not fail on a FAIL) and where DICM's time goes.
Random weights: times are the architectures', byte counts are not trained models'. The logic
lives in :mod:`mmdicm.benchmarks.pipeline`.
"""
import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time bitstream -> predictions and image -> bytes for DICM, JPEG, '
        'mbt2018-mean and cheng2020-anchor (+ stock Mask R-CNN), and check the targets.')
    parser.add_argument('--size', default='512', metavar='N|HxW',
                        help='image size, e.g. 512 or 512x768 (default: %(default)s)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs per pipeline; the median run is reported '
                        '(default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed runs first (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads for the run (default: torch\'s own); on '
                        'a busy machine 1 gives stable ratios')
    parser.add_argument('--skip-cheng2020', action='store_true',
                        help='leave out cheng2020-anchor (slow autoregressive coding)')
    parser.add_argument('--mbt-quality', type=int, default=3,
                        help='zoo quality whose widths mbt2018-mean gets (default: %(default)s)')
    parser.add_argument('--cheng-quality', type=int, default=3,
                        help='zoo quality whose width cheng2020-anchor gets '
                        '(default: %(default)s)')
    parser.add_argument('--jpeg-quality', type=int, default=90,
                        help='OpenCV JPEG quality (default: %(default)s)')
    parser.add_argument('--image', default='astronaut',
                        help='skimage.data photo resized to --size (default: %(default)s)')
    parser.add_argument('--dicm-config', default=None,
                        help='DICM detector config (default: configs/mask-rcnn_dicm.py)')
    parser.add_argument('--stock-config', default=None,
                        help='stock detector config (default: mmdet Mask R-CNN R-50-FPN 1x)')
    parser.add_argument('--presets', nargs='+', default=None, metavar='PRESET',
                        help="codec presets of the DICM detector, each measured in this run "
                        "beside its own pixel-codec runs and printed side by side, e.g. "
                        "'release s' (DICM-S, docs/dicm-s.md) (default: the config's codec)")
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--json', metavar='OUT', default=None,
                        help='also write every number to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import mmdicm  # noqa: F401  (registers DICMResNet and the mmdicm:: config scope)
    from mmdicm.benchmarks import (DICM_DETECTOR_CONFIG, STOCK_DETECTOR_CONFIG,
                                   format_pipeline_benchmark, format_preset_comparison,
                                   print_result, run_pipeline_benchmark, run_preset_comparison)

    kwargs = dict(
        size=args.size, repeats=args.repeats, warmup=args.warmup, threads=args.threads,
        cheng2020=not args.skip_cheng2020,
        dicm_config=args.dicm_config or DICM_DETECTOR_CONFIG,
        stock_config=args.stock_config or STOCK_DETECTOR_CONFIG,
        mbt_quality=args.mbt_quality, cheng_quality=args.cheng_quality,
        jpeg_quality=args.jpeg_quality, image=args.image, seed=args.seed)
    try:
        if args.presets:
            result = run_preset_comparison(args.presets, **kwargs)
            text = format_preset_comparison(result)
        else:
            result = run_pipeline_benchmark(**kwargs)
            text = format_pipeline_benchmark(result)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print_result(text, result, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
