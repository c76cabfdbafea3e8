"""One curve of several sweeps' results side by side: e.g. DICM's frozen-task-model curve
under each codec preset (``--codec-preset``, the same task model through ``--reuse-from``),
with BD-rate of each against the first. Reads the ``bd.json`` each sweep wrote."""
import json
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...evaluation.bd_metrics import BDOverlapWarning, Curve, compare
from ...evaluation.bd_results import write_results
from .tasks import SweepError

__all__ = ['compare_sweeps', 'read_sweep_curves']


def read_sweep_curves(work_dir: str) -> Tuple[Dict[str, Curve], Optional[Dict[str, Any]]]:
    """The curves of the results a sweep wrote (``<work_dir>/bd.json``) by name, and its
    reference (the uncompressed point) if any. :class:`SweepError` if there are none."""
    path = osp.join(work_dir, 'bd.json')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        curves = {c['name']: Curve(c['name'], rates=c['rates'], metrics=c['metrics'],
                                   metric_name=c['metric_name']) for c in data['curves']}
    except FileNotFoundError:
        raise SweepError(f'{work_dir}: no bd.json (run the sweep, or --report-only, there '
                         'first)') from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SweepError(f'{path} is not a sweep\'s results file ({e})') from None
    return curves, data.get('reference')


def compare_sweeps(sweeps: Sequence[Tuple[str, str]], curve: str = 'dicm',
                   baselines: Sequence[str] = (), out_dir: Optional[str] = None
                   ) -> Tuple[List[Curve], List[Dict[str, Any]]]:
    """Curve ``curve`` of each sweep, labelled ``'<curve> (<label>)'``, with BD rows of each
    against the first sweep's and against each of ``baselines`` (curves of the first sweep,
    e.g. ``'jpeg'``), written to ``out_dir`` as a sweep's results are (csv, json, png).

    Args:
        sweeps (Sequence[tuple[str, str]]): ``(work_dir, label)``, the anchor first.
        curve (str): The curve compared. Defaults to ``'dicm'``.
        baselines (Sequence[str]): More anchors, from the first sweep.
        out_dir (str, optional): Where to write the files; None: nothing written.

    Returns:
        tuple: the curves (baselines first) and the BD rows.
    """
    if len(sweeps) < 2:
        raise SweepError('compare at least two sweeps (the first is the anchor)')
    found, reference = [], None
    first_curves: Dict[str, Curve] = {}
    for i, (work_dir, label) in enumerate(sweeps):
        curves, ref = read_sweep_curves(work_dir)
        if curve not in curves:
            raise SweepError(f'{work_dir}: no {curve!r} curve in its results (has '
                             f'{sorted(curves)})')
        c = curves[curve]
        found.append(Curve(f'{curve} ({label})', rates=c.rates, metrics=c.metrics,
                           metric_name=c.metric_name))
        if i == 0:
            first_curves, reference = curves, ref
    missing = [b for b in baselines if b not in first_curves]
    if missing:
        raise SweepError(f'{sweeps[0][0]}: no {missing} curve(s) in its results')
    anchors = [found[0]] + [first_curves[b] for b in baselines]
    table: List[Dict[str, Any]] = []
    for anchor in anchors:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', BDOverlapWarning)
            table += compare(anchor, found[1:] if anchor is found[0] else found,
                             non_monotonic='pareto', on_error='record')
    out = [first_curves[b] for b in baselines] + found
    if out_dir is not None:
        ref = None if not reference else (str(reference['name']), float(reference['metric']))
        write_results(out, table, out_dir, reference=ref)
    return out, table
