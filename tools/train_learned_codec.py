"""Train the learned pixel-codec baseline (CompressAI's mbt2018-mean) from scratch here, one
checkpoint per λ, for ``--codecs mbt2018-mean`` (``codec_kwargs.checkpoint_dir``).

Usage::

    python tools/train_learned_codec.py IMAGE_DIR OUT_DIR --lambdas 0.0018 0.0035 0.0067 0.013
        [--iters 2000] [--warm-start-iters 2000] [--batch-size 8] [--crop 128] [--N 128 --M 192]

Writes ``OUT_DIR/q1.pth`` (smallest λ) ... ``q<K>.pth``; with ``--warm-start-iters`` every λ
is fine-tuned from one codec trained at the smallest λ (the rate sweep's schedule for DICM's
codec). Checkpoints already trained with the same settings are kept. No pretrained weights.
Logic: :mod:`mmdicm.baselines.learned_training`.
"""
import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image_dir', help='training images (RGB, >= --crop px)')
    parser.add_argument('out_dir', help='checkpoint folder (q1.pth ... q<K>.pth)')
    parser.add_argument('--lambdas', type=float, nargs='+', required=True,
                        help="CompressAI's MSE lambdas (zoo: 0.0018 .. 0.0483)")
    parser.add_argument('--iters', type=int, default=2000, help='steps per λ (%(default)s)')
    parser.add_argument('--warm-start-iters', type=int, default=None,
                        help='first train one codec at the smallest λ for this many steps')
    parser.add_argument('--batch-size', type=int, default=8, help='(default: %(default)s)')
    parser.add_argument('--crop', type=int, default=128, help='crop side, a multiple of 64')
    parser.add_argument('--N', type=int, default=128, help='hyper channels (%(default)s)')
    parser.add_argument('--M', type=int, default=192, help='latent channels (%(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    from mmdicm.baselines.learned_training import train_learned_codecs
    try:
        paths = train_learned_codecs(
            args.image_dir, args.out_dir, args.lambdas, iters=args.iters,
            warm_start_iters=args.warm_start_iters, batch_size=args.batch_size,
            crop=args.crop, N=args.N, M=args.M, seed=args.seed)
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print('\n'.join(paths))
    return 0


if __name__ == '__main__':
    sys.exit(main())
