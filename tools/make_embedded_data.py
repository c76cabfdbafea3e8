"""Write mmdicm's embedded dataset (COCO shapes on skimage photos + classification view).

Usage::

    python tools/make_embedded_data.py --out data/embedded
    python tools/make_embedded_data.py --out /tmp/tiny --num-train 8 --num-val 2 --size 128

Idempotent: if ``--out`` already holds the dataset made with the same arguments, it says so
and exits 0 without writing. A non-empty ``--out`` holding anything else (other arguments,
foreign files) is refused (exit 1) unless ``--force``. The logic lives in
:func:`mmdicm.datasets.generate_embedded_dataset`; see its module for what the data is.
"""
import argparse
import sys
from typing import List, Optional

from mmdicm.datasets import generate_embedded_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the embedded shapes dataset (a toy set for demos and tests, '
        'not a benchmark).')
    parser.add_argument('--out', default='data/embedded',
                        help='output directory (default: %(default)s)')
    parser.add_argument('--num-train', type=int, default=400,
                        help='training images (default: %(default)s)')
    parser.add_argument('--num-val', type=int, default=100,
                        help='validation images (default: %(default)s)')
    parser.add_argument('--size', type=int, default=256,
                        help='image side in pixels (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='seed (default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if --out is not empty')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        info = generate_embedded_dataset(
            args.out,
            num_train=args.num_train,
            num_val=args.num_val,
            image_size=args.size,
            seed=args.seed,
            overwrite=args.force)
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
    return 0


if __name__ == '__main__':
    sys.exit(main())
