"""Parameters and GFLOPs of every block of DICM (the table of ``docs/components.md``).

Usage::

    python tools/benchmark_components.py                       # 512x512, both entropy models
    python tools/benchmark_components.py --size 256x256 --entropy-models context_mixture
    python tools/benchmark_components.py --codec-cfg '{"net": {"mixture_components": 1}}'

A DICMResNet-50 split after layer1, released widths, random weights: one forward per block,
FLOPs counted by torch's FlopCounterMode. The logic lives in :mod:`mmdicm.benchmarks.components`.
"""
import argparse
import json
import sys
from typing import List, Optional

from mmdicm.benchmarks import component_table, format_component_table, print_result


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Print parameters and GFLOPs of each block of DICM (ResNet-50 split after '
        'layer1) for each entropy model of y.')
    parser.add_argument('--size', default='512x512', metavar='HxW',
                        help='image size, a multiple of 64 (default: %(default)s)')
    parser.add_argument('--entropy-models', nargs='+', default=['hyperprior', 'context_mixture'],
                        metavar='MODEL', help='entropy models of y (default: %(default)s)')
    parser.add_argument('--codec-cfg', type=json.loads, default=None, metavar='JSON',
                        help='DICMFeatureCodec arguments as JSON (default: released widths)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch.set_num_threads for the run (default: %(default)s)')
    parser.add_argument('--json', metavar='OUT', default=None,
                        help='also write every number to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    results = {
        model: component_table(size=args.size, entropy_model=model, codec_cfg=args.codec_cfg,
                               threads=args.threads)
        for model in args.entropy_models
    }
    text = '\n\n'.join(format_component_table(r) for r in results.values())
    print_result(text, results, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
