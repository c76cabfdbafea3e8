"""Write mmdicm's embedded dataset (COCO shapes on skimage photos + classification view).

Usage::

    python tools/make_embedded_data.py --out data/embedded
    python tools/make_embedded_data.py --out /tmp/tiny --num-train 8 --num-val 2 --size 128
    python tools/make_embedded_data.py --preset coco-like --out data/embedded-coco-like

``--preset coco-like`` writes the split that mirrors COCO 2017's size spread, crowding and
occlusion (docs/embedded_data.md), with its own defaults (1000 + 200 images at 256 px).
Every run prints the split's statistics (size-class shares, objects per image, occlusion,
per-class counts).

Idempotent: if ``--out`` already holds the dataset made with the same arguments, it says so
and exits 0 without writing. A non-empty ``--out`` holding anything else (other arguments,
foreign files) is refused (exit 1) unless ``--force``. The logic lives in
:func:`mmdicm.datasets.generate_embedded_dataset`; see its module for what the data is.
"""
import argparse
import sys
from typing import List, Optional

from mmdicm.datasets import PRESETS, format_statistics, generate_embedded_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the embedded shapes dataset (a toy set for demos and tests, '
        'not a benchmark).')
    parser.add_argument('--preset', default='default', choices=PRESETS,
                        help='default: the toy split of the demos; coco-like: COCO 2017 '
                        'statistics (default: %(default)s)')
    parser.add_argument('--out', default=None,
                        help='output directory (default: data/embedded, or '
                        'data/embedded-coco-like with --preset coco-like)')
    parser.add_argument('--num-train', type=int, default=None,
                        help="training images (default: the preset's, 400 / 1000)")
    parser.add_argument('--num-val', type=int, default=None,
                        help="validation images (default: the preset's, 100 / 200)")
    parser.add_argument('--size', type=int, default=None,
                        help="image side in pixels (default: the preset's, 256)")
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if --out is not empty')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = args.out or ('data/embedded' if args.preset == 'default' else
                       f'data/embedded-{args.preset}')
    try:
        info = generate_embedded_dataset(
            out,
            num_train=args.num_train,
            num_val=args.num_val,
            image_size=args.size,
            seed=args.seed,
            overwrite=args.force,
            preset=args.preset)
    except (TypeError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except (FileExistsError, NotADirectoryError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if info['generated']:
        print(f"wrote {info['out_dir']} in {info['seconds']:.1f} s")
    else:
        print(f"{info['out_dir']} is up to date (same arguments); nothing written")
    print(f"  classes: {', '.join(info['classes'])}")
    for split in ('train', 'val'):
        print(f"  {split}: {info['num_images'][split]} images, "
              f"{info['num_instances'][split]} instances, "
              f"{info['num_cls_samples'][split]} classification crops")
    for key in ('train_dir', 'val_dir', 'train_ann', 'val_ann', 'cls_train', 'cls_val',
                'classes_file', 'meta'):
        print(f'  {key}: {info[key]}')
    print(f"statistics ({info['preset']} preset; sizes by COCO's area thresholds relative to "
          'the image area):')
    print(format_statistics(info['statistics']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
