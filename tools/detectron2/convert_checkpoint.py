"""An mmdicm checkpoint -> a detectron2 one: ``python tools/detectron2/convert_checkpoint.py
SRC DST [--prefix backbone.] [--target-prefix backbone.bottom_up.]``.

SRC: a checkpoint of an mmdicm model whose ``DICMResNet`` sits under ``--prefix`` (a stage-4
result, an mmdet/mmpretrain task model). DST: ``{'model': ...}`` with detectron2's ResNet
names and the codec under ``--target-prefix`` (the bottom-up of a detectron2 FPN backbone),
for ``MODEL.WEIGHTS``. Necks and heads are not converted. Exit status 2 on a bad file.
"""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='mmdicm checkpoint (mmengine Runner or state dict)')
    parser.add_argument('dst', help='detectron2 checkpoint to write (.pth)')
    parser.add_argument('--prefix', default='backbone.',
                        help='where the DICMResNet sits in SRC (default: %(default)s)')
    parser.add_argument('--target-prefix', default='backbone.bottom_up.',
                        help="where it goes in the detectron2 model: '' for a bare backbone "
                        '(default: %(default)s)')
    args = parser.parse_args(argv)
    from mmdicm.integrations.detectron2 import convert_mmdicm_checkpoint
    try:
        info = convert_mmdicm_checkpoint(args.src, args.dst, args.prefix, args.target_prefix)
    except (OSError, ValueError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f"{info['num_keys']} keys ({info['num_codec_keys']} of the codec) -> {args.dst}")
    if info['dropped']:
        print(f"not converted (no place in detectron2's ResNet): {', '.join(info['dropped'])}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
