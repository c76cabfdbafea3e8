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
import json, sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
cfg = Config.fromfile(sys.argv[1])          # custom_imports = ['mmdicm'] does the registering
init_default_scope(cfg.default_scope)
from mmengine.registry import HOOKS, MODELS, RUNNERS
model = MODELS.build(cfg.model)
backbone = model.backbone
print(json.dumps(dict(
    model=type(model).__name__, backbone=type(backbone).__name__,
    codec=type(backbone.codec).__name__, runner=RUNNERS.get(cfg.runner_type).__name__,
    hooks=[HOOKS.get(h['type']) is not None for h in cfg.custom_hooks],
    quantiles=cfg.optim_wrapper.paramwise_cfg.custom_keys['.quantiles'])))
'''


def test_configs_are_shipped():
    names = {osp.basename(p) for p in CONFIGS}
    assert {'mask-rcnn_dicm.py', 'faster-rcnn_dicm_voc0712.py', 'retinanet_dicm.py',
            'resnet50_dicm_in1k.py', 'mask-rcnn_dicm_r18_embedded.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_from_a_clean_interpreter(path):
    proc = subprocess.run([sys.executable, '-c', PROBE, path], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['backbone'] == 'DICMResNet' and out['codec'] == 'DICMFeatureCodec'
    assert out['runner'] == 'DICMRunner'
    assert out['quantiles'] == {'lr_mult': 1.0, 'decay_mult': 0.0}
    assert all(out['hooks']), 'a custom hook type is not registered'
