"""Draw the semantic heatmaps and boxes that guide DICM's contrastive crops.

Usage::

    python tools/draw_heatmaps.py CONFIG CHECKPOINT IMAGES OUT.png [--num 16] [--threshold 0.1]

``IMAGES`` is a folder, a glob pattern (quoted) or an image file. The heatmap of each image is
its layer4 activation summed over channels and min-max normalised, on a plain resize to the
config's ``SemanticBoxHook.image_size`` (or ``--image-size``); the box bounds the region above
the threshold -- exactly what the SSL stages use. Logic: :mod:`mmdicm.apis.heatmaps`.
"""
import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Draw semantic heatmaps and boxes (PNG)')
    parser.add_argument('config', help='config of the model (e.g. a configs/ssl stage)')
    parser.add_argument('checkpoint', help="the model's checkpoint")
    parser.add_argument('images', help='image folder, glob pattern or file')
    parser.add_argument('out', help='output PNG')
    parser.add_argument('--num', type=int, default=16, help='images drawn (default 16)')
    parser.add_argument('--threshold', type=float, default=0.1,
                        help='heatmap threshold of the box (default 0.1)')
    parser.add_argument('--image-size', type=int, nargs='+',
                        help='H [W] of the plain view (default: the config\'s box hook, '
                        'else 224)')
    args = parser.parse_args(argv)

    import mmdicm  # noqa: F401  (registers the `mmdicm::` scope before configs are parsed)
    from mmdicm.apis.heatmaps import draw_heatmaps
    size = None
    if args.image_size:
        size = args.image_size[0] if len(args.image_size) == 1 else tuple(args.image_size[:2])
    try:
        result = draw_heatmaps(args.config, args.checkpoint, args.images, args.out,
                               num=args.num, threshold=args.threshold, image_size=size)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f"drew {len(result['paths'])} images into {result['out']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
