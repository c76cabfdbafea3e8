"""What ``import mmdicm`` loads and registers, probed in a clean interpreter.

It registers every mmdicm type a shipped config names (and those the rate sweep writes into
configs), and loads neither the benchmarks nor the pixel-codec baselines nor plotting code.
"No matplotlib" is checked as "no mmdicm module imports matplotlib or bjontegaard (which
imports pyplot) while ``import mmdicm`` runs": mmdet 3.3.0's own ``mmdet.models`` imports
``mmdet.utils``, which imports ``matplotlib.pyplot``, so matplotlib is in ``sys.modules``
after ``import mmdicm`` whatever mmdicm does.
"""
import glob
import json
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PROBE = r'''
import builtins, json, sys, warnings
importers = {}
real_import = builtins.__import__


def spy(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.split('.')[0] in ('matplotlib', 'bjontegaard'):
        importers.setdefault(name, set()).add((globals or {}).get('__name__'))
    return real_import(name, globals, locals, fromlist, level)


builtins.__import__ = spy  # sees every import statement, also of modules already loaded
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    import mmdicm
    import mmdicm.evaluation
builtins.__import__ = real_import
loaded = sorted(m for m in sys.modules
                if m.startswith(('mmdicm.benchmarks', 'mmdicm.baselines', 'bjontegaard')))

import mmengine.registry as roots
from mmengine.registry import TRANSFORMS, Registry
registered = {name: reg_name for reg_name, reg in vars(roots).items()
              if isinstance(reg, Registry) for name in reg.module_dict}
TRANSFORMS.build(dict(type='PixelCodecRoundtrip', codec='jpeg', quality=50))
print(json.dumps(dict(
    loaded=loaded,
    after_build=sorted(m for m in sys.modules if m.startswith('mmdicm.baselines')),
    importers={k: sorted(map(str, v)) for k, v in importers.items()},
    deprecations=[str(w.message) for w in caught
                  if issubclass(w.category, DeprecationWarning) and '/mmdicm/' in w.filename],
    registered=registered)))
'''


def _mmdicm_classes() -> set:
    names = set()
    for path in glob.glob(osp.join(ROOT, 'mmdicm', '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as f:
            names.update(re.findall(r'^class (\w+)', f.read(), flags=re.M))
    return names


def _config_types() -> set:
    types = set()
    for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as f:
            types.update(re.findall(r"type=['\"](\w+)['\"]", f.read()))
    return types


def _probe() -> dict:
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_import_mmdicm_registers_every_config_type_and_loads_no_bench_or_plot_code():
    result = _probe()
    assert result['loaded'] == [], 'import mmdicm must not load benchmarks or baselines'
    mmdicm_importers = {name: [m for m in who if m.startswith('mmdicm')]
                        for name, who in result['importers'].items()}
    assert not any(mmdicm_importers.values()), mmdicm_importers
    assert result['deprecations'] == []  # nothing of mmdicm uses a moved name

    # every mmdicm type the shipped configs name, and the two the rate sweep adds
    wanted = (_config_types() & _mmdicm_classes()) | {'PixelCodecRoundtrip',
                                                      'PixelCodecBppMetric'}
    assert {'DICMResNet', 'DICMBppMetric', 'SemanticGuidedCrop', 'RateLossHook'} <= wanted
    missing = sorted(wanted - set(result['registered']))
    assert missing == [], f'not registered by import mmdicm: {missing}'
    assert result['registered']['PixelCodecRoundtrip'] == 'TRANSFORMS'
    # building the transform is what loads the codecs
    assert 'mmdicm.baselines.pillow' in result['after_build']
