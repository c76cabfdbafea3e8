"""BD-rate / BD-metric (``mmdicm.evaluation.bd_metrics``): exact values on constructed
curves, agreement with the bjontegaard package on its own example data, the overlap warning
and error, input validation, the comparison table and the written files."""
import csv
import json
import os
import warnings

import bjontegaard
import numpy as np
import pytest
from PIL import Image

from mmdicm.evaluation.bd_metrics import (BDOverlapWarning, Curve, bd_metric, bd_rate,
                                          bd_rate_bound, compare, equal_metric_rate)
from mmdicm.evaluation.bd_results import write_results

RATES = [0.05, 0.1, 0.2, 0.4, 0.8]
MAP = [0.12, 0.21, 0.29, 0.34, 0.37]

# The bjontegaard package's own example data (README "Usage", example_usage.py test case 1:
# x265 presets, kbps / PSNR dB) and its test case 3 (six points per curve).
README = dict(rate_anchor=[9487.76, 4593.60, 2486.44, 1358.24],
              psnr_anchor=[40.037, 38.615, 36.845, 34.851],
              rate_test=[9787.80, 4469.00, 2451.52, 1356.24],
              psnr_test=[40.121, 38.651, 36.970, 34.987])
CASE3 = dict(rate_anchor=[82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900],
             psnr_anchor=[43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
             rate_test=[99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300],
             psnr_test=[44.731, 41.875, 40.121, 38.651, 37, 36.5])


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """No test may warn unless it says so (pytest.warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter('error', BDOverlapWarning)
        yield


@pytest.mark.parametrize('ratio', [0.8, 1.25, 0.5])
def test_constant_rate_ratio_is_exact(ratio):
    # same metric values at ratio x the rate: log-rate curves differ by a constant, which
    # pchip reproduces exactly, so BD-rate = (ratio - 1) * 100 up to rounding
    value = bd_rate(RATES, MAP, [ratio * r for r in RATES], MAP)
    assert value == pytest.approx(100 * (ratio - 1), rel=1e-9)


def test_minus_20_and_plus_25():
    test = [0.8 * r for r in RATES]
    assert bd_rate(RATES, MAP, test, MAP) == pytest.approx(-20.0, rel=1e-9)
    assert bd_rate(test, MAP, RATES, MAP) == pytest.approx(25.0, rel=1e-9)


def test_point_order_does_not_matter():
    order = [3, 0, 4, 1, 2]
    shuffled = ([RATES[i] * 0.8 for i in order], [MAP[i] for i in order])
    assert bd_rate(RATES, MAP, *shuffled) == pytest.approx(-20.0, rel=1e-9)
    assert bd_metric(RATES[::-1], MAP[::-1], *shuffled) == pytest.approx(
        bd_metric(RATES, MAP, [0.8 * r for r in RATES], MAP), abs=1e-12)


@pytest.mark.parametrize('offset', [0.03, -0.05])
def test_bd_metric_constant_offset(offset):
    assert bd_metric(RATES, MAP, RATES, [m + offset for m in MAP]) == pytest.approx(
        offset, abs=1e-12)


def test_bd_metric_on_a_log_linear_curve():
    # metric = a + b * log10(rate): a rate ratio k shifts the metric by -b * log10(k) exactly
    rates = np.array(RATES)
    metric = 0.5 + 0.1 * np.log10(rates)
    value = bd_metric(rates, metric, 0.8 * rates, metric, min_overlap=0.0)
    assert value == pytest.approx(-0.1 * np.log10(0.8), rel=1e-9)


@pytest.mark.parametrize('case', [README, CASE3], ids=['readme', 'case3'])
def test_agrees_with_bjontegaard(case):
    args = (case['rate_anchor'], case['psnr_anchor'], case['rate_test'], case['psnr_test'])
    # min_overlap=0: the package's own overlap warning uses another definition
    expected_rate = bjontegaard.bd_rate(*args, method='pchip', min_overlap=0)
    expected_psnr = bjontegaard.bd_psnr(*args, method='pchip', min_overlap=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', BDOverlapWarning)  # case 3 overlaps little in rate
        assert bd_rate(*args) == pytest.approx(expected_rate, abs=1e-12)
        assert bd_metric(*args) == pytest.approx(expected_psnr, abs=1e-12)


def test_readme_values_pinned():
    # pins the numbers, so a change of the package's pchip behaviour shows up here
    args = tuple(README.values())
    assert bd_rate(*args) == pytest.approx(-4.417485350589045, abs=1e-9)
    assert bd_metric(*args) == pytest.approx(0.11969278542479489, abs=1e-9)


# ---------------------------------------------------------------------------------- overlap
def test_marginal_overlap_warns():
    anchor_map = [0.10, 0.20, 0.30, 0.40]
    test_map = [0.35, 0.45, 0.55, 0.65]  # overlap 0.05 of a 0.3 span: 17 %
    with pytest.warns(BDOverlapWarning, match=r"BD-rate of 'dicm' vs 'jpeg'.* only 17%"):
        bd_rate(RATES[:4], anchor_map, RATES[:4], test_map, anchor_name='jpeg',
                test_name='dicm')
    assert np.isfinite(bd_rate(RATES[:4], anchor_map, RATES[:4], test_map, min_overlap=0.1))
    # BD-metric checks the log-rate axis: RATES[:4] span 3 octaves; 4x the rate shares 1 of
    # them (33 %), 2x shares 2 (67 %)
    with pytest.warns(BDOverlapWarning, match=r'BD-metric.* only 33% .*log10\(rate\)'):
        bd_metric(RATES[:4], MAP[:4], [4 * r for r in RATES[:4]], MAP[:4])
    bd_metric(RATES[:4], MAP[:4], [2 * r for r in RATES[:4]], MAP[:4])  # silent


def test_no_overlap_raises():
    with pytest.raises(ValueError, match=r"BD-rate: the metric ranges of 'jpeg' \[0.1, 0.4\] "
                                         r"and 'dicm' \[0.5, 0.8\] do not overlap"):
        bd_rate(RATES[:4], [0.1, 0.2, 0.3, 0.4], RATES[:4], [0.5, 0.6, 0.7, 0.8],
                anchor_name='jpeg', test_name='dicm')
    with pytest.raises(ValueError, match='BD-metric: the log10\\(rate\\) ranges'):
        bd_metric(RATES, MAP, [100 * r for r in RATES], MAP)
    with pytest.raises(ValueError, match='do not overlap'):  # touching is not overlapping
        bd_rate([1, 2, 3, 4], [1, 2, 3, 4], [5, 6, 7, 8], [4, 5, 6, 7])


def test_bd_rate_bound_where_the_metric_ranges_do_not_overlap():
    """Disjoint metric ranges: no BD-rate, but the upper curve's cheapest point bounds it. A
    log-linear anchor (rate 2 ** (m - 1)) has the geometric-mean rate 2 ** 1.5 over its range,
    so a test reaching more at 0.5 bpp is at most 0.5 / 2 ** 1.5 - 1; the other way round the
    test is at least 2 ** 1.5 / 0.5 - 1."""
    low = ([1, 2, 4, 8], [1, 2, 3, 4])
    high = ([4, 0.5, 1, 2], [8, 5, 6, 7])  # any order
    side, pct = bd_rate_bound(*low, *high)
    assert side == '<=' and pct == pytest.approx(100 * (0.5 / 2 ** 1.5 - 1), rel=1e-9)
    side, pct = bd_rate_bound(*high, *low)
    assert side == '>=' and pct == pytest.approx(100 * (2 ** 1.5 / 0.5 - 1), rel=1e-9)
    # the cheaper the upper curve's lowest point, the tighter (more negative) the bound
    assert bd_rate_bound(*low, [0.25, 1, 2, 4], [5, 6, 7, 8])[1] < bd_rate_bound(*low, *high)[1]
    with pytest.raises(ValueError, match="'jpeg' and 'dicm' overlap; use bd_rate"):
        bd_rate_bound(RATES, MAP, RATES, MAP, anchor_name='jpeg', test_name='dicm')
    # the bound interpolates one curve and takes one point of the other: 2 points each do
    side, pct = bd_rate_bound(*low, [0.5, 1], [5, 6])
    assert side == '<=' and pct == pytest.approx(100 * (0.5 / 2 ** 1.5 - 1), rel=1e-9)
    with pytest.raises(ValueError, match='at least 4 points'):
        bd_rate_bound(*low, [0.5, 1], [5, 6], min_points=4)
    with pytest.raises(ValueError, match='at least 2 points'):
        bd_rate_bound(*low, [0.5], [5])


def test_equal_metric_rate_of_one_point():
    """One point against a curve: the anchor's rate at the point's metric, interpolated as
    BD-rate does (so a constant-ratio curve gives that ratio at every metric), else a bound."""
    rates, metrics = [0.2, 0.4, 0.8, 1.6], [0.01, 0.02, 0.03, 0.035]
    for m in (0.01, 0.015, 0.027, 0.035):
        test = [r * 1.7 for r in rates]
        side, needed = equal_metric_rate(rates, metrics, m)
        assert side == '='
        # the test curve (1.7x the rate everywhere) spends 1.7x the anchor's bits there
        assert equal_metric_rate(test, metrics, m)[1] / needed == pytest.approx(1.7, rel=1e-9)
    assert equal_metric_rate(rates, metrics, 0.02) == ('=', pytest.approx(0.4))
    # between points, on the log-rate axis: pchip of a log-linear anchor is exact
    assert equal_metric_rate([1, 2, 4, 8], [30, 33, 36, 39], 34.5)[1] == \
        pytest.approx(2 ** 1.5, rel=1e-9)
    assert equal_metric_rate(rates, metrics, 0.005) == ('<=', 0.2)  # below: its cheapest
    assert equal_metric_rate(rates, metrics, 0.05) == ('>', 1.6)  # above: never reached
    # a dominated anchor point is dropped as BD-rate drops it (0.9 bpp for less than 0.8's)
    assert equal_metric_rate(rates + [0.9], metrics + [0.025], 0.03) == ('=', pytest.approx(0.8))
    with pytest.raises(ValueError, match='does not increase'):
        equal_metric_rate(rates + [0.9], metrics + [0.025], 0.03, non_monotonic='raise')
    with pytest.raises(ValueError, match='at least 2 points'):
        equal_metric_rate([0.2], [0.01], 0.01, anchor_name='jpeg')
    with pytest.raises(ValueError, match='finite number'):
        equal_metric_rate(rates, metrics, float('nan'))


# ---------------------------------------------------------------------------------- checks
def test_too_few_points():
    with pytest.raises(ValueError, match="BD-rate needs at least 4 points per curve, got 3 "
                                         "for 'jpeg'"):
        bd_rate(RATES[:3], MAP[:3], RATES, MAP, anchor_name='jpeg')
    with pytest.raises(ValueError, match="BD-metric needs at least 4 points.*got 2 for 'test'"):
        bd_metric(RATES, MAP, RATES[:2], MAP[:2])
    assert bd_rate(RATES[:3], MAP[:3], [0.8 * r for r in RATES[:3]], MAP[:3],
                   min_points=3) == pytest.approx(-20.0, rel=1e-9)


@pytest.mark.parametrize('rates, metrics, match', [
    ([0.1, np.nan, 0.3, 0.4], MAP[:4], 'NaN or infinite'),
    (RATES[:4], [0.1, 0.2, np.inf, 0.4], 'NaN or infinite'),
    ([0.0, 0.1, 0.2, 0.4], MAP[:4], 'must be > 0'),
    ([-0.1, 0.1, 0.2, 0.4], MAP[:4], 'must be > 0'),
    (RATES[:4], MAP[:3], 'has 4 rates but 3 metric values'),
    ([[0.1, 0.2], [0.3, 0.4]], [[1, 2], [3, 4]], 'must be 1-D'),
    (RATES[:4], [0.1, 0.3, 0.2, 0.4], "does not increase with the rate: 0.3 at 0.1 then 0.2"),
    (RATES[:4], [0.1, 0.2, 0.2, 0.4], 'does not increase with the rate'),
    ([0.1, 0.2, 0.2, 0.4], MAP[:4], "two points at rate 0.2"),
])
def test_invalid_curves(rates, metrics, match):
    with pytest.raises(ValueError, match=match):
        bd_rate(rates, metrics, RATES, MAP)
    with pytest.raises(ValueError, match=match):
        bd_metric(RATES, MAP, rates, metrics, min_overlap=0)


def test_bad_types_and_options():
    with pytest.raises(TypeError, match='sequence of numbers'):
        bd_rate('0.1,0.2', MAP, RATES, MAP)
    with pytest.raises(TypeError, match='sequence of numbers'):
        bd_rate(RATES, ['a', 'b', 'c', 'd', 'e'], RATES, MAP)
    with pytest.raises(ValueError, match='min_points must be an int >= 2'):
        bd_rate(RATES, MAP, RATES, MAP, min_points=1)
    with pytest.raises(ValueError, match=r'min_overlap must be a fraction in \[0, 1\]'):
        bd_rate(RATES, MAP, RATES, MAP, min_overlap=50)
    with pytest.raises(ValueError, match='non_monotonic must be one of'):
        bd_metric(RATES, MAP, RATES, MAP, non_monotonic='drop')


def test_pareto_drops_dominated_points():
    # a saturating mAP curve with jitter: 0.37 at 0.8 bpp, 0.369 at 1.6 bpp, duplicate rate
    noisy_rates = RATES + [1.6, 0.4]
    noisy_map = MAP + [0.369, 0.33]
    with pytest.raises(ValueError, match="pass non_monotonic='pareto'"):
        bd_rate(RATES, MAP, noisy_rates, noisy_map)
    test = [0.8 * r for r in noisy_rates]
    assert bd_rate(RATES, MAP, test, noisy_map, non_monotonic='pareto') == pytest.approx(
        bd_rate(RATES, MAP, [0.8 * r for r in RATES], MAP), abs=1e-12)
    with pytest.raises(ValueError, match=r"got 3 for 'test' after dropping 2 dominated"):
        bd_rate(RATES, MAP, RATES, [0.1, 0.2, 0.3, 0.3, 0.25], non_monotonic='pareto')


# ---------------------------------------------------------------------------------- curves
def curves():
    jpeg = Curve('jpeg', RATES, MAP)
    dicm = Curve('dicm', [0.8 * r for r in RATES], [m + 0.01 for m in MAP])
    vvc = Curve('vvc', [1.1 * r for r in RATES], MAP)
    return jpeg, dicm, vvc


def test_curve_checks():
    c = Curve('jpeg', np.array(RATES), MAP, metric_name='bbox_mAP')
    assert c.rates == tuple(RATES) and isinstance(c.rates[0], float)
    assert c.to_dict() == dict(name='jpeg', metric_name='bbox_mAP', rates=RATES, metrics=MAP)
    with pytest.raises(ValueError, match="'jpeg' has 5 rates but 4 metric values"):
        Curve('jpeg', RATES, MAP[:4])
    with pytest.raises(ValueError, match="rates of 'jpeg' must be > 0"):
        Curve('jpeg', [0] + RATES[1:], MAP)
    with pytest.raises(TypeError, match='Curve.name'):
        Curve('', RATES, MAP)


def test_compare_table():
    jpeg, dicm, vvc = curves()
    table = compare(jpeg, [dicm, vvc])
    assert [(r['anchor'], r['test']) for r in table] == [('jpeg', 'dicm'), ('jpeg', 'vvc')]
    assert table[1]['bd_rate_pct'] == pytest.approx(10.0, rel=1e-9)
    assert table[0]['bd_rate_pct'] < -20 and table[0]['bd_metric'] > 0.01
    assert bd_metric(RATES, MAP, vvc.rates, vvc.metrics) == pytest.approx(table[1]['bd_metric'])
    for row in table:
        assert row['method'] == 'pchip' and row['error'] is None
        assert row['metric_name'] == 'mAP' and row['num_points_test'] == 5
        assert 0.5 < row['metric_overlap'] <= 1 and 0.5 < row['rate_overlap'] <= 1
    with pytest.raises(ValueError, match="measures 'top-1'"):
        compare(jpeg, [Curve('x', RATES, MAP, metric_name='top-1')])
    with pytest.raises(TypeError, match='non-empty sequence of Curve'):
        compare(jpeg, dicm)


def test_compare_records_errors():
    jpeg, dicm, _ = curves()
    far = Curve('far', [100 * r for r in RATES], [m + 1 for m in MAP])
    with pytest.raises(ValueError, match='do not overlap'):
        compare(jpeg, [dicm, far])
    table = compare(jpeg, [dicm, far], on_error='record')
    assert table[0]['error'] is None and table[0]['bd_rate_pct'] is not None
    assert table[1]['bd_rate_pct'] is None and 'do not overlap' in table[1]['error']
    # 'far' is above jpeg at 100x its rates: the bound is in the row, the overlapping row has
    # none
    assert table[0]['bd_rate_bound'] is None
    side, pct = table[1]['bd_rate_bound']
    assert side == '<=' and pct == pytest.approx(
        bd_rate_bound(jpeg.rates, jpeg.metrics, far.rates, far.metrics)[1]) and pct > 0
    from mmdicm.apis.rate_sweep.report import format_bd_rate
    assert format_bd_rate(table[1]) == f'<= {pct:+.1f}'
    assert format_bd_rate(table[0]) == f"{table[0]['bd_rate_pct']:+.1f}"
    assert format_bd_rate(dict(bd_rate_pct=None, bd_rate_bound=None)) == 'n/a'


def test_compare_bounds_a_curve_too_short_for_bd_rate_where_the_ranges_are_disjoint():
    """A learned codec far below DICM with 3 points after pruning (the sweep's mbt2018-mean):
    no BD-rate (4 points), but the bound, which the row's error does not hide; a curve that
    overlaps with too few points gets no bound."""
    dicm = Curve('dicm', [0.8, 0.36, 0.26, 0.2], [0.095, 0.089, 0.078, 0.065])
    mbt = Curve('mbt', [0.217, 0.264, 0.335, 0.456], [0.023, 0.026, 0.024, 0.032])
    row, = compare(mbt, [dicm], non_monotonic='pareto', on_error='record')
    assert row['bd_rate_pct'] is None and 'at least 4 points' in row['error']
    side, pct = row['bd_rate_bound']
    assert side == '<=' and pct == pytest.approx(bd_rate_bound(
        mbt.rates, mbt.metrics, dicm.rates, dicm.metrics, non_monotonic='pareto')[1])
    assert -40 < pct < -30  # 0.2 bpp against 0.217-0.456 bpp over 0.023-0.032 mAP
    near = Curve('near', [0.2, 0.3, 0.5], [0.03, 0.05, 0.07])  # overlaps DICM's range
    row, = compare(dicm, [near], on_error='record')
    assert row['bd_rate_pct'] is None and row['bd_rate_bound'] is None
    assert row['metric_overlap'] > 0


def test_compare_records_each_delta_on_its_own():
    """Same metric range, disjoint rates: BD-rate exists (a huge one), BD-metric does not."""
    jpeg, _, _ = curves()
    costly = Curve('costly', [1000 * r for r in RATES], MAP)
    row, = compare(jpeg, [costly], on_error='record')
    assert row['bd_rate_pct'] == pytest.approx(100 * (1000 - 1), rel=1e-6)
    assert row['bd_metric'] is None and 'log10(rate) ranges' in row['error']
    with pytest.raises(ValueError, match='do not overlap'):
        compare(jpeg, [costly])


def test_write_results(tmp_path):
    import matplotlib

    backend = dict.__getitem__(matplotlib.rcParams, 'backend')
    jpeg, dicm, vvc = curves()
    table = compare(jpeg, [dicm, vvc])
    table.append(dict(test='nan-row', bd_rate_pct=float('nan')))
    out = tmp_path / 'bd'
    paths = write_results([jpeg, dicm, vvc], table, out)
    assert set(paths) == {'csv', 'json', 'png'}
    assert sorted(os.listdir(out)) == ['bd.json', 'curves.csv', 'rate_accuracy.png']

    with open(paths['csv'], newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['codec', 'bpp', 'metric'] and len(rows) == 1 + 3 * len(RATES)
    assert rows[1] == ['jpeg', '0.05', '0.12']
    assert [float(r[1]) for r in rows[1 + len(RATES):1 + 2 * len(RATES)]] == list(dicm.rates)

    with open(paths['json']) as f:
        doc = json.load(f)
    assert doc['metric_name'] == 'mAP' and doc['rate_unit'] == 'bpp'
    assert [c['name'] for c in doc['curves']] == ['jpeg', 'dicm', 'vvc']
    assert len(doc['bd']) == 3 and doc['bd'][2]['bd_rate_pct'] is None  # NaN -> null
    assert doc['bd'][1]['bd_rate_pct'] == pytest.approx(10.0)

    with Image.open(paths['png']) as im:
        assert im.format == 'PNG' and im.size[0] > 100 and im.size[1] > 100
    assert os.path.getsize(paths['png']) > 1000
    assert dict.__getitem__(matplotlib.rcParams, 'backend') == backend  # untouched

    # rewriting replaces the files, leaving no temporaries behind
    write_results([jpeg], [], out)
    assert sorted(os.listdir(out)) == ['bd.json', 'curves.csv', 'rate_accuracy.png']
    with open(paths['csv']) as f:
        assert len(f.read().splitlines()) == 1 + len(RATES)


def test_write_results_bad_arguments(tmp_path):
    jpeg, dicm, _ = curves()
    with pytest.raises(ValueError, match='distinct'):
        write_results([jpeg, jpeg], [], tmp_path)
    with pytest.raises(ValueError, match='one metric_name'):
        write_results([jpeg, Curve('x', RATES, MAP, metric_name='top-1')], [], tmp_path)
    with pytest.raises(TypeError, match='sequence of dicts'):
        write_results([jpeg], {'a': 1}, tmp_path)
    with pytest.raises(TypeError, match='non-empty sequence of Curve'):
        write_results([], [], tmp_path)
    assert os.listdir(tmp_path) == []


def test_write_results_reference_line(tmp_path):
    jpeg, dicm, _ = curves()
    paths = write_results([jpeg, dicm], compare(jpeg, [dicm]), tmp_path / 'ref',
                          reference=('uncompressed', 0.4))
    doc = json.load(open(paths['json']))
    assert doc['reference'] == {'name': 'uncompressed', 'metric': 0.4}
    for bad in (0.4, ('uncompressed', float('nan')), ('a', 'b')):
        with pytest.raises(TypeError, match='reference must be'):
            write_results([jpeg], [], tmp_path / 'bad', reference=bad)
    assert not (tmp_path / 'bad').exists()


def test_write_results_still_resolves_from_bd_metrics():
    """write_results moved to bd_results (bd_metrics was 548 lines); the old import path
    users may have is the same function, warns like every moved name (naming the new place),
    and an unknown name is still an AttributeError."""
    from mmdicm.evaluation import bd_metrics, bd_results
    with pytest.warns(DeprecationWarning, match='moved to mmdicm.evaluation.bd_results'):
        old = bd_metrics.write_results
    assert old is bd_results.write_results is write_results
    with pytest.raises(AttributeError, match='no attribute'):
        bd_metrics.no_such_name
