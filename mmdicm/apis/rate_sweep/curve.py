"""The task model's learning curve: its validation metric over training, and its plateau."""
import glob
import json
import os.path as osp
from typing import Any, Dict, List, Tuple

from .tasks import SweepError

__all__ = ['PLATEAU_GAIN', 'plateau', 'read_learning_curve']

#: The task model has reached its plateau when the last quarter of its schedule raised the
#: validation metric by less than this, relative (issue 17)
PLATEAU_GAIN = 0.05


def read_learning_curve(work_dir: str, key: str) -> List[Tuple[int, float]]:
    """``[(iteration, metric), ...]`` of the validation passes of the newest run in
    ``work_dir`` (mmengine's ``LocalVisBackend`` file ``<timestamp>/vis_data/scalars.json``).
    """
    runs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise SweepError(f'no scalars.json under {work_dir}: the task config must keep '
                         "mmengine's LocalVisBackend to record its learning curve")
    curve = []
    with open(runs[-1], encoding='utf-8') as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if key in row and 'step' in row:
                curve.append((int(row['step']), float(row[key])))
    if not curve:
        raise SweepError(f'{runs[-1]} has no {key!r}: did the task model validate while it '
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
