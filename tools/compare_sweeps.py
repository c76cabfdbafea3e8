"""One curve of several rate sweeps side by side, BD-rate of each against the first.

E.g. DICM's frozen-task-model curve under each codec preset, all three sweeps on one task
model (the later ones made with --codec-preset ... --reuse-from <the first>):

    python tools/compare_sweeps.py work_dirs/rate_sweep_detection-coco-like=default \
        work_dirs/rate_sweep_coco-like_s=s work_dirs/rate_sweep_coco-like_release=release \
        --curve dicm --baselines jpeg fcm-vvc-pca --out-dir work_dirs/presets

Reads each sweep's bd.json (tools/rate_sweep.py writes it; --report-only rewrites it);
prints the BD table and each point's rate over each baseline's at equal accuracy (one number per
point, where BD needs whole curves); writes curves.csv / bd.json / rate_accuracy.png with
--out-dir.
"""
import argparse
import sys


def _sweep(text: str):
    work_dir, sep, label = text.partition('=')
    if not sep or not work_dir or not label:
        raise argparse.ArgumentTypeError(f'expected WORK_DIR=LABEL, got {text!r}')
    return work_dir, label


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('sweeps', nargs='+', type=_sweep, metavar='WORK_DIR=LABEL',
                        help='sweep work dirs, the anchor first')
    parser.add_argument('--curve', default='dicm',
                        help="the curve compared (default: dicm; e.g. dicm-task-stage)")
    parser.add_argument('--baselines', nargs='*', default=[],
                        help='curves of the first sweep every one is also compared with')
    parser.add_argument('--out-dir', default=None, help='write csv, json and plot here')
    args = parser.parse_args(argv)

    from mmdicm.apis.rate_sweep import SweepError
    from mmdicm.apis.rate_sweep.compare import compare_sweeps
    from mmdicm.apis.rate_sweep.report import equal_accuracy_markdown, format_bd_rate
    try:
        curves, table = compare_sweeps(args.sweeps, args.curve, args.baselines, args.out_dir)
    except SweepError as e:
        print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
        return 2
    for c in curves:
        print(f'{c.name}: ' + ', '.join(f'{m:.3f} @ {r:.3f}' for r, m in
                                       sorted(zip(c.rates, c.metrics))) + ' (metric @ bpp)')
    print('\n| test | anchor | BD-rate (%) | BD-metric | note |\n| --- | --- | ---: | ---: | --- |')
    for row in table:
        rate = format_bd_rate(row)
        metric = 'n/a' if row['bd_metric'] is None else f"{row['bd_metric']:+.4f}"
        note = ' '.join(str(row.get('error') or '').split())
        print(f"| {row['test']} | {row['anchor']} | {rate} | {metric} | {note} |")
    # every point of every compared curve against the baselines, one number each (BD needs
    # whole curves: a one-λ sweep has none)
    print('\n'.join(equal_accuracy_markdown(curves[:len(args.baselines)],
                                             curves[len(args.baselines):])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
