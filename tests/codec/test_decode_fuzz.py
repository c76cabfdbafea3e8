"""Containers with valid CRCs -- what a buggy or hostile encoder sends -- never crash, hang or
bloat the receiver: each outcome is a BitstreamError or a deterministic decode."""
import hashlib
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest

from fuzz_decode_cases import build_codec, crafted_containers, valid_containers  # tests/codec

HERE = osp.dirname(osp.abspath(__file__))
#: how far the receiver's peak RSS may grow through every crafted case (declared sizes up to
#: 65536 x 65536 included) above what it held after decoding the first, real container (the
#: process itself, torch and mmdicm imported: ~0.9-1.6 GB, which varies with the machine)
MAX_RSS_GROWTH_MB = 256


def run_child(tmp_path, cases, widths, timeout):
    path = tmp_path / f'cases-{widths}.pkl'
    with open(path, 'wb') as f:
        pickle.dump([data for _, data in cases], f)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, osp.join(HERE, 'fuzz_decode_child.py'), str(path),
                           widths], capture_output=True, text=True, timeout=timeout, env=env)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    results = [r for r in lines if 'i' in r]
    started = [r['start'] for r in lines if 'start' in r]
    if proc.returncode != 0 or len(results) != len(cases):
        last = started[-1] if started else None
        label = cases[last][0] if last is not None else '?'
        pytest.fail(f'receiver died (exit {proc.returncode}) on case {last} ({label}):\n'
                    f'{proc.stderr[-2000:]}')
    return results


def check_fuzz(tmp_path, widths, n, timeout):
    codec = build_codec(widths)
    valid = valid_containers(codec)
    cases = crafted_containers(codec, valid, n, seed=n)
    first = run_child(tmp_path, cases, widths, timeout)
    second = run_child(tmp_path, cases, widths, timeout)
    assert first == [{**r, 'rss_mb': s['rss_mb']} for r, s in zip(second, first)], \
        'decoding is not deterministic across runs'
    growth = max(r['rss_mb'] for r in first) - first[0]['rss_mb']
    assert cases[0][0] == 'valid' and growth < MAX_RSS_GROWTH_MB, f'RSS grew by {growth} MB'
    for (label, _), r in zip(cases, first):
        if label == 'valid':
            assert r['ok'], r
    # the valid containers decode to exactly the in-memory result
    expected = [codec.decode(v)[0] for v in valid]
    for e, r in zip(expected, first):
        assert r['out'] == hashlib.sha256(e.numpy().tobytes()).hexdigest()
    refused = sum(not r['ok'] for r in first)
    assert refused >= 0.9 * (len(cases) - len(valid)), 'most crafted cases must be refused'
    return cases, first


@pytest.mark.parametrize('widths', ['small', 'small-v1'])
def test_crafted_containers_small_widths(tmp_path, widths):
    """The default preset (context model, y in two passes) and mmdicm-v1 (hyperprior)."""
    cases, results = check_fuzz(tmp_path, widths, 300, timeout=240)
    messages = {r['out'].split(':')[0] for r in results if not r['ok']}
    assert 'z string' in messages and any(m.startswith('y') for m in messages), messages


@pytest.mark.slow
@pytest.mark.parametrize('widths', ['small', 'small-v1'])
def test_crafted_containers_small_widths_thousands(tmp_path, widths):
    check_fuzz(tmp_path, widths, 3000, timeout=1800)


@pytest.mark.slow
@pytest.mark.parametrize('widths', ['released', 'released-v1'])
def test_crafted_containers_released_widths(tmp_path, widths):
    check_fuzz(tmp_path, widths, 400, timeout=1800)
