"""Edge side: images -> DICM container files, ``python tools/compress.py CONFIG CHECKPOINT
INPUT OUT_DIR [--overwrite] [--bit-map] [--cfg-options ...]``.

INPUT is a folder of images or a COCO json (images found under ``--img-prefix``, default the
json's folder). Each image runs through the config's test pipeline and data preprocessor, as
in evaluation, then the backbone's head, RE module and codec encoder; ``OUT_DIR`` receives one
``<stem>.dicm`` per image and ``manifest.json`` / ``manifest.csv`` (sizes, bytes, bpp). See
:mod:`mmdicm.apis.deploy`. A bad image (empty, not an image, truncated or corrupt, a side
under ``--min-side``) is skipped with one line saying what is wrong; the others are coded.
Exit status: 0, 1 if some images failed, 2 for a bad argument.
"""
import argparse
import sys


def main(argv=None) -> int:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='mmdet or mmpretrain config with a DICMResNet backbone')
    parser.add_argument('checkpoint', help='trained checkpoint (with entropy tables)')
    parser.add_argument('input', help='folder of images, or a COCO json')
    parser.add_argument('out_dir', help='folder for <stem>.dicm files and the manifests')
    parser.add_argument('--img-prefix', help="image folder of a COCO json (default: the json's)")
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing outputs (default: refuse, write nothing)')
    parser.add_argument('--bit-map', action='store_true',
                        help='also write <stem>.bits.png (estimated bits per original pixel '
                        'over the image) and <stem>.bits.npy (bits per latent position)')
    parser.add_argument('--bit-map-alpha', type=float, default=0.6,
                        help='heatmap opacity over the image, 1 = heatmap only '
                        '(default: %(default)s)')
    parser.add_argument('--min-side', type=int, default=None, metavar='PX',
                        help='refuse images with a side under PX pixels (default: the '
                        'codec\'s stride, 64 for the paper\'s split; 0 codes every image: '
                        'the test pipeline upscales small ones)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.real_coding=True')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.min_side is not None and args.min_side < 0:
        parser.error(f'--min-side must be >= 0, got {args.min_side}')

    from mmdicm.apis.deploy import (DeployError, check_outputs, compress_images, find_images,
                                    format_compress_summary, load_deploy_model)
    try:
        images = find_images(args.input, args.img_prefix)
        check_outputs(images, args.out_dir, args.overwrite, args.bit_map, args.bit_map_alpha)
        deploy = load_deploy_model(args.config, args.checkpoint, args.cfg_options)
        result = compress_images(deploy, images, args.out_dir, overwrite=args.overwrite,
                                 bit_map=args.bit_map, bit_map_alpha=args.bit_map_alpha,
                                 progress=not args.no_progress, min_side=args.min_side)
    except DeployError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(format_compress_summary(result))
    return result.exit_code


if __name__ == '__main__':
    sys.exit(main())
