"""DICM's four training stages on CPU, chained by checkpoint, then a Mask R-CNN fine-tune.

Usage::

    python tools/ssl_pipeline.py [--work-dir work_dirs/ssl_pipeline] [--data-root data/embedded]
                                 [--detector-iters 20] [--val-images 20] [--no-detector]

Runs the CPU demo configs of ``configs/ssl/demo/`` in order -- (1) semantic-guided MoCo v2,
(2) RE alone on the frozen backbone, (3) backbone + RE under the RE rate, (4) compression
network alone -- each loading the previous stage's checkpoint, then fine-tunes the receiver
side (tail, FPN, heads) of ``configs/demo/mask-rcnn_dicm_r18_embedded.py`` from the stage-4
checkpoint and tests it on real bitstreams. A smoke test of the whole chain on the embedded
data (generated if missing), not a benchmark. Logic: :mod:`mmdicm.apis.ssl_pipeline`.
"""
import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='DICM four-stage training on CPU, then a detector from its result')
    parser.add_argument('--work-dir', default='work_dirs/ssl_pipeline',
                        help='one folder per stage (default: %(default)s)')
    parser.add_argument('--data-root', default='data/embedded',
                        help='embedded dataset, generated if missing (default: %(default)s)')
    parser.add_argument('--detector-iters', type=int, default=20,
                        help='Mask R-CNN fine-tuning iterations (default: %(default)s)')
    parser.add_argument('--val-images', type=int, default=20,
                        help='val images of the detector test (default: %(default)s)')
    parser.add_argument('--no-detector', action='store_true',
                        help='stop after the four stages')
    args = parser.parse_args(argv)
    if args.detector_iters < 1 or args.val_images < 1:
        print('error: --detector-iters and --val-images must be >= 1', file=sys.stderr)
        return 2

    from mmdicm.apis.ssl_pipeline import (DETECTOR_CONFIG, format_pipeline_summary,
                                            run_ssl_pipeline)
    result = run_ssl_pipeline(work_dir=args.work_dir, data_root=args.data_root,
                              detector=None if args.no_detector else DETECTOR_CONFIG,
                              detector_iters=args.detector_iters, val_images=args.val_images)
    print(format_pipeline_summary(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
