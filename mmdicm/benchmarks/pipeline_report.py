"""The printed report of the pipeline latency benchmark (:mod:`.pipeline`): totals, ratios
against the issue's targets, and where each pipeline's time goes."""
from typing import Any, Dict, List, Sequence, Tuple

from .pipeline import NESTED_STAGES, PIPELINE_TARGETS
from .utils import ms

__all__ = ['format_pipeline_benchmark', 'format_preset_comparison']

_LABELS = {'dicm': 'DICM', 'jpeg': 'JPEG', 'mbt2018_mean': 'mbt2018-mean',
           'cheng2020_anchor': 'cheng2020-anchor'}
_RECEIVER_STAGES = {
    'dicm': (('parse', 'container parse + CRC'), ('entropy', 'entropy decode (EB+GC)'),
             ('rans', '  of which rANS coder calls'), ('h_s', 'codec decoder: h_s (float64)'),
             ('indexes', 'GC build_indexes (scale table)'),
             ('g_s', 'codec decoder: g_s'), ('tail', 'ResNet tail (layer2..4)')),
    'pixel': (('decode', 'image decode (+ to uint8 tensor)'), ('preprocess', 'data preprocessor'),
              ('backbone', 'ResNet backbone (stem..layer4)')),
}
_HEAD_STAGES = (('neck', 'FPN'), ('rpn', 'RPN (incl. proposal NMS)'),
                ('roi_bbox', 'RoI bbox head (incl. NMS)'), ('bbox_post', '  of which post-proc'),
                ('roi_mask', 'RoI mask head (incl. paste)'),
                ('mask_post', '  of which post-proc'), ('other', 'other (glue)'))
_EDGE_STAGES = {
    'dicm': (('preprocess', 'data preprocessor'), ('head', 'ResNet stem + layer1'),
             ('re', 'RE (encoder_RE, Q, decoder_RE)'), ('g_a', 'g_a'), ('h_a', 'h_a'),
             ('h_s', 'h_s (float64)'), ('indexes', 'GC build_indexes (scale table)'),
             ('entropy', 'entropy (EB+GC)'),
             ('rans', '  of which rANS coder calls'), ('other', 'other (container, glue)')),
}


def _stage_table(title: str, entry: Dict[str, Any],
                 stages: Sequence[Tuple[str, str]]) -> List[str]:
    """One pipeline side's stages: the median run's own times and each stage's median."""
    total, parts, med = entry['total_s'], entry['parts_s'], entry['parts_median_s']
    med_total = sum(v for k, v in med.items() if k not in NESTED_STAGES)
    out = ['', '{:<42} {:>10} {:>6}  {:>10} {:>6}'.format(
        f'{title}', 'median run', '', 'per-stage', 'median'),
        '  {:<40} {:>10} {:>6}  {:>10} {:>6}'.format('total', ms(total), '',
                                                    ms(med_total), '')]
    for key, label in stages:
        if key in parts:
            out.append('  {:<40} {:>10} {:>5.1f}%  {:>10} {:>5.1f}%'.format(
                label, ms(parts[key]), 100.0 * parts[key] / total, ms(med.get(key, 0.0)),
                100.0 * med.get(key, 0.0) / med_total))
    return out


def format_pipeline_benchmark(result: Dict[str, Any]) -> str:
    """Render :func:`~.pipeline.run_pipeline_benchmark`'s result: totals, ratios vs targets,
    stages."""
    env = result['env']
    h, w = result['size']
    names = list(result['receiver'])
    lines = [
        f'DICM pipeline latency benchmark at {h}x{w} (random weights: the architectures\' '
        'times; bytes are not trained models\')',
        f'CPU: {env["cpu"]} ({env["cpu_count"]} logical)   torch threads: {env["threads"]}   '
        f'OpenCV threads: {env["opencv_threads"]}   torch {env["torch"]}   mmdet '
        f'{env["mmdet"]}   compressai {env["compressai"]}',
        f'repeats: {env["repeats"]} (+{env["warmup"]} warm-up, median run)   '
        f'load average (1/5/15 min) before: {env["load_before"]}   after: '
        f'{env.get("load_after")}',
        f'mbt2018-mean N,M={env["mbt_channels"]}   cheng2020-anchor N={env["cheng_channels"]}'
        f'   JPEG quality {env["jpeg_quality"]} (OpenCV)   image: skimage {env["image"]}',
        'Heads: stock Mask R-CNN test_cfg; every RPN runs, then all RoI heads get one common '
        'proposal set; random box head made',
        'feature-independent (one class, no regression): same RoI/NMS/mask work for all '
        '(see the module docstring).',
        '', 'Work per pipeline (one untimed run):',
    ]
    for name, d in result['workload'].items():
        lines.append(f'  {_LABELS[name]:<17} {d["proposals"]} proposals, {d["detections"]} '
                     f'detections, mean detection box area {d["mean_box_area"]:.1f} px')
    row = '{:<44} {:>10} {:>8} {:>10} {:>8} {:>9}'
    lines += ['', row.format('pipeline', 'receiver', 'ratio', 'edge', 'ratio', 'bytes'),
              row.format('', 'ms', 'DICM/x', 'ms', 'DICM/x', '(bpp)')]
    for name in names:
        rx, ed = result['receiver'][name], result['edge'][name]
        if name == 'dicm':
            r_ratio = e_ratio = ''
        else:
            r_ratio = f'{result["ratios"][f"receiver_vs_{name}"]:.3f}'
            e_ratio = f'{result["ratios"][f"edge_vs_{name}"]:.3f}'
        label = {'dicm': 'DICM (features; decoder + tail + heads)',
                 'jpeg': 'JPEG + stock Mask R-CNN',
                 'mbt2018_mean': 'mbt2018-mean + stock Mask R-CNN',
                 'cheng2020_anchor': 'cheng2020-anchor + stock Mask R-CNN'}[name]
        lines.append(row.format(
            label, ms(rx['total_s']), r_ratio, ms(ed['total_s']), e_ratio,
            f'{ed["bytes"]} ({ed["bpp"]:.2f})'))

    lines += ['', f'Targets of codec preset {env["codec_preset"]!r} (ratio of medians; paired = '
              'median of per-repeat ratios)',
              '{:<58} {:>7} {:>7} {:>8} {:>7}  {}'.format(
                  'metric', 'value', 'paired', 'target', 'anchor', 'verdict')]
    for t in result['targets']:
        lines.append('{:<58} {:>7.3f} {:>7.3f} {:>8} {:>7}  {}'.format(
            t['description'], t['value'], t['paired_value'], f'<= {t["target"]:g}',
            '' if t['anchor'] is None else f'{t["anchor"]:g}',
            'PASS' if t['passed'] else 'FAIL'))
    skipped = [k for k, *_ in PIPELINE_TARGETS if k not in result['ratios']]
    if skipped:
        lines.append(f'(not measured: {", ".join(skipped)})')

    lines += ['', 'Stages, ms: the median run\'s own stages (they add up to its total) and each '
              'stage\'s median over the repeats (robust to load; their sum is not a run)']
    lines += _stage_table('DICM receiver', result['receiver']['dicm'],
                          _RECEIVER_STAGES['dicm'] + _HEAD_STAGES)
    for name in names[1:]:
        lines += _stage_table(f'{_LABELS[name]} receiver', result['receiver'][name],
                              _RECEIVER_STAGES['pixel'] + _HEAD_STAGES)
    lines += _stage_table('DICM edge', result['edge']['dicm'], _EDGE_STAGES['dicm'])
    return '\n'.join(lines)


def format_preset_comparison(result: Dict[str, Any]) -> str:
    """Render :func:`~.pipeline.run_preset_comparison`'s result: each preset's report, then
    the ratios side by side."""
    by_preset = result['presets']
    lines = []
    for preset, res in by_preset.items():
        lines += [f'===== codec preset {preset!r} =====', format_pipeline_benchmark(res), '']
    judged = {preset: {t['key']: t for t in r['targets']} for preset, r in by_preset.items()}
    keys = [(k, desc) for k, desc, *_ in PIPELINE_TARGETS if all(k in j for j in judged.values())]
    head = '{:<58}' + ' {:>9} {:>12}' * len(by_preset)
    lines += ['Presets side by side (ratio of medians; each preset against the pixel-codec '
              'runs timed next to it, and judged by its own targets)',
              head.format('metric', *(c for p in by_preset for c in (p, 'target')))]
    for key, desc in keys:
        cells = []
        for preset in by_preset:
            t = judged[preset][key]
            cells += [f'{t["value"]:.3f}',
                      f'<= {t["target"]:g} {"PASS" if t["passed"] else "FAIL"}']
        lines.append(head.format(desc, *cells))
    for side in ('receiver', 'edge'):
        lines.append(head.format(f'DICM {side} ms', *(c for r in by_preset.values()
                                                     for c in (ms(r[side]['dicm']['total_s']),
                                                               ''))))
    return '\n'.join(lines)
