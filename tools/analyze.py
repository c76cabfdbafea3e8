"""Receiver side: DICM container files -> task predictions, no pixels, ``python
tools/analyze.py CONFIG CHECKPOINT IN_DIR OUT [--ann-file ANN] [--cfg-options ...]``.

Every ``*.dicm`` in IN_DIR is checked against the model (CRC, fingerprint), entropy-decoded,
turned into features by the codec decoder and the ResNet tail, and run through the stock
detector's neck and heads (or the classifier's). OUT gets COCO-format results (bbox, RLE
masks) or class scores; ``--ann-file`` adds the task metrics (mmdet CocoMetric, or accuracy
from an mmpretrain ``<image> <label>`` list). The measured bpp comes from the file sizes. A
corrupted or foreign file is reported and skipped; see :mod:`mmdicm.apis.deploy`.
Exit status: 0, 1 if some files failed, 2 for a bad argument.
"""
import argparse
import sys


def main(argv=None) -> int:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config the files were compressed with')
    parser.add_argument('checkpoint', help='the same trained checkpoint')
    parser.add_argument('in_dir', help='folder of .dicm files (and manifest.json)')
    parser.add_argument('out', help='predictions json (a <out>.summary.json goes next to it)')
    parser.add_argument('--ann-file', help='COCO json (detectors) or "<image> <label>" list '
                        '(classifiers): evaluate the predictions')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.test_cfg.rcnn.score_thr=0.01')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)

    from mmdicm.apis.deploy import (DeployError, EdgeMismatchError, analyze_bitstreams,
                                    check_analyze_inputs, format_analyze_summary,
                                    load_deploy_model)
    try:
        check_analyze_inputs(args.in_dir, args.out, args.ann_file)
        deploy = load_deploy_model(args.config, args.checkpoint, args.cfg_options)
        result = analyze_bitstreams(deploy, args.in_dir, args.out, ann_file=args.ann_file,
                                    progress=not args.no_progress)
    except DeployError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1 if isinstance(e, EdgeMismatchError) else 2
    print(format_analyze_summary(result))
    return result.exit_code


if __name__ == '__main__':
    sys.exit(main())
