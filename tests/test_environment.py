"""The environment is real: compiled mmcv ops, pins as declared, an import without side effects."""
import importlib.metadata as md
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _requirements(*names):
    reqs = []
    for name in names:
        with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if line:
                    reqs.append(Requirement(line))
    return reqs


def test_mmcv_nms_runs_compiled_op_on_cpu():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    # box 1 overlaps box 0 with IoU 81/119 > 0.5 and is suppressed; box 2 is far away.
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))


def test_mmcv_roi_align_matches_bilinear_average_on_cpu():
    from mmcv.ops import RoIAlign
    # f(x, y) = x + 10 y is linear, so every bilinear sample (and their mean) is exact.
    ys, xs = torch.meshgrid(torch.arange(16.), torch.arange(16.), indexing='ij')
    feat = (xs + 10 * ys)[None, None]
    rois = torch.tensor([[0., 2., 3., 10., 7.]])  # batch idx, x1, y1, x2, y2
    op = RoIAlign(output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    out = op(feat, rois)
    # aligned=True shifts by -0.5 px: box spans x in [1.5, 9.5], y in [2.5, 6.5];
    # bin centres are at x = 3.5, 7.5 and y = 3.5, 5.5.
    expected = torch.tensor([[3.5 + 35, 7.5 + 35], [3.5 + 55, 7.5 + 55]])
    assert out.shape == (1, 1, 2, 2)
    assert torch.allclose(out[0, 0], expected, atol=1e-4)


def test_installed_versions_match_the_pins():
    """What the bootstrap installed is what requirements/*.txt pin (local tags like +cpu aside)."""
    for req in _requirements('torch', 'mmcv', 'runtime', 'tests', 'codecs', 'detectron2'):
        installed = Version(md.version(req.name))
        assert Version(installed.public) in req.specifier, (
            f'{req.name} {installed} is installed but requirements pin {req}')


def test_detectron2_is_the_pinned_sdist_with_the_committed_patch():
    """tools/setup/detectron2.sh installed detectron2-cdo at its pinned version, built with
    the patch file as committed (its marker holds the patch's digest)."""
    import hashlib
    import re

    import detectron2
    script = open(osp.join(ROOT, 'tools', 'setup', 'detectron2.sh')).read()
    version = re.search(r'^D2_VERSION=(\S+)$', script, flags=re.M).group(1)
    assert md.version('detectron2-cdo') == version == detectron2.__version__
    patch = osp.join(ROOT, 'tools', 'setup', f'detectron2-cdo-{version}.patch')
    with open(patch, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    with open(osp.join(osp.dirname(detectron2.__file__), '.mmdicm-patch')) as f:
        assert f.read().strip() == digest, 'detectron2 was built from another patch'


def test_setup_py_declares_exactly_the_pinned_requirements():
    declared = {Requirement(r) for r in md.requires('mmdicm') if 'extra ==' not in r}
    pinned = set(_requirements('torch', 'mmcv', 'runtime'))
    assert {str(r) for r in declared} == {str(r) for r in pinned}


def test_import_mmdicm_has_no_side_effects():
    """mmdicm's own import code changes no env var, start method, thread count, allow-list or
    import hook.

    Third-party libraries have import-time effects of their own (cv2 sets QT_* and
    LD_LIBRARY_PATH, torch.distributed allow-lists DTensor classes), so the probe first imports
    every non-mmdicm module that ``import mmdicm`` pulls in, then snapshots, then imports mmdicm.
    """
    list_deps = ('import sys, json, mmdicm; print(json.dumps(sorted('
                 'm for m in sys.modules if m.split(".")[0] != "mmdicm")))')
    deps = json.loads(subprocess.run([sys.executable, '-c', list_deps], capture_output=True,
                                     text=True, check=True).stdout.strip().splitlines()[-1])
    probe = r'''
import importlib, json, multiprocessing as mp, os, sys
for name in json.loads(sys.stdin.read()):
    try:
        importlib.import_module(name)
    except Exception:
        pass  # private/platform modules that only import as a side effect of their parent
import torch
def snap():
    return dict(env=dict(os.environ), start=mp.get_start_method(allow_none=True),
                threads=torch.get_num_threads(), meta_path=[repr(f) for f in sys.meta_path],
                safe=sorted(map(repr, torch.serialization.get_safe_globals())))
before = snap()
import mmdicm
after = snap()
from mmengine.registry import RUNNERS
print(json.dumps(dict(diff={k: [before[k], after[k]] for k in before if before[k] != after[k]},
                      start=after['start'], registered='DICMRunner' in RUNNERS)))
'''
    out = subprocess.run([sys.executable, '-c', probe], input=json.dumps(deps),
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result['diff'] == {}
    assert result['start'] is None
    assert result['registered'], 'import mmdicm must register its modules'


@pytest.mark.parametrize('flag', ['-std=c++17', '-std=gnu++14'])
def test_cxx20_shim_rewrites_only_the_standard_flag(tmp_path, flag):
    fake = tmp_path / 'fakecxx'
    fake.write_text('#!/bin/sh\nfor a do echo "$a"; done\n')
    fake.chmod(0o755)
    out = subprocess.run(
        [osp.join(ROOT, 'tools', 'setup', 'cxx20'), '-O3', flag, 'a b.cpp', '-o', 'x.o'],
        env={'MMDICM_REAL_CXX': str(fake), 'PATH': '/usr/bin:/bin'},
        capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ['-O3', '-std=c++20', 'a b.cpp', '-o', 'x.o']


def test_layers_and_codec_work_without_openmmlab():
    """The framework-free core imports and codes with mmengine/mmdet/mmcv/mmpretrain absent."""
    probe = r'''
import sys
for name in ('mmengine', 'mmdet', 'mmcv', 'mmpretrain'):
    sys.modules[name] = None  # makes `import name` raise ModuleNotFoundError
import torch, mmdicm
from mmdicm.codec import DICMFeatureCodec
from mmdicm.layers import HorBlock
codec = DICMFeatureCodec(re=dict(hidden_channels=16, latent_channels=16),
                         net=dict(mid_channels=16, latent_channels=32, hyper_channels=16,
                                  hyper_dim=32, hyper_heads=2), in_channels=32).eval()
codec.update(force=True)
f3, _ = codec.decode(codec.encode(torch.rand(1, 32, 16, 16), [(64, 64)]))
assert f3.shape == (1, 32, 16, 16)
assert not any(sys.modules.get(n) for n in ('mmengine', 'mmdet', 'mmcv', 'mmpretrain'))
print('ok', mmdicm.__all__)
'''
    proc = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ['ok', "['__version__']"]
