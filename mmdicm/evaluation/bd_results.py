"""Rate-accuracy results to files: the curves (``curves.csv``), the BD table (``bd.json``)
and the plot (``rate_accuracy.png``), each written atomically.

Example:
    >>> from mmdicm.evaluation.bd_metrics import Curve, compare
    >>> anchor = Curve('jpeg', rates=[0.2, 0.4, 0.8, 1.6], metrics=[20.0, 28.0, 33.0, 36.0])
    >>> test = Curve('dicm', rates=[0.16, 0.32, 0.64, 1.28], metrics=[20.0, 28.0, 33.0, 36.0])
    >>> paths = write_results([anchor, test], compare(anchor, [test]), 'bd')  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from .bd_metrics import _METHOD, Curve

__all__ = ['write_results']

PathLike = Union[str, 'os.PathLike[str]']


def _json_ready(obj: Any) -> Any:
    """NaN / inf -> None, numpy scalars -> Python, tuples -> lists (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: str, write: Callable[[Any], None], binary: bool) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    directory, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{base}.', suffix='.tmp')
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have made
        with os.fdopen(fd, 'wb' if binary else 'w', **({} if binary else
                                                        dict(encoding='utf-8', newline=''))) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _plot(curves: Sequence[Curve], metric_name: str, f: Any,
          reference: Optional[tuple[str, float]] = None) -> None:
    # Figure + the Agg canvas directly: no pyplot, the global backend is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    markers = 'osD^vP*Xh<>p'
    for i, curve in enumerate(curves):
        order = np.argsort(curve.rates, kind='stable')
        ax.plot(np.asarray(curve.rates)[order], np.asarray(curve.metrics)[order],
                marker=markers[i % len(markers)], label=curve.name)
    if reference is not None:
        ax.axhline(reference[1], color='0.4', linestyle='--', linewidth=1,
                   label=f'{reference[0]} ({reference[1]:.3g})')
    ax.set_xscale('log')
    ax.set_xlabel('bpp (log scale)')
    ax.set_ylabel(metric_name)
    ax.set_title(f'rate-accuracy ({metric_name} vs bpp)')
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(f, format='png')


def write_results(curves: Sequence[Curve], table: Sequence[dict[str, Any]],
                  out_dir: PathLike,
                  reference: Optional[tuple[str, float]] = None) -> dict[str, str]:
    """Write the curves and the BD table: ``curves.csv``, ``bd.json``, ``rate_accuracy.png``.

    - ``curves.csv``: header ``codec,bpp,metric``, one row per point, curves and points in
      the given order;
    - ``bd.json``: ``{'metric_name', 'rate_unit': 'bpp', 'method': 'pchip', 'curves': [...],
      'bd': table}`` (strict JSON: NaN written as null);
    - ``rate_accuracy.png``: every curve with markers, x axis 'bpp', y axis the metric name,
      legend, log-scaled rate axis (matplotlib ``Figure`` on the Agg canvas; the global
      backend is not touched); ``reference`` is drawn as a dashed horizontal line.

    Each file is written to a temporary file in ``out_dir`` and renamed into place, so a
    reader never sees a half-written file.

    Args:
        curves (Sequence[Curve]): The curves, distinct names, one ``metric_name``.
        table (Sequence[dict]): Rows of :func:`compare` (may be empty).
        out_dir (str | os.PathLike): Output folder, created if missing.
        reference (tuple[str, float], optional): ``(name, metric)`` of a rate-free reference,
            e.g. ``('uncompressed', 92.5)``: a line in the plot, ``reference`` in the JSON.
            Defaults to None.

    Returns:
        dict[str, str]: Paths of the files, keys 'csv', 'json' and 'png'.
    """
    if isinstance(curves, Curve) or not isinstance(curves, Sequence) or not curves:
        raise TypeError('curves must be a non-empty sequence of Curve')
    for curve in curves:
        if not isinstance(curve, Curve):
            raise TypeError(f'curves must hold Curve objects, got {type(curve).__name__}')
    names = [c.name for c in curves]
    if len(set(names)) != len(names):
        raise ValueError(f'curve names must be distinct, got {names}')
    metric_names = sorted({c.metric_name for c in curves})
    if len(metric_names) != 1:
        raise ValueError(f'all curves must share one metric_name, got {metric_names}')
    if isinstance(table, (str, bytes, dict)) or not isinstance(table, Sequence) or \
            not all(isinstance(row, dict) for row in table):
        raise TypeError('table must be a sequence of dicts (the rows of compare())')
    if reference is not None:
        if not isinstance(reference, (tuple, list)) or len(reference) != 2 or \
                not isinstance(reference[0], str) or \
                not isinstance(reference[1], numbers.Real) or not math.isfinite(reference[1]):
            raise TypeError(f'reference must be (name, finite metric value), got {reference!r}')
        reference = (reference[0], float(reference[1]))
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f'out_dir must be a path, got {type(out_dir).__name__}')
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    metric_name = metric_names[0]
    paths = dict(csv=os.path.join(out_dir, 'curves.csv'),
                 json=os.path.join(out_dir, 'bd.json'),
                 png=os.path.join(out_dir, 'rate_accuracy.png'))

    # render everything first, so a failure leaves the folder as it was
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator='\n')
    writer.writerow(['codec', 'bpp', 'metric'])
    for curve in curves:
        writer.writerows([curve.name, repr(r), repr(m)]
                         for r, m in zip(curve.rates, curve.metrics))
    csv_text = buf.getvalue()
    doc = dict(metric_name=metric_name, rate_unit='bpp', method=_METHOD,
               curves=[c.to_dict() for c in curves], bd=list(table))
    if reference is not None:
        doc['reference'] = dict(name=reference[0], metric=reference[1])
    doc = _json_ready(doc)
    json_text = json.dumps(doc, indent=2, allow_nan=False) + '\n'
    png = io.BytesIO()
    _plot(curves, metric_name, png, reference)

    _atomic_write(paths['csv'], lambda f: f.write(csv_text), binary=False)
    _atomic_write(paths['json'], lambda f: f.write(json_text), binary=False)
    _atomic_write(paths['png'], lambda f: f.write(png.getvalue()), binary=True)
    return paths
