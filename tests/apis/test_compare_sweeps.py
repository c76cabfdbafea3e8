"""tools/compare_sweeps.py: one curve of several sweeps' results, BD-rate against the first."""
import os.path as osp
import sys

import pytest

from mmdicm.apis.rate_sweep import SweepError
from mmdicm.apis.rate_sweep.compare import compare_sweeps
from mmdicm.evaluation.bd_metrics import Curve
from mmdicm.evaluation.bd_results import write_results

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'tools'))
import compare_sweeps as tool  # noqa: E402

RATES = (0.2, 0.4, 0.8, 1.6)
MAP = (0.01, 0.02, 0.03, 0.035)


def _sweep(path, scale, with_jpeg=True):
    curves = [Curve('dicm', rates=[r * scale for r in RATES], metrics=MAP, metric_name='bbox mAP')]
    if with_jpeg:
        curves.insert(0, Curve('jpeg', rates=[r / 2 for r in RATES], metrics=MAP,
                               metric_name='bbox mAP'))
    write_results(curves, [], str(path), reference=('uncompressed', 0.04))
    return str(path)


def test_each_sweep_s_curve_is_compared_with_the_first_s_and_its_baselines(tmp_path):
    a = _sweep(tmp_path / 'a', 1.0)
    b = _sweep(tmp_path / 'b', 0.5, with_jpeg=False)  # the same accuracy at half the bits
    curves, table = compare_sweeps([(a, 'default'), (b, 's')], baselines=['jpeg'],
                                   out_dir=str(tmp_path / 'out'))
    assert [c.name for c in curves] == ['jpeg', 'dicm (default)', 'dicm (s)']
    rows = {(r['test'], r['anchor']): r['bd_rate_pct'] for r in table}
    assert set(rows) == {('dicm (s)', 'dicm (default)'), ('dicm (default)', 'jpeg'),
                         ('dicm (s)', 'jpeg')}
    assert rows[('dicm (s)', 'dicm (default)')] == pytest.approx(-50, abs=0.5)
    assert rows[('dicm (default)', 'jpeg')] == pytest.approx(100, abs=1)
    assert rows[('dicm (s)', 'jpeg')] == pytest.approx(0, abs=0.5)
    assert osp.isfile(tmp_path / 'out' / 'rate_accuracy.png')


def test_what_is_missing_is_named(tmp_path, capsys):
    a = _sweep(tmp_path / 'a', 1.0)
    with pytest.raises(SweepError, match='no bd.json'):
        compare_sweeps([(a, 'x'), (str(tmp_path / 'none'), 'y')])
    with pytest.raises(SweepError, match="no 'dicm-task-stage' curve"):
        compare_sweeps([(a, 'x'), (a, 'y')], curve='dicm-task-stage')
    with pytest.raises(SweepError, match=r"no \['vvc'\] curve"):
        compare_sweeps([(a, 'x'), (a, 'y')], baselines=['vvc'])
    with pytest.raises(SweepError, match='at least two'):
        compare_sweeps([(a, 'x')])
    assert tool.main([f'{a}=x', f'{tmp_path}/none=y']) == 2
    assert 'error: ' in capsys.readouterr().err
    assert tool.main([f'{a}=x', f'{a}=y']) == 0
    out = capsys.readouterr().out
    assert '| dicm (y) | dicm (x) | +0.0 |' in out
    # each point against each baseline at equal accuracy: dicm spends 2x jpeg's bits
    assert tool.main([f'{a}=x', f'{a}=y', '--baselines', 'jpeg']) == 0
    out = capsys.readouterr().out
    assert '| curve | bpp | bbox mAP | jpeg |' in out
    assert '| dicm (x) | 1.600 | 0.035 | 2.00x |' in out
    assert '| dicm (y) | 0.200 | 0.010 | 2.00x |' in out
