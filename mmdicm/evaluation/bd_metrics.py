"""Bjøntegaard deltas of rate-accuracy curves: BD-rate and BD-accuracy (e.g. BD-mAP).

Curves of points (bpp, metric), the metric higher-is-better (mAP, top-1, PSNR), compared the
Bjøntegaard way (VCEG-M33) with pchip interpolation, as in the JVET common test conditions,
by the ``bjontegaard`` package. Negative BD-rate or positive BD-metric: the test codec wins.
Inputs are checked first (``ValueError`` naming the curve); the formulas and the input rules
(points, order, monotonicity, overlap): ``docs/bd_metrics.md``. Writing the curves and
the table to files: :mod:`mmdicm.evaluation.bd_results`.

Example:
    >>> anchor = Curve('jpeg', rates=[0.2, 0.4, 0.8, 1.6], metrics=[20.0, 28.0, 33.0, 36.0])
    >>> test = Curve('dicm', rates=[0.16, 0.32, 0.64, 1.28], metrics=[20.0, 28.0, 33.0, 36.0])
    >>> round(bd_rate(anchor.rates, anchor.metrics, test.rates, test.metrics), 6)
    -20.0
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ['BDOverlapWarning', 'Curve', 'bd_rate', 'bd_rate_bound', 'bd_metric', 'compare',
           'equal_metric_rate', 'MIN_POINTS', 'MIN_BOUND_POINTS', 'MIN_OVERLAP']

#: Default number of points each curve needs (VCEG-M33 / common test conditions use 4).
MIN_POINTS = 4
#: points a curve needs for :func:`bd_rate_bound`: the bound rests on the upper curve's
#: cheapest point and the lower curve's interpolated rates, which 2 points give, where
#: BD-rate's 4-point convention is about the fit of two curves over a shared range
MIN_BOUND_POINTS = 2
#: Default overlap (fraction of the smaller curve's span) below which a warning is emitted.
MIN_OVERLAP = 0.5
_METHOD = 'pchip'
_POLICIES = ('raise', 'pareto')


class BDOverlapWarning(UserWarning):
    """Two curves overlap on less than ``min_overlap`` of the smaller curve's span."""


# ---------------------------------------------------------------------------------- checks
def _check_options(min_points: Any, min_overlap: Any, non_monotonic: Any) -> None:
    if isinstance(min_points, bool) or not isinstance(min_points, numbers.Integral) \
            or min_points < 2:
        raise ValueError(f'min_points must be an int >= 2 (pchip needs 2 points), '
                         f'got {min_points!r}')
    if isinstance(min_overlap, bool) or not isinstance(min_overlap, numbers.Real) \
            or not 0.0 <= min_overlap <= 1.0:
        raise ValueError(f'min_overlap must be a fraction in [0, 1], got {min_overlap!r}')
    if non_monotonic not in _POLICIES:
        raise ValueError(f'non_monotonic must be one of {_POLICIES}, got {non_monotonic!r}')


def _as_vector(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise TypeError(f'{what} must be a sequence of numbers, got {type(values).__name__}')
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f'{what} must be a sequence of numbers, got {values!r}') from None
    if arr.ndim != 1:
        raise ValueError(f'{what} must be 1-D, got shape {arr.shape}')
    return arr


def _basic_checks(rates: Any, metrics: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Checks every curve must pass (also at :class:`Curve` construction)."""
    rates = _as_vector(rates, f"rates of '{name}'")
    metrics = _as_vector(metrics, f"metrics of '{name}'")
    if len(rates) != len(metrics):
        raise ValueError(f"'{name}' has {len(rates)} rates but {len(metrics)} metric values")
    if len(rates) == 0:
        raise ValueError(f"'{name}' has no points")
    if not np.all(np.isfinite(rates)) or not np.all(np.isfinite(metrics)):
        raise ValueError(f"'{name}' has NaN or infinite values: rates {rates.tolist()}, "
                         f'metrics {metrics.tolist()}')
    if np.any(rates <= 0):
        raise ValueError(f"rates of '{name}' must be > 0 (they are log-scaled), "
                         f'got {rates.tolist()}')
    return rates, metrics


def _prepare(rates: Any, metrics: Any, name: str, what: str, min_points: int,
             non_monotonic: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated curve sorted by rate, strictly increasing in rate and metric."""
    rates, metrics = _basic_checks(rates, metrics, name)
    if len(rates) < min_points:
        raise ValueError(f"{what} needs at least {min_points} points per curve, got "
                         f"{len(rates)} for '{name}'")
    order = np.lexsort((-metrics, rates))  # by rate; the best metric first among equal rates
    rates, metrics = rates[order], metrics[order]
    if non_monotonic == 'pareto':
        keep = [0]
        for i in range(1, len(rates)):
            if rates[i] > rates[keep[-1]] and metrics[i] > metrics[keep[-1]]:
                keep.append(i)
        if len(keep) < min_points:
            raise ValueError(f"{what} needs at least {min_points} points per curve, got "
                             f"{len(keep)} for '{name}' after dropping "
                             f'{len(rates) - len(keep)} dominated point(s)')
        return rates[keep], metrics[keep]
    for i in range(1, len(rates)):
        if rates[i] == rates[i - 1]:
            raise ValueError(f"'{name}' has two points at rate {rates[i]:g}; rates must be "
                             "distinct (pass non_monotonic='pareto' to keep the better one)")
        if metrics[i] <= metrics[i - 1]:
            raise ValueError(
                f"metric of '{name}' does not increase with the rate: {metrics[i - 1]:g} at "
                f'{rates[i - 1]:g} then {metrics[i]:g} at {rates[i]:g}; {what} needs a '
                "strictly monotonic curve (pass non_monotonic='pareto' to drop dominated "
                'points)')
    return rates, metrics


def _overlap(anchor: np.ndarray, test: np.ndarray, axis: str, what: str, anchor_name: str,
             test_name: str, min_overlap: float) -> float:
    """Overlap of the two ranges as a fraction of the smaller span; warn or raise."""
    a_lo, a_hi, t_lo, t_hi = anchor.min(), anchor.max(), test.min(), test.max()
    width = min(a_hi, t_hi) - max(a_lo, t_lo)
    ranges = (f"'{anchor_name}' [{a_lo:.6g}, {a_hi:.6g}] and "
              f"'{test_name}' [{t_lo:.6g}, {t_hi:.6g}]")
    if width <= 0:
        raise ValueError(f'{what}: the {axis} ranges of {ranges} do not overlap')
    fraction = float(width / min(a_hi - a_lo, t_hi - t_lo))
    if fraction < min_overlap:
        warnings.warn(
            f'{what} of {test_name!r} vs {anchor_name!r}: the curves overlap on only '
            f'{100 * fraction:.0f}% of the smaller {axis} span ({ranges}; '
            f'min_overlap={100 * min_overlap:.0f}%); the average rests on a narrow interval',
            BDOverlapWarning, stacklevel=3)
    return fraction


def _bjontegaard() -> Any:
    # Imported on use: bjontegaard imports matplotlib.pyplot at import time.
    try:
        import bjontegaard
    except ImportError as e:
        raise ImportError('BD metrics need the bjontegaard package (pip install '
                          f'bjontegaard): {e}') from e
    return bjontegaard


# ---------------------------------------------------------------------------------- BD
def bd_rate(anchor_rates: Sequence[float], anchor_metric: Sequence[float],
            test_rates: Sequence[float], test_metric: Sequence[float], *,
            min_points: int = MIN_POINTS, min_overlap: float = MIN_OVERLAP,
            non_monotonic: str = 'raise', anchor_name: str = 'anchor',
            test_name: str = 'test') -> float:
    """BD-rate: average rate difference (%) of ``test`` vs ``anchor`` at equal metric.

    pchip interpolation of log10(rate) over the metric, averaged over the metric interval
    both curves cover (``bjontegaard.bd_rate(..., method='pchip')``).

    Args:
        anchor_rates (Sequence[float]): Anchor rates (bpp), > 0, any order.
        anchor_metric (Sequence[float]): Anchor metric (higher is better) at those rates.
        test_rates (Sequence[float]): Test rates (bpp).
        test_metric (Sequence[float]): Test metric.
        min_points (int): Points each curve needs. Defaults to :data:`MIN_POINTS` (4).
        min_overlap (float): Metric-range overlap, as a fraction of the smaller curve's
            span, below which :class:`BDOverlapWarning` is emitted. Defaults to 0.5.
        non_monotonic (str): 'raise' (default) or 'pareto' (drop dominated points first), see
            ``docs/bd_metrics.md``.
        anchor_name (str): Name used in messages. Defaults to 'anchor'.
        test_name (str): Name used in messages. Defaults to 'test'.

    Returns:
        float: BD-rate in percent; negative = the test codec saves bits.

    Example:
        >>> round(bd_rate([1, 2, 4, 8], [30, 33, 36, 39], [1.25, 2.5, 5, 10], [30, 33, 36, 39]), 9)
        25.0
    """
    _check_options(min_points, min_overlap, non_monotonic)
    ra, ma = _prepare(anchor_rates, anchor_metric, anchor_name, 'BD-rate', min_points,
                      non_monotonic)
    rt, mt = _prepare(test_rates, test_metric, test_name, 'BD-rate', min_points,
                      non_monotonic)
    _overlap(ma, mt, 'metric', 'BD-rate', anchor_name, test_name, min_overlap)
    value = _bjontegaard().bd_rate(ra, ma, rt, mt, method=_METHOD,
                                   require_matching_points=False, min_overlap=0)
    return float(value)


def bd_rate_bound(anchor_rates: Sequence[float], anchor_metric: Sequence[float],
                  test_rates: Sequence[float], test_metric: Sequence[float], *,
                  min_points: int = MIN_BOUND_POINTS, non_monotonic: str = 'raise',
                  anchor_name: str = 'anchor', test_name: str = 'test') -> tuple[str, float]:
    """A bound on the BD-rate of two curves whose metric ranges do not overlap (where
    :func:`bd_rate` has no interval to average over).

    The upper curve's lowest-rate point reaches more than every metric of the lower curve,
    so the upper codec needs at most that rate for each of them (a codec can always spend
    its cheapest point). Averaged the BD-rate way, over the lower curve's metric range with
    pchip-interpolated log10 rates: if ``test`` is the upper curve its BD-rate is *at most*
    ``10 ** (log10(r_test_min) - mean log10 r_anchor(m)) - 1``; if ``anchor`` is, the test's
    is *at least* ``10 ** (mean log10 r_test(m) - log10 r_anchor_min) - 1``. Each curve
    needs ``min_points`` points after any pruning: :data:`MIN_BOUND_POINTS` (2) by
    default, not BD-rate's 4 (a bound interpolates one curve, it fits none to another).

    Returns:
        tuple[str, float]: ``('<=', pct)`` (test above) or ``('>=', pct)`` (test below), in
        percent like :func:`bd_rate`.

    Raises:
        ValueError: If the metric ranges overlap (then :func:`bd_rate` applies) or a curve
            fails the checks of :func:`bd_rate`.

    Example:
        >>> side, pct = bd_rate_bound([1, 2, 4, 8], [1, 2, 3, 4], [0.5, 1, 2, 4], [5, 6, 7, 8])
        >>> side, round(pct, 1)  # 0.5 against the anchor's geometric mean 2 ** 1.5
        ('<=', -82.3)
    """
    _check_options(min_points, 0.0, non_monotonic)
    ra, ma = _prepare(anchor_rates, anchor_metric, anchor_name, 'BD-rate bound', min_points,
                      non_monotonic)
    rt, mt = _prepare(test_rates, test_metric, test_name, 'BD-rate bound', min_points,
                      non_monotonic)
    return _rate_bound(ra, ma, rt, mt, anchor_name, test_name)


def _rate_bound(ra: np.ndarray, ma: np.ndarray, rt: np.ndarray, mt: np.ndarray,
                anchor_name: str, test_name: str) -> tuple[str, float]:
    """:func:`bd_rate_bound` of two curves already through :func:`_prepare`."""
    from scipy.interpolate import PchipInterpolator  # a dependency of bjontegaard

    def mean_log_rate(rates: np.ndarray, metrics: np.ndarray) -> float:
        curve = PchipInterpolator(metrics, np.log10(rates))
        return float(curve.integrate(metrics[0], metrics[-1]) / (metrics[-1] - metrics[0]))

    if mt[0] > ma[-1]:
        return '<=', float(100 * (10 ** (math.log10(rt[0]) - mean_log_rate(ra, ma)) - 1))
    if ma[0] > mt[-1]:
        return '>=', float(100 * (10 ** (mean_log_rate(rt, mt) - math.log10(ra[0])) - 1))
    raise ValueError(f"BD-rate bound: the metric ranges of '{anchor_name}' and "
                     f"'{test_name}' overlap; use bd_rate")


def equal_metric_rate(anchor_rates: Sequence[float], anchor_metric: Sequence[float],
                      metric: float, *, non_monotonic: str = 'pareto',
                      anchor_name: str = 'anchor') -> tuple[str, float]:
    """The rate the anchor needs for ``metric``: one test *point* against a curve, where BD
    needs whole curves (e.g. a single-λ experiment, or each λ of a curve on its own).

    Interpolated the BD-rate way (pchip of log10 rate over the metric, on the curve's
    points as :func:`bd_rate` keeps them, 2 at least). Outside the anchor's metric range
    the answer is a bound: a metric below its lowest point's needs at most that point's
    rate (a codec can always spend its cheapest point); one above its highest point's is
    not reached by any point measured (more than the highest rate, if at all).

    Args:
        anchor_rates (Sequence[float]): Anchor rates (bpp), > 0, any order.
        anchor_metric (Sequence[float]): Anchor metric (higher is better) at those rates.
        metric (float): The metric asked for, e.g. a test point's mAP.
        non_monotonic (str): 'pareto' (default: drop dominated anchor points) or 'raise',
            see :func:`bd_rate`.
        anchor_name (str): Name used in messages. Defaults to 'anchor'.

    Returns:
        tuple[str, float]: ``('=', rate)`` inside the range, ``('<=', lowest rate)`` below
        it, ``('>', highest rate)`` above it. A test point at rate ``r`` spends
        ``r / rate`` times the anchor's bits for the same metric (a bound where not '=').

    Example:
        >>> side, rate = equal_metric_rate([1, 2, 4, 8], [30, 33, 36, 39], 34.5)
        >>> side, round(rate, 4)  # halfway between 2 and 4 on the log-rate axis
        ('=', 2.8284)
    """
    _check_options(2, 0.0, non_monotonic)
    if isinstance(metric, bool) or not isinstance(metric, numbers.Real) \
            or not math.isfinite(metric):
        raise ValueError(f'metric must be a finite number, got {metric!r}')
    ra, ma = _prepare(anchor_rates, anchor_metric, anchor_name, 'equal-metric rate', 2,
                      non_monotonic)
    if metric <= ma[0]:
        return ('=', float(ra[0])) if metric == ma[0] else ('<=', float(ra[0]))
    if metric > ma[-1]:
        return '>', float(ra[-1])
    from scipy.interpolate import PchipInterpolator  # a dependency of bjontegaard
    return '=', float(10 ** PchipInterpolator(ma, np.log10(ra))(metric))


def bd_metric(anchor_rates: Sequence[float], anchor_metric: Sequence[float],
              test_rates: Sequence[float], test_metric: Sequence[float], *,
              min_points: int = MIN_POINTS, min_overlap: float = MIN_OVERLAP,
              non_monotonic: str = 'raise', anchor_name: str = 'anchor',
              test_name: str = 'test') -> float:
    """BD-metric (BD-accuracy, BD-mAP, BD-PSNR): average metric gain of ``test`` at equal rate.

    pchip interpolation of the metric over log10(rate), averaged over the log-rate interval
    both curves cover (``bjontegaard.bd_psnr(..., method='pchip')``, which is metric-agnostic).
    The overlap check is on the log10-rate axis, the integration axis.

    Args:
        anchor_rates (Sequence[float]): Anchor rates (bpp), > 0, any order.
        anchor_metric (Sequence[float]): Anchor metric (higher is better) at those rates.
        test_rates (Sequence[float]): Test rates (bpp).
        test_metric (Sequence[float]): Test metric.
        min_points (int): Points each curve needs. Defaults to :data:`MIN_POINTS` (4).
        min_overlap (float): log-rate overlap, as a fraction of the smaller curve's span,
            below which :class:`BDOverlapWarning` is emitted. Defaults to 0.5.
        non_monotonic (str): 'raise' (default) or 'pareto', see :func:`bd_rate`.
        anchor_name (str): Name used in messages. Defaults to 'anchor'.
        test_name (str): Name used in messages. Defaults to 'test'.

    Returns:
        float: Average metric difference (test - anchor), in the metric's unit; positive =
        the test codec is more accurate at the same rate.
    """
    _check_options(min_points, min_overlap, non_monotonic)
    ra, ma = _prepare(anchor_rates, anchor_metric, anchor_name, 'BD-metric', min_points,
                      non_monotonic)
    rt, mt = _prepare(test_rates, test_metric, test_name, 'BD-metric', min_points,
                      non_monotonic)
    _overlap(np.log10(ra), np.log10(rt), 'log10(rate)', 'BD-metric', anchor_name, test_name,
             min_overlap)
    value = _bjontegaard().bd_psnr(ra, ma, rt, mt, method=_METHOD,
                                   require_matching_points=False, min_overlap=0)
    return float(value)


# ---------------------------------------------------------------------------------- curves
@dataclass(frozen=True)
class Curve:
    """A rate-accuracy curve of one codec.

    Stored as given (not sorted). Construction checks lengths, finiteness and rates > 0;
    the BD functions check the rest (number of points, monotonicity).

    Attributes:
        name (str): Codec / method name, e.g. 'jpeg' or 'dicm'.
        rates (tuple[float, ...]): Rates in bits per input pixel (bpp).
        metrics (tuple[float, ...]): The metric at each rate (higher is better).
        metric_name (str): e.g. 'mAP', 'bbox_mAP', 'top-1 (%)'. Defaults to 'mAP'.
    """
    name: str
    rates: tuple[float, ...]
    metrics: tuple[float, ...]
    metric_name: str = 'mAP'

    def __post_init__(self) -> None:
        for field in ('name', 'metric_name'):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise TypeError(f'Curve.{field} must be a non-empty str, got {value!r}')
        rates, metrics = _basic_checks(self.rates, self.metrics, self.name)
        object.__setattr__(self, 'rates', tuple(float(v) for v in rates))
        object.__setattr__(self, 'metrics', tuple(float(v) for v in metrics))

    def to_dict(self) -> dict[str, Any]:
        """``{'name', 'metric_name', 'rates', 'metrics'}``, JSON-ready."""
        return dict(name=self.name, metric_name=self.metric_name, rates=list(self.rates),
                    metrics=list(self.metrics))


def _metric_overlap_fraction(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a.max(), b.max()) - max(a.min(), b.min())
    return float(max(width, 0.0) / min(np.ptp(a), np.ptp(b)))


def compare(anchor: Curve, tests: Sequence[Curve], *, min_points: int = MIN_POINTS,
            min_overlap: float = MIN_OVERLAP, non_monotonic: str = 'raise',
            on_error: str = 'raise') -> list[dict[str, Any]]:
    """BD-rate and BD-metric of every test curve against one anchor: the results table.

    Args:
        anchor (Curve): The reference, e.g. the JPEG or VVC curve.
        tests (Sequence[Curve]): The curves to compare with it (same ``metric_name``).
        min_points (int): See :func:`bd_rate`. Defaults to 4.
        min_overlap (float): See :func:`bd_rate`. Defaults to 0.5.
        non_monotonic (str): See :func:`bd_rate`. Defaults to 'raise'.
        on_error (str): 'raise' (default) re-raises a ``ValueError`` of a BD computation;
            'record' puts its message in the row's ``error`` and None in that BD value (the
            other one is still computed), so one bad curve does not lose the others' rows.

    Returns:
        list[dict]: One row per test curve, in order: ``anchor``, ``test``, ``metric_name``,
        ``bd_rate_pct`` (%, negative = fewer bits), ``bd_metric`` (metric units, positive =
        more accurate), ``bd_rate_bound`` (where the metric ranges do not overlap and so
        ``bd_rate_pct`` is None: ``[side, pct]`` from :func:`bd_rate_bound`, e.g. ``['<=',
        -35.8]``, also for curves with too few points for BD-rate but the bound's
        :data:`MIN_BOUND_POINTS`; else None), ``metric_overlap`` / ``rate_overlap`` (overlap
        fraction of the smaller span on the metric / log10-rate axis, after sorting and any
        Pareto pruning),
        ``num_points_anchor`` / ``num_points_test`` (as given), ``method`` ('pchip') and
        ``error`` (None, or the message with ``on_error='record'``).
    """
    if not isinstance(anchor, Curve):
        raise TypeError(f'anchor must be a Curve, got {type(anchor).__name__}')
    if isinstance(tests, Curve) or not isinstance(tests, Sequence) or not tests:
        raise TypeError('tests must be a non-empty sequence of Curve')
    if on_error not in ('raise', 'record'):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    _check_options(min_points, min_overlap, non_monotonic)
    for test in tests:
        if not isinstance(test, Curve):
            raise TypeError(f'tests must hold Curve objects, got {type(test).__name__}')
        if test.metric_name != anchor.metric_name:
            raise ValueError(f"curve '{test.name}' measures {test.metric_name!r}, the anchor "
                             f"'{anchor.name}' {anchor.metric_name!r}: BD needs one metric")
    kwargs = dict(min_points=min_points, min_overlap=min_overlap,
                  non_monotonic=non_monotonic, anchor_name=anchor.name)
    rows = []
    for test in tests:
        row: dict[str, Any] = dict(anchor=anchor.name, test=test.name,
                                   metric_name=anchor.metric_name, bd_rate_pct=None,
                                   bd_metric=None, bd_rate_bound=None,
                                   metric_overlap=None, rate_overlap=None,
                                   num_points_anchor=len(anchor.rates),
                                   num_points_test=len(test.rates),
                                   method=_METHOD, error=None)
        errors = []
        # each delta on its own: BD-rate can exist where BD-metric cannot (the metric ranges
        # overlap, the rate ranges do not), and the other way round
        for key, fn in (('bd_rate_pct', bd_rate), ('bd_metric', bd_metric)):
            try:
                row[key] = fn(anchor.rates, anchor.metrics, test.rates, test.metrics,
                              test_name=test.name, **kwargs)
            except ValueError as e:
                if on_error == 'raise':
                    raise
                errors.append(str(e))
        try:  # (on the curves a bound can rest on: fewer points than BD-rate's)
            ra, ma = _prepare(anchor.rates, anchor.metrics, anchor.name, 'BD',
                              MIN_BOUND_POINTS, non_monotonic)
            rt, mt = _prepare(test.rates, test.metrics, test.name, 'BD', MIN_BOUND_POINTS,
                              non_monotonic)
            row['metric_overlap'] = _metric_overlap_fraction(ma, mt)
            row['rate_overlap'] = _metric_overlap_fraction(np.log10(ra), np.log10(rt))
            if row['bd_rate_pct'] is None and row['metric_overlap'] == 0.0:
                row['bd_rate_bound'] = list(_rate_bound(ra, ma, rt, mt, anchor.name,
                                                        test.name))
        except ValueError:
            pass  # already reported by the deltas above
        if errors:
            row['error'] = '; '.join(dict.fromkeys(errors))
        rows.append(row)
    return rows


def __getattr__(name: str) -> Any:
    """``write_results``, which moved to :mod:`mmdicm.evaluation.bd_results`, still resolves
    here for one release, with a DeprecationWarning like every moved name of
    :mod:`mmdicm.evaluation` (imported when asked for: that module imports this one)."""
    if name == 'write_results':
        warnings.warn('mmdicm.evaluation.bd_metrics.write_results moved to '
                      'mmdicm.evaluation.bd_results.write_results; the old name goes in the '
                      'next release', DeprecationWarning, stacklevel=2)
        from .bd_results import write_results
        return write_results
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
