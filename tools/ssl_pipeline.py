"""DICM's four training stages on CPU, chained by checkpoint, then one bitstream for two
task models.

Usage::

    python tools/ssl_pipeline.py [--work-dir work_dirs/ssl_pipeline] [--data-root data/embedded]
                                 [--task-iters N] [--val-images N] [--no-tasks]

Runs the CPU demo configs of ``configs/ssl/demo/`` in order -- (1) semantic-guided MoCo v2,
(2) RE alone on the frozen backbone, (3) backbone + RE under the RE rate, (4) compression
network alone -- each loading the previous stage's checkpoint. Then the task stages on stage
4's frozen edge (``configs/demo/*_from-stage4.py``: a Mask R-CNN and a whole-image
classifier), one compress of the val images, and both task models' analyses of the same
files: both metrics and the one bpp. A smoke test of the whole chain on the embedded data
(generated if missing), not a benchmark. Logic: :mod:`mmdicm.apis.ssl_pipeline`,
:mod:`mmdicm.apis.one_bitstream`.
"""
import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='DICM four-stage training on CPU, then two task models on one bitstream')
    parser.add_argument('--work-dir', default='work_dirs/ssl_pipeline',
                        help='one folder per stage and task (default: %(default)s)')
    parser.add_argument('--data-root', default='data/embedded',
                        help='embedded dataset, generated if missing (default: %(default)s)')
    parser.add_argument('--task-iters', type=int, default=None,
                        help='training iterations of each task stage (default: each '
                        "config's schedule)")
    parser.add_argument('--val-images', type=int, default=None,
                        help='the first N val images are compressed and analysed '
                        '(default: all 100)')
    parser.add_argument('--no-tasks', action='store_true',
                        help='stop after the four stages')
    parser.add_argument('--codec-preset', default=None,
                        help="codec preset of stages 2-4 and the task stages ('s': DICM-S, "
                        "docs/dicm-s.md; default: the configs' codec)")
    args = parser.parse_args(argv)
    for name in ('task_iters', 'val_images'):
        value = getattr(args, name)
        if value is not None and value < 1:
            print(f'error: --{name.replace("_", "-")} must be >= 1, got {value}',
                  file=sys.stderr)
            return 2

    from mmdicm.codec.feature_codec import check_preset
    if args.codec_preset is not None:
        try:
            check_preset(args.codec_preset)
        except ValueError as e:
            print(f'error: --codec-preset: {e}', file=sys.stderr)
            return 2
    from mmdicm.apis.ssl_pipeline import (TASK_CONFIGS, format_pipeline_summary,
                                            run_ssl_pipeline)
    result = run_ssl_pipeline(work_dir=args.work_dir, data_root=args.data_root,
                              tasks=() if args.no_tasks else TASK_CONFIGS,
                              task_iters=args.task_iters, val_images=args.val_images,
                              codec_preset=args.codec_preset)
    print(format_pipeline_summary(result))
    shared = result['one_bitstream']
    return 1 if shared and any(shared['failures'].values()) else 0


if __name__ == '__main__':
    sys.exit(main())
