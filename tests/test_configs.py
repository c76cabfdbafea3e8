"""Every shipped config resolves and builds from a clean interpreter through custom_imports."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)

PROBE = r'''
import json, sys, traceback
from mmengine.config import Config
from mmengine.registry import init_default_scope
first = 'mmdicm' in sys.modules  # False: the first config's custom_imports does the import
for path in sys.argv[1:]:
    try:
        cfg = Config.fromfile(path)          # custom_imports = ['mmdicm'] does the registering
        init_default_scope(cfg.default_scope)
        from mmengine.registry import HOOKS, MODELS, RUNNERS
        model = MODELS.build(cfg.model)
        backbone = model.backbone
        model.train()
        out = dict(
            model=type(model).__name__, backbone=type(backbone).__name__,
            codec=type(backbone.codec).__name__, runner=RUNNERS.get(cfg.runner_type).__name__,
            hooks=[HOOKS.get(h['type']) is not None for h in cfg.custom_hooks],
            scope=cfg.default_scope, frozen_parts=list(backbone.frozen_parts),
            bn_train=backbone.norm1.training,
            custom_keys=cfg.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {}),
            custom_imports=list(cfg.get('custom_imports', {}).get('imports', [])),
            imported_before=first)
    except Exception:
        out = dict(error=traceback.format_exc()[-3000:])
    first = True
    print(json.dumps(dict(path=path, **out)), flush=True)
'''


@pytest.fixture(scope='module')
def built():
    """Every config built in one fresh interpreter (imports cost ~10 s each: one per config
    took minutes); the first proves that its custom_imports registers mmdicm, every config
    names mmdicm in its custom_imports."""
    proc = subprocess.run([sys.executable, '-c', PROBE, *CONFIGS], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    return {row.pop('path'): row for row in rows}


def test_configs_are_shipped():
    names = {osp.basename(p) for p in CONFIGS}
    assert {'mask-rcnn_dicm.py', 'mask-rcnn_dicm_from-stage4.py', 'faster-rcnn_dicm_voc0712.py',
            'retinanet_dicm.py', 'resnet50_dicm_in1k.py', 'mask-rcnn_dicm_r18_embedded.py',
            'resnet18_embedded_cls.py', 'codec_r18_embedded_cls.py',
            'mask-rcnn_r18_embedded.py', 'codec_r18_embedded_det.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_from_a_clean_interpreter(path, built):
    out = built[path]
    assert 'error' not in out, out.get('error')
    assert 'mmdicm' in out['custom_imports']
    if path == CONFIGS[0]:
        assert not out['imported_before']  # its custom_imports imported mmdicm
    rel = osp.relpath(path, ROOT)
    head_frozen = {'head', 'edge'} & set(out['frozen_parts'])
    if (out['scope'] == 'mmpretrain' or rel.startswith(osp.join('configs', 'demo', ''))) \
            and not head_frozen:
        # trained from scratch (or classification/SSL): batch-norm statistics must train;
        # mmdet's ResNet default norm_eval=True would keep them at their init
        assert out['bn_train'], f'{rel}: backbone BN stays in eval mode during training'
    if rel.startswith(osp.join('configs', 'sweep', '')) and out['codec'] == 'NoneType':
        # the rate sweep's task models: trained once on uncompressed features, no codec hooks
        assert out['backbone'] == 'DICMResNet' and out['runner'] == 'DICMRunner'
        assert out['hooks'] == []
        return
    if rel.startswith(osp.join('configs', 'ssl', '')) or \
            rel.startswith(osp.join('configs', 'sweep', 'codec_')):
        # DICM's training stages: stage 1 pre-trains the plain backbone (codec=None); the
        # others train codec parts at the released lr (so no 'backbone.codec' lr / 10)
        assert out['backbone'] == 'DICMResNet' and out['runner'] == 'DICMRunner'
        assert all(out['hooks']), 'a custom hook type is not registered'
        if out['codec'] == 'NoneType':
            assert osp.basename(path).startswith('stage1_') and not out['custom_keys']
        else:
            assert out['codec'] == 'DICMFeatureCodec'
            assert out['custom_keys'] == {
                'entropy_bottleneck.quantiles': {'lr_mult': 1.0, 'decay_mult': 0.0}}
        return
    assert out['backbone'] == 'DICMResNet' and out['codec'] == 'DICMFeatureCodec'
    assert out['runner'] == 'DICMRunner'
    assert all(out['hooks']), 'a custom hook type is not registered'
    if 'tail' in out['frozen_parts']:  # a linear probe: the whole backbone frozen
        assert {'edge', 'g_s'} <= set(out['frozen_parts'])
        return
    assert out['custom_keys']['entropy_bottleneck.quantiles'] == {'lr_mult': 1.0,
                                                                  'decay_mult': 0.0}
    assert out['custom_keys']['backbone.codec'] == {'lr_mult': 0.1}


USER_PROBE = r'''
import sys
# without mmdicm's start-up hook (a checkout on PYTHONPATH, not installed): `import mmdicm`
# registers the scope itself. tests/test_inherit.py covers the installed case.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'ScopeFinder']
import mmdicm
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
cfg = Config.fromfile(sys.argv[1])
init_default_scope(cfg.default_scope)
model = MODELS.build(cfg.model)
print(type(model.backbone).__name__, model.roi_head.bbox_head.num_classes)
'''


@pytest.mark.parametrize('base', ['mask-rcnn_dicm.py', 'demo/mask-rcnn_dicm_r18_embedded.py'])
def test_import_mmdicm_registers_the_scope_without_the_start_up_hook(tmp_path, base):
    """`_base_ = 'mmdicm::dicm/...'` from a project outside the repository, the start-up hook
    removed first (this checkout is an editable install, the case where pkg_resources would
    point at site-packages)."""
    user_cfg = tmp_path / 'my_dicm.py'
    user_cfg.write_text(f"_base_ = 'mmdicm::dicm/{base}'\n"
                        'model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))\n')
    proc = subprocess.run([sys.executable, '-c', USER_PROBE, str(user_cfg)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ['DICMResNet', '3']


def test_every_config_is_reachable_in_the_package_and_a_wheel():
    """The link makes every file of configs/ a `mmdicm::dicm/` config in a checkout; setup.py's
    package_data patterns must match each of them so that a wheel carries them too."""
    import ast
    import fnmatch
    link = osp.join(ROOT, 'mmdicm', '.mim', 'configs', 'dicm')
    assert osp.realpath(link) == osp.join(ROOT, 'configs')
    tree = ast.parse(open(osp.join(ROOT, 'setup.py')).read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, 'id', None) == 'setup')
    patterns = ast.literal_eval(next(k.value for k in call.keywords
                                     if k.arg == 'package_data'))['mmdicm']
    files = glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    for path in files:
        rel = '.mim/configs/dicm/' + osp.relpath(path, osp.join(ROOT, 'configs'))
        assert any(fnmatch.fnmatchcase(rel, p) and rel.count('/') == p.count('/')
                   for p in patterns), f'{rel} is not in setup.py package_data'
