"""Rate sweep: DICM at several λ vs JPEG/WebP/AVIF/HEVC-intra/VVC-intra, one task model, BD-rate.

Trains the task model once on uncompressed features, evaluates it on images decoded by each
pixel codec at each quality and on DICM features decoded from real bitstreams (a codec trained
per λ under the frozen task model), then writes curves.csv, bd.json, rate_accuracy.png and
results.md in the work dir. Points are cached in <work-dir>/sweep.json: rerun the same command
to resume. See mmdicm.apis.rate_sweep.

Examples:
    python tools/rate_sweep.py                                   # detection, defaults
    python tools/rate_sweep.py --task classification --work-dir work_dirs/sweep_cls
    python tools/rate_sweep.py --lambdas 0.1 1 --codecs jpeg hevc --quality jpeg=5,10,20,40
    python tools/rate_sweep.py --warm-start-epochs 10            # codecs fine-tuned from one
    python tools/rate_sweep.py --task classification --rate payload   # no header bytes
    python tools/rate_sweep.py --task detection-coco-like --warm-start-epochs 2 --codec-epochs 1
        # the COCO-like split: task model to its plateau, five pixel codecs, mbt2018-mean
        # trained here, DICM under the frozen task model and after the task stage, and a
        # whole-image classifier reading the detector's DICM files (--no-second-task: not)
"""
import argparse
import sys

from mmengine.config import DictAction


def _quality(text: str):
    name, _, values = text.partition('=')
    try:
        return name, [int(v) for v in values.split(',') if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected CODEC=Q1,Q2,..., got {text!r}') from None


def _check_codec_options(options: dict, preset) -> None:
    """Build a codec of ``preset`` with ``options`` (``net.X`` / ``re.X`` / codec arguments;
    a dict-valued argument's own keys one level further, e.g. ``net.context.dim``), so a
    wrong key or value is refused here, not after the sweep trained its task model."""
    from mmdicm.codec.feature_codec import DEFAULT_PRESET, DICMFeatureCodec
    kwargs = {}
    for key, value in options.items():
        part, dot, name = key.partition('.')
        if not dot:
            if key in ('preset', 'in_channels'):
                raise ValueError(f'{key} is not an option here (the preset: --codec-preset; '
                                 "the channels: the task's split)")
            kwargs[key] = value
            continue
        names = name.split('.')
        if part not in ('re', 'net') or not all(names) or len(names) > 2:
            raise ValueError(f'{key!r}: expected re.NAME, net.NAME, net.NAME.KEY (a dict '
                             'argument\'s key, e.g. net.context.dim) or a codec argument')
        args = kwargs.setdefault(part, {})
        if len(names) == 2:
            inner = args.setdefault(names[0], {})
            if not isinstance(inner, dict):
                raise ValueError(f'{key!r}: {part}.{names[0]} is set to a value, not a dict')
            inner[names[1]] = value
        else:
            if isinstance(args.get(name), dict):
                raise ValueError(f'{key!r}: {key}.KEY is given too; set one or the other')
            args[name] = value
    DICMFeatureCodec(preset=preset or DEFAULT_PRESET, in_channels=64, **kwargs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument('--task', default='detection',
                        choices=['detection', 'classification', 'detection-coco-like'],
                        help='detection (default: the demo Mask R-CNN on the demo data), '
                        'classification, or detection-coco-like (Faster R-CNN on the COCO-like '
                        'split, the task model trained to its plateau)')
    parser.add_argument('--work-dir', default=None,
                        help='default: work_dirs/rate_sweep_<task>')
    parser.add_argument('--data-root', default=None,
                        help="embedded dataset, generated if missing (default: the task's, "
                        'data/embedded or data/embedded-coco-like)')
    parser.add_argument('--lambdas', type=float, nargs='+', help='λ of the DICM points')
    parser.add_argument('--codecs', nargs='+', help='pixel codecs (default: all five), and '
                        'fcm-vvc (the feature-domain anchor: split features coded by VVC; '
                        'fcm-vvc-fpn: the FPN levels instead; fcm-vvc-pca: the split\'s 16 '
                        'leading principal components, basis fitted on training images)')
    parser.add_argument('--quality', type=_quality, action='append', default=[],
                        metavar='CODEC=Q1,Q2,...', help='qualities of one codec (repeatable)')
    parser.add_argument('--task-iters', type=int, help="task model iterations (config's)")
    parser.add_argument('--codec-epochs', type=int, help="codec epochs per λ (config's)")
    parser.add_argument('--warm-start-epochs', type=int,
                        help='first train one codec at the smallest λ for this many epochs; '
                        'every λ then fine-tunes it for --codec-epochs (default: no warm start)')
    parser.add_argument('--val-images', type=int, help='evaluate on the first N test images')
    parser.add_argument('--rate', choices=['file', 'payload'], default='file',
                        help='what the curves and BD table count: whole coded files '
                        '(default) or the entropy-coded payload alone (no headers, tables or '
                        'containers; results in <work-dir>/payload/)')
    parser.add_argument('--task-stage-iters', type=int,
                        help="iterations of each λ's task stage (tasks that have one: "
                        "detection-coco-like; default: its config's; 0: none, the "
                        "frozen-task-model curve alone, with --no-second-task)")
    parser.add_argument('--learned-codecs', nargs='*', metavar='CODEC',
                        help="learned pixel codecs trained here from scratch on DICM's codec "
                        "budget (default: the task's, mbt2018-mean for detection-coco-like; "
                        'none given: none)')
    parser.add_argument('--learned-lambdas', type=float, nargs='+',
                        help='their MSE λ, one quality each (default: CompressAI\'s q1-q4, '
                        '0.0018 0.0035 0.0067 0.013)')
    parser.add_argument('--report-only', action='store_true',
                        help='measure nothing: write the results of the points cached so far '
                        '(e.g. while the same sweep runs in another process); each curve as far '
                        'as it goes, BD rows n/a below 4 points')
    parser.add_argument('--codec-preset', default=None,
                        help="DICM's codec preset (mmdicm.codec.CODEC_PRESETS: 'release', 's' "
                        "for DICM-S) in its codec, test and task-stage configs; recorded in "
                        "the sweep's settings, so use its own --work-dir (default: the "
                        "configs' codec)")
    parser.add_argument('--codec-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help="arguments of DICM's codec (model.backbone.codec) in its codec, "
                        "test and task-stage configs, e.g. net.entropy_model=hyperprior (the "
                        "preset's other blocks with the hyperprior alone) or "
                        "net.context.dim=64 (a key of a dict argument); recorded in the "
                        "sweep's settings like --codec-preset")
    parser.add_argument('--reuse-from', metavar='WORK_DIR', default=None,
                        help="take the task model and the baseline points of the sweep in "
                        "WORK_DIR (same settings but the codec's, e.g. another "
                        "--codec-preset) instead of measuring them again; also its warm "
                        "start and DICM points where this sweep's configs made them (e.g. "
                        "another --task-stage-iters trains only the task stages)")
    parser.add_argument('--pretrain-from', metavar='WORK_DIR', default=None,
                        help="take the backbone pre-training of the sweep in WORK_DIR (the "
                        "same pre-training config) instead of training it again, when "
                        "--reuse-from cannot take its task model, e.g. another --task-iters "
                        "(detection-coco-like; the checkpoint is linked into --work-dir)")
    parser.add_argument('--no-second-task', action='store_true',
                        help="leave out the task's second task model (detection-coco-like: "
                        "the whole-image classifier that reads the detector's DICM files "
                        "and is tested on the pixel codecs' images)")
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    from mmdicm.apis.rate_sweep import (DEFAULT_LAMBDAS, DEFAULT_LEARNED_LAMBDAS,
                                        DEFAULT_QUALITIES, SweepError, format_sweep_summary,
                                        run_rate_sweep)
    from mmdicm.codec.feature_codec import check_preset
    codec_keys = {}
    if args.codec_preset is not None:
        try:
            check_preset(args.codec_preset)
        except ValueError as e:
            print(f'error: --codec-preset: {e}', file=sys.stderr)
            return 2
        codec_keys['preset'] = args.codec_preset
    if args.codec_options:
        try:
            _check_codec_options(args.codec_options, args.codec_preset)
        except (TypeError, ValueError) as e:
            print(f'error: --codec-options: {e}', file=sys.stderr)
            return 2
        codec_keys.update(args.codec_options)
    cfg_options = None
    if codec_keys:
        options = {f'model.backbone.codec.{k}': v for k, v in codec_keys.items()}
        cfg_options = dict(codec=options, dicm=dict(options), task_stage=dict(options))
    try:
        result = run_rate_sweep(
            task=args.task, work_dir=args.work_dir or f'work_dirs/rate_sweep_{args.task}',
            data_root=args.data_root, lambdas=args.lambdas or DEFAULT_LAMBDAS,
            codecs=args.codecs or tuple(DEFAULT_QUALITIES), qualities=dict(args.quality),
            task_iters=args.task_iters, codec_epochs=args.codec_epochs,
            warm_start_epochs=args.warm_start_epochs,
            val_images=args.val_images, seed=args.seed, rate=args.rate,
            task_stage_iters=args.task_stage_iters, learned_codecs=args.learned_codecs,
            learned_lambdas=args.learned_lambdas or DEFAULT_LEARNED_LAMBDAS,
            report_only=args.report_only, cfg_options=cfg_options,
            reuse_from=args.reuse_from, pretrain_from=args.pretrain_from,
            second_task=not args.no_second_task)
    except (SweepError, FileNotFoundError) as e:
        print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
        return 2
    print('\n' + format_sweep_summary(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
