"""What a sweep returns and writes: curves, the BD table and their Markdown."""
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ...evaluation.bd_metrics import BDOverlapWarning, Curve, compare, equal_metric_rate
from .state import baseline_key, dicm_key
from .tasks import SecondTask, SweepTask, get_baseline

__all__ = ['RATES', 'SIZES', 'SweepResult', 'codec_losses', 'curve_keys', 'curves_and_table',
           'equal_accuracy_markdown', 'format_sweep_markdown', 'format_sweep_summary',
           'tables_by_size']


@dataclass
class SweepResult:
    """What :func:`~mmdicm.apis.rate_sweep.run_rate_sweep` measured and wrote.

    Attributes:
        task (str): Task name.
        metric_name (str): The plotted metric.
        reference (float): The task model's metric on uncompressed images.
        curves (list[Curve]): One per codec, DICM last.
        table (list[dict]): BD rows, DICM against each baseline (see ``compare``).
        points (dict): Every measured point, by name (``jpeg@5``, ``dicm@lambda2``, ...).
        files (dict): Paths of the written files (csv, json, png, md).
        seconds (float): Wall time of this call.
        skipped (list[str]): Pixel codecs left out because they are unavailable here.
        rate (str): What the curves' rates count: ``'file'`` (bpp of whole files) or
            ``'payload'`` (payload bpp).
        training (dict): Training curves of the sweep's runs, ``{run: {key: [(step,
            mean), ...]}}`` (each the mean over a quarter of the run's logged steps), e.g.
            ``{'dicm@lambda0.1 codec': {'bpp': [...], 'dist_tail': [...]}}``.
        second (SweepResult, optional): The second task's results (its task model on the
            pixel codecs' images and on the same DICM files), if the sweep has one.
        by_size (dict): The BD rows again on each object-size class of a COCO metric
            (``{'small': {'reference': uncompressed, 'table': rows}, ...}``, see
            :func:`tables_by_size`); empty for a task without.
    """
    task: str
    metric_name: str
    reference: float
    curves: List[Curve]
    table: List[Dict[str, Any]]
    points: Dict[str, Dict[str, Any]]
    files: Dict[str, str]
    seconds: float = 0.
    skipped: List[str] = field(default_factory=list)
    rate: str = 'file'
    training: Dict[str, Dict[str, List[Tuple[int, float]]]] = field(default_factory=dict)
    second: Optional['SweepResult'] = None
    by_size: Dict[str, Dict[str, Any]] = field(default_factory=dict)


#: ``rate`` of :func:`~mmdicm.apis.rate_sweep.run_rate_sweep` -> (point key, label)
RATES = {'file': ('bpp', 'bpp (whole files)'),
         'payload': ('payload_bpp', 'payload bpp (entropy-coded bytes only)')}


def curve_keys(baselines: Sequence[Tuple[str, Sequence[int]]],
               dicm: Sequence[Tuple[str, Sequence[float]]]) -> List[Tuple[str, List[str]]]:
    """``(name, point keys)`` of each baseline's curve, then of each DICM curve's."""
    return ([(c, [baseline_key(c, q) for q in qs]) for c, qs in baselines]
            + [(d, [dicm_key(d, lam) for lam in lams]) for d, lams in dicm])


def curves_and_table(spec: Union[SweepTask, SecondTask], points: Dict[str, Dict[str, Any]],
                     baselines: Sequence[Tuple[str, Sequence[int]]],
                     dicm: Sequence[Tuple[str, Sequence[float]]], log: Callable[[str], None],
                     rate_key: str = 'bpp') -> Tuple[List[Curve], List[Dict[str, Any]]]:
    """One curve per baseline (``(codec, qualities)``) and per DICM curve (``(name,
    lambdas)``; ``'dicm'``: the codec under the frozen task model, ``'dicm-task-stage'``:
    then the paper's task stage), and the BD rows of every DICM curve against every
    baseline (a row records why where a curve has too few points)."""
    def curve(name: str, keys: List[str]) -> Curve:
        pts = [points[k] for k in keys]
        return Curve(name, rates=[p[rate_key] for p in pts],
                     metrics=[p['metric'] for p in pts], metric_name=spec.metric_name)

    curves = [curve(name, keys) for name, keys in curve_keys(baselines, dicm)]
    anchors, tests = curves[:len(baselines)], curves[len(baselines):]
    table: List[Dict[str, Any]] = []
    for anchor in anchors if tests else []:  # (a partial report may have no DICM curve yet)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', BDOverlapWarning)
            rows = compare(anchor, tests, non_monotonic='pareto', on_error='record')
        for w in caught:
            log(f'[sweep] warning: {w.message}')
        for row in rows:
            notes = [str(w.message) for w in caught if f"'{row['test']}'" in str(w.message)]
            if notes:
                row['warning'] = '; '.join(notes)
        table.extend(rows)
    return anchors + tests, table


#: COCO's object-size classes (by area: < 32², < 96² px, larger; absolute, whatever the image
#: size) and their metric-key suffixes
SIZES = (('small', '_s'), ('medium', '_m'), ('large', '_l'))


def tables_by_size(spec: Union[SweepTask, SecondTask], points: Dict[str, Dict[str, Any]],
                   baselines: Sequence[Tuple[str, Sequence[int]]],
                   dicm: Sequence[Tuple[str, Sequence[float]]], rate_key: str = 'bpp'
                   ) -> Dict[str, Dict[str, Any]]:
    """The BD rows of :func:`curves_and_table` on each of COCO's object-size classes
    (``spec.metric_key`` + ``'_s'``, ``'_m'``, ``'_l'``, e.g. ``coco/bbox_mAP_s``): where a
    DICM curve gains or loses against each anchor; ``{size: {'reference': the uncompressed
    value, 'table': rows}}``. ``points`` holds the uncompressed point and the curves'
    points alone (:class:`SweepResult`'s); a size is left out unless every one of them
    recorded it (a classifier records none)."""
    out = {}
    for size, suffix in SIZES if dicm else ():
        key = spec.metric_key + suffix
        if not all(key in (p.get('metrics') or {}) for p in points.values()):
            continue
        sized = {k: dict(p, metric=p['metrics'][key]) for k, p in points.items()}
        out[size] = dict(reference=sized['uncompressed']['metric'],
                         table=curves_and_table(spec, sized, baselines, dicm,
                                                lambda _: None, rate_key)[1])
    return out


# ---------------------------------------------------------------------------- summaries
def _fmt(value: Optional[float], spec: str) -> str:
    return 'n/a' if value is None else format(value, spec)


def format_bd_rate(row: Dict[str, Any]) -> str:
    """A BD table row's BD-rate: the value, else the bound where the metric ranges do not
    overlap (e.g. '<= -35.8'), else 'n/a'."""
    if row.get('bd_rate_pct') is None and row.get('bd_rate_bound'):
        side, pct = row['bd_rate_bound']
        return f'{side} {pct:+.1f}'
    return _fmt(row.get('bd_rate_pct'), '+.1f')


def format_sweep_markdown(result: SweepResult) -> str:
    """The results as Markdown: the BD table, then every point (what the README shows)."""
    lines = [f'Task: {result.task}; metric: {result.metric_name}; uncompressed: '
             f'{result.reference:.3f}; rates: {RATES[result.rate][1]}.', '',
             '| DICM curve | anchor | BD-rate (%) | BD-' + result.metric_name + ' | note |',
             '| --- | --- | ---: | ---: | --- |']
    for row in result.table:
        bound = ('BD-rate: a bound, the upper curve\'s lowest-rate point against the lower '
                 'curve (docs/bd_metrics.md)') if row.get('bd_rate_bound') else None
        note = '; '.join(n for n in (row.get('warning'), row.get('error'), bound) if n)
        lines.append(f"| {row['test']} | {row['anchor']} | {format_bd_rate(row)} | "
                     f"{_fmt(row['bd_metric'], '+.3f')} | {' '.join(note.split())} |")
    lines += ['', '| codec | setting | bpp | payload bpp | ' + result.metric_name + ' |',
              '| --- | --- | ---: | ---: | ---: |']
    for name, p in result.points.items():
        if name == 'uncompressed':
            continue
        if 'lambda_rate' in p:  # DICM: its rate weight
            setting = f"λ={p['lambda_rate']:g}"
        elif 'lambda_mse' in p:  # a learned pixel codec trained here
            setting = f"q{p['quality']} (MSE λ={p['lambda_mse']:g})"
        else:
            setting = f"{get_baseline(p['method']).quality_name} {p['quality']}"
        lines.append(f"| {p['method']} | {setting} | {p['bpp']:.3f} | "
                     f"{_fmt(p.get('payload_bpp'), '.3f')} | {p['metric']:.3f} |")
    tests = list(dict.fromkeys(row['test'] for row in result.table))
    lines += _by_size(result) + equal_accuracy_markdown(
        [c for c in result.curves if c.name not in tests],
        [c for c in result.curves if c.name in tests]) + _discrimination(result) + \
        _learning_curve(result) + _training_curves(result)
    return '\n'.join(lines)


def _equal_accuracy_cell(anchor: Curve, rate: float, metric: float) -> str:
    try:
        side, needed = equal_metric_rate(anchor.rates, anchor.metrics, metric,
                                         anchor_name=anchor.name)
    except ValueError:  # e.g. an anchor of one point
        return 'n/a'
    # the anchor needs at most its lowest rate ('<='): this point spends at least that ratio
    prefix = {'=': '', '<=': '>= ', '>': '< '}[side]
    return f'{prefix}{rate / needed:.2f}x'


def equal_accuracy_markdown(anchors: Sequence[Curve], tests: Sequence[Curve]) -> List[str]:
    """Each point of each test curve against each anchor at equal accuracy: its rate over
    the rate the anchor needs for the same metric (:func:`equal_metric_rate`; 1.50x: 50 %
    more bits; '>= ' / '< ' where the metric lies below / above the anchor's range). One
    number per point, where BD-rate needs whole overlapping curves: which λ loses most, and
    single-point experiments."""
    if not anchors or not tests:
        return []
    lines = ['', 'Each tested point\'s rate over the rate each anchor needs for the same '
             f'{tests[0].metric_name} (pchip on the anchor\'s points, as BD-rate; 1.50x = '
             '50 % more bits; ">=" / "<": the metric is below / above the anchor\'s range):',
             '', f'| curve | bpp | {tests[0].metric_name} | '
             + ' | '.join(a.name for a in anchors) + ' |',
             '| --- | ---: | ---: |' + ' ---: |' * len(anchors)]
    for test in tests:
        for rate, metric in sorted(zip(test.rates, test.metrics), reverse=True):
            lines.append(f'| {test.name} | {rate:.3f} | {metric:.3f} | ' + ' | '.join(
                _equal_accuracy_cell(a, rate, metric) for a in anchors) + ' |')
    return lines


def _by_size(result: SweepResult) -> List[str]:
    if not result.by_size:
        return []
    sizes = list(result.by_size)
    rows = {size: {(r['test'], r['anchor']): r for r in result.by_size[size]['table']}
            for size in sizes}
    lines = ['', f"BD-rate (%) again on each of COCO's object-size classes ({result.metric_name} "
             'of ' + ' / '.join(sizes) + ' objects, by the evaluator\'s area bands: COCO\'s '
             'are absolute, < 32² and < 96² px; uncompressed: '
             + ' / '.join(_fmt(result.by_size[s]['reference'], '.3f') for s in sizes)
             + '): where each DICM curve gains or loses.', '',
             '| DICM curve | anchor | ' + ' | '.join(sizes) + ' |',
             '| --- | --- |' + ' ---: |' * len(sizes)]
    errors: Dict[str, None] = {}  # (ordered, unique)
    for pair in rows[sizes[0]]:
        cells = [format_bd_rate(rows[s][pair]) if pair in rows[s] else 'n/a' for s in sizes]
        lines.append(f'| {pair[0]} | {pair[1]} | ' + ' | '.join(cells) + ' |')
        errors.update({f"- {s}, {pair[0]} vs {pair[1]}: "
                       f"{' '.join(rows[s][pair]['error'].split(';')[0].split())}": None
                       for s in sizes if rows[s].get(pair, {}).get('error')})
    if errors:
        lines += ['', 'n/a:', ''] + list(errors)
    return lines


def codec_losses(result: SweepResult) -> Dict[str, float]:
    """Per curve, the metric lost from its highest-rate to its lowest-rate point, as a share
    of the uncompressed metric: whether the benchmark can tell codecs apart (issue 17 asks
    >= 30 % for every pixel codec)."""
    if not result.reference:
        return {}
    out = {}
    for curve in result.curves:
        order = sorted(range(len(curve.rates)), key=lambda i: curve.rates[i])
        out[curve.name] = (curve.metrics[order[-1]] - curve.metrics[order[0]]) / result.reference
    return out


def _discrimination(result: SweepResult) -> List[str]:
    losses = codec_losses(result)
    if not losses:
        return []
    lines = ['', f'{result.metric_name} lost from each curve\'s highest-rate to its lowest-rate '
             'point, as a share of the uncompressed value:', '',
             '| curve | lost |', '| --- | ---: |']
    lines += [f'| {name} | {loss:.0%} |' for name, loss in losses.items()]
    return lines


def _learning_curve(result: SweepResult) -> List[str]:
    point = result.points.get('uncompressed') or {}
    curve, flat = point.get('learning_curve'), point.get('plateau')
    if not curve or not flat:
        return []
    return ['', f"The task model's learning curve (validation {result.metric_name} by "
            'iteration): ' + ', '.join(f'{it}: {m:.3f}' for it, m in curve) + '. Last quarter: '
            f"{flat['gain']:+.1%} ({'plateau reached' if flat['reached'] else 'NOT at its plateau'}"
            ', threshold +5 %).']


def _training_curves(result: SweepResult) -> List[str]:
    """Does more training still move the runs? Each logged value as the mean of each
    quarter of its run, first to last."""
    if not result.training:
        return []
    lines = ['', 'Training curves: each value is the mean over one quarter of the run\'s '
             'logged steps, first -> last quarter (the step ending each quarter in brackets).',
             '', '| run | value | by quarter |', '| --- | --- | --- |']
    for run, curves in result.training.items():
        for key, curve in curves.items():
            lines.append(f'| {run} | {key} | ' + ' -> '.join(f'{v:.4g} ({step})'
                                                            for step, v in curve) + ' |')
    return lines


def format_sweep_summary(result: SweepResult) -> str:
    """What ``tools/rate_sweep.py`` prints at the end."""
    lines = [f'Rate sweep ({result.task}): {len(result.points) - 1} points, '
             f'{result.seconds / 60:.1f} min in this call.', '',
             format_sweep_markdown(result), '']
    if result.skipped:
        lines.append(f'skipped (unavailable here): {", ".join(result.skipped)}')
    lines += [f'{k:<5} {v}' for k, v in result.files.items()]
    if result.second is not None:
        lines += ['', f'Second task ({result.second.task}), the same DICM files:', '',
                  format_sweep_markdown(result.second), '']
        lines += [f'{k:<5} {v}' for k, v in result.second.files.items()]
    return '\n'.join(lines)
