"""The task model's learning curve: its validation metric over training, and its plateau; and
the training curves of the sweep's other runs (does more training still move them?)."""
import glob
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from .tasks import SweepError

__all__ = ['PLATEAU_GAIN', 'plateau', 'read_learning_curve', 'read_training_curve']

#: The task model has reached its plateau when the last quarter of its schedule raised the
#: validation metric by less than this, relative (issue 17)
PLATEAU_GAIN = 0.05


def _scalars_files(work_dir: str) -> List[str]:
    """mmengine's ``LocalVisBackend`` files of the runs in ``work_dir``, oldest first."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def _read_rows(path: str) -> List[Dict[str, Any]]:
    """Every row of mmengine's scalars file that has a ``step``."""
    rows = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and 'step' in row:
                rows.append(row)
    return rows


def _run_rows(work_dir: str) -> List[Dict[str, Any]]:
    """The rows of the newest run in ``work_dir``, preceded by those of the runs it resumed:
    a run stopped (a session's end) and resumed from its last checkpoint logs from there
    on in a new ``<timestamp>/`` folder, so its own file holds only the rest of the
    schedule. An older run is taken as resumed when the newer one starts later than its
    first logging interval (a run from scratch logs first at that interval) and the older
    one logged up to within one interval of that start; its rows before it come first."""
    merged: List[Dict[str, Any]] = []
    start = gap = None
    for path in reversed(_scalars_files(work_dir)):
        rows = _read_rows(path)
        steps = sorted({int(r['step']) for r in rows})
        if not steps:
            continue
        if start is None:
            merged, start = rows, steps[0]
            gap = steps[1] - steps[0] if len(steps) > 1 else steps[0]
            continue
        if start <= gap or steps[-1] < start - gap:
            break  # the newer run started from scratch, or this one stopped short of it
        merged = [r for r in rows if int(r['step']) < start] + merged
        start = min(start, steps[0])
    return merged


def _rows(work_dir: str, key: str) -> List[Tuple[int, float]]:
    """``(step, value)`` of every row of the newest run (with the runs it resumed) that
    has ``key``."""
    return [(int(r['step']), float(r[key])) for r in _run_rows(work_dir) if key in r]


def read_learning_curve(work_dir: str, key: str) -> List[Tuple[int, float]]:
    """``[(iteration, metric), ...]`` of the validation passes of the newest run in
    ``work_dir`` (mmengine's ``LocalVisBackend`` file ``<timestamp>/vis_data/scalars.json``),
    with those of the runs it resumed (a schedule trained over several sessions).
    """
    paths = _scalars_files(work_dir)
    if not paths:
        raise SweepError(f'no scalars.json under {work_dir}: the task config must keep '
                         "mmengine's LocalVisBackend to record its learning curve")
    curve = _rows(work_dir, key)
    if not curve:
        raise SweepError(f'{paths[-1]} has no {key!r}: did the task model validate while it '
                         'trained (train_cfg.val_interval)?')
    return curve


def _at(curve: List[Tuple[int, float]], step: float) -> Tuple[int, float]:
    """The last validation at or before ``step`` (the first one if none)."""
    before = [p for p in curve if p[0] <= step]
    return before[-1] if before else curve[0]


def plateau(curve: List[Tuple[int, float]], max_iters: int) -> Dict[str, Any]:
    """How much the last quarter of the schedule raised the metric: ``gain`` (relative to
    the metric at 3/4 of ``max_iters``), and ``reached`` = gain < :data:`PLATEAU_GAIN`."""
    start, end = _at(curve, 0.75 * max_iters), curve[-1]
    gain = (end[1] - start[1]) / start[1] if start[1] > 0 else float('inf')
    return dict(from_iter=start[0], to_iter=end[0], from_metric=start[1], to_metric=end[1],
                gain=gain, reached=bool(gain < PLATEAU_GAIN))


def read_training_curve(work_dir: str, key: str,
                        parts: int = 4) -> Optional[List[Tuple[int, float]]]:
    """The training log of ``key`` (e.g. ``bpp``, ``loss``) in the newest run under
    ``work_dir`` (with the runs it resumed), as the mean of each of ``parts`` equal stretches
    of its logged steps: ``[(last step of the stretch, mean), ...]``; None if the run or the
    key is not there."""
    rows = _rows(work_dir, key)
    if len(rows) < parts:
        return None
    size = len(rows) / parts
    out = []
    for i in range(parts):
        chunk = rows[round(i * size):round((i + 1) * size)]
        out.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return out
