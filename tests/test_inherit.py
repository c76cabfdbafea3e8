"""``_base_ = 'mmdicm::dicm/<config>'`` in a user's project outside the repository: every
shipped config, from a fresh interpreter that imported nothing of mmdicm (the scope comes from
the installed start-up hook; mmdicm/mim.py says why and how)."""
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROBE = osp.join(osp.dirname(osp.abspath(__file__)), 'inherit_probe.py')
CONFIGS = sorted(osp.relpath(p, osp.join(ROOT, 'configs'))
                 for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
#: configs on the embedded dataset, which a test can generate; the others are full-scale
EMBEDDED = [rel for rel in CONFIGS if rel.startswith(('demo/', 'ssl/demo/', 'sweep/'))]
#: one interpreter per group (each under a minute on 2 busy cores)
GROUPS = {
    'embedded-detectors': [rel for rel in EMBEDDED if 'rcnn' in rel or 'retinanet' in rel],
    'embedded-classifiers-ssl': [rel for rel in EMBEDDED
                                 if not ('rcnn' in rel or 'retinanet' in rel)],
    'full-scale': [rel for rel in CONFIGS if rel not in EMBEDDED],
}
NOT_INSTALLED = ("mmdicm's start-up hook is not installed in this environment: "
                 '`pip install --no-build-isolation -e .` (what `make test` runs) installs it')
#: what mmengine prints when it builds a dict in a scope that has no registry
SCOPE_WARNINGS = ('is not installed and its modules will not be registered',
                  'Failed to search registry with scope', 'Failed to import `mmdicm.registry`')


def env_one_thread():
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def test_the_scope_is_known_at_interpreter_start():
    """A fresh interpreter has imported nothing heavy, yet mmengine's scope table lists mmdicm
    as soon as it loads, without mmdicm being imported; and again after a fresh import."""
    probe = r'''
import json, sys
before = sorted(m for m in ('mmengine', 'torch', 'mmdicm', 'mmdet') if m in sys.modules)
finders = [type(f).__name__ for f in sys.meta_path]
from mmengine.config.utils import MODULE2PACKAGE
entry = MODULE2PACKAGE.get('mmdicm')
del sys.modules['mmengine.config.utils']
import mmengine.config.utils
print(json.dumps(dict(before=before, finders=finders, entry=entry, mmdicm='mmdicm' in sys.modules,
                      again=mmengine.config.utils.MODULE2PACKAGE.get('mmdicm'))))
'''
    out = json.loads(subprocess.run([sys.executable, '-c', probe], capture_output=True,
                                    text=True, check=True).stdout.strip().splitlines()[-1])
    assert 'ScopeFinder' in out['finders'], NOT_INSTALLED
    assert out['before'] == []  # the hook imports nothing at start
    assert out['entry'] == 'mmdicm.mim' and not out['mmdicm']
    assert out['again'] == 'mmdicm.mim'  # a fresh module object is registered too


def test_the_installed_hook_is_this_checkout_s():
    """setup.py copies mmdicm/mim_hook.py to the top of site-packages; an editable install
    keeps that copy until the next ``pip install -e .`` (bootstrap.sh's fingerprint covers it)."""
    import mmdicm.mim
    from mmdicm import mim_hook
    spec = importlib.util.find_spec('_mmdicm_mim_hook')
    assert spec is not None, NOT_INSTALLED
    with open(spec.origin, encoding='utf-8') as f, \
            open(osp.join(ROOT, 'mmdicm', 'mim_hook.py'), encoding='utf-8') as g:
        assert f.read() == g.read(), 'stale start-up hook: reinstall (pip install -e .)'
    with open(osp.join(osp.dirname(spec.origin), 'mmdicm-mim-hook.pth')) as f:
        assert f.read() == 'import _mmdicm_mim_hook; _mmdicm_mim_hook.install()\n'
    assert mim_hook.SCOPE == mmdicm.mim.SCOPE and mim_hook.PACKAGE == mmdicm.mim.__name__


def test_drop_scope_tags_removes_only_mmdicm_s():
    from mmengine.config import Config

    from mmdicm.mim import drop_scope_tags
    shared = dict(type='LoadImageFromFile', _scope_='mmdicm')
    cfg = Config(dict(
        model=dict(type='MaskRCNN', _scope_='mmdet', backbone=dict(type='DICMResNet')),
        val_evaluator=[dict(type='CocoMetric', _scope_='mmdicm'), dict(type='DICMBppMetric')],
        pipelines=([shared], [shared]), collate_fn=dict(type='default_collate', _scope_='mmdicm')))
    assert drop_scope_tags(cfg) is cfg
    assert cfg.to_dict() == dict(
        model=dict(type='MaskRCNN', _scope_='mmdet', backbone=dict(type='DICMResNet')),
        val_evaluator=[dict(type='CocoMetric'), dict(type='DICMBppMetric')],
        pipelines=([dict(type='LoadImageFromFile')], [dict(type='LoadImageFromFile')]),
        collate_fn=dict(type='default_collate'))


@pytest.fixture(scope='module')
def embedded_data(tmp_path_factory):
    """Tiny embedded datasets, default and coco-like (detection + classification views), made
    once."""
    from mmdicm.datasets import generate_embedded_dataset
    data = tmp_path_factory.mktemp('data')
    generate_embedded_dataset(str(data / 'embedded'), num_train=4, num_val=2, image_size=64,
                              seed=0)
    # the sweep's COCO-like configs read data/embedded-coco-like/ (160 px: the preset's minimum)
    generate_embedded_dataset(str(data / 'embedded-coco-like'), num_train=4, num_val=2,
                              image_size=160, seed=0, preset='coco-like')
    return data


def test_the_groups_cover_every_config():
    assert sorted(sum(GROUPS.values(), [])) == CONFIGS


@pytest.mark.parametrize('group', list(GROUPS))
def test_every_config_inherited_by_scope_builds_and_validates(tmp_path, group, request):
    """Each shipped config, inherited with one key changed by a user config in a folder
    outside the repository, as mmdet's/mmpretrain's stock tools load it (``Config.fromfile``,
    then ``RUNNERS.build``, which honours ``runner_type='DICMRunner'``): model, hooks, optim
    wrapper, and per split the dataloader's dataset (one sample through its pipeline) and the
    evaluator, as the train/val/test loops build them. mmdicm's tools' checks
    (``prepare_config`` + ``check_config``) pass too.

    The full-scale configs' data (COCO, VOC, ImageNet) is absent here: for them, each dataset,
    wrapped dataset and transform type is resolved in the scope it would be built in, the
    evaluators are built without their annotation file, and ``check_config`` must stop at the
    missing data folder. One interpreter per group (imports cost ~10 s): only its first config
    proves that nothing of mmdicm was imported before; the others load after it.
    """
    configs = GROUPS[group]
    embedded = group.startswith('embedded')
    if embedded:  # the configs read data/embedded/ relative to the working directory
        (tmp_path / 'data').symlink_to(request.getfixturevalue('embedded_data'))
    project = tmp_path / 'my_project'  # a user's folder
    project.mkdir()
    jobs = []
    for rel in configs:
        child = project / rel.replace('/', '__')
        child.write_text(f"_base_ = 'mmdicm::dicm/{rel}'\n"
                         'default_hooks = dict(logger=dict(interval=7))  # the one change\n')
        jobs.append([rel, str(child)])
    (tmp_path / 'jobs.json').write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, PROBE, 'jobs.json', 'out.json'], cwd=str(tmp_path),
                          env=env_one_thread(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (NOT_INSTALLED if 'does not support to load mmdicm'
                                  in proc.stderr else proc.stderr[-4000:])
    for warning in SCOPE_WARNINGS:
        assert warning not in proc.stdout + proc.stderr
    out = json.loads((tmp_path / 'out.json').read_text())
    assert out['pre_imported'] == [] and out['scope_at_start'] == 'mmdicm.mim', NOT_INSTALLED
    assert [c['rel'] for c in out['configs']] == configs

    for c in out['configs']:
        rel = c['rel']
        assert c['tags_after_load'] > 0  # mmengine did tag (this is what is being handled)
        assert c['tool_tags'] == 0 and c['runner_tags'] == 0, rel
        assert c['same_as_in_place'], f'{rel}: inherited, it resolves to another config'
        assert c['runner'] == 'DICMRunner' and c['backbone'] == 'DICMResNet', rel
        assert c['logger_interval'] == 7, rel  # the child's change reached the built hook
        assert [h for h in c['hooks'] if h in c['custom_hooks']] == c['custom_hooks'], rel
        assert c['optim_wrapper'] in ('OptimWrapper', 'DICMOptimWrapper'), rel
        assert c['schedulers'] and all(c['schedulers']), rel
        metrics = [m for split in c['evaluators'].values() for m in split]
        if embedded:
            assert c['data'], f'{rel}: its data was not generated where it looks'
            if rel.endswith(('_from-stage4.py', '_linear-probe.py')):  # no chain stage 4 here
                assert c['check_train'].startswith(
                    'FileNotFoundError: model.backbone.init_cfg.checkpoint: checkpoint not '
                    'found: work_dirs/ssl_pipeline/stage4/'), rel
            else:
                assert c['check_train'] == 'ok', rel
            assert c['check_test'] == 'ok', rel
            assert 'train' in c['datasets'], rel
            for split, (dataset, sample) in c['datasets'].items():
                assert dataset.startswith(('mmdet.', 'mmpretrain.')), (rel, split)
                assert sample == ['data_samples', 'inputs'], (rel, split)
            assert set(c['evaluators']) == set(c['datasets']) - {'train'}, rel
        else:
            assert not c['data'] and not c['datasets'], rel
            assert c['check_train'].startswith('FileNotFoundError: train_dataloader.'), rel
            assert 'folder not found: data/' in c['check_train'], rel
            assert 'train' in c['resolved'], rel
            for split, classes in c['resolved'].items():
                assert all(classes), f'{rel} {split}: a type did not resolve: {classes}'
                assert classes[0].startswith(('mmdet.', 'mmpretrain.', 'mmengine.')), rel
                if c['model'] != 'ImageClassifier' and c['model'] != 'DICMMoCoV2':
                    # built in mmdet's scope: mmdet's Resize/RandomFlip, not mmcv's
                    assert not any(n.startswith('mmcv.transforms.processing.')
                                   for n in classes), (rel, split, classes)
        assert all(m.startswith(('mmdet.', 'mmpretrain.', 'mmdicm.')) for m in metrics), rel


def test_a_wheel_carries_the_hook_and_the_configs(tmp_path):
    """A regular (non-editable) install: the wheel built from this checkout has the start-up
    hook at its root (site-packages), listed in RECORD, and a copy of every config."""
    src = tmp_path / 'src'  # a copy, so that the build leaves nothing in the checkout
    src.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(osp.join(ROOT, name), src / name)
    for name in ('requirements', 'configs', 'mmdicm'):
        shutil.copytree(osp.join(ROOT, name), src / name, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__'))
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-index',
                           '--no-build-isolation', '--no-cache-dir', '-w', str(tmp_path / 'dist'),
                           str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel, = glob.glob(str(tmp_path / 'dist' / 'mmdicm-*.whl'))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        record = z.read(next(n for n in names if n.endswith('.dist-info/RECORD'))).decode()
        hook = z.read('_mmdicm_mim_hook.py').decode()
        pth = z.read('mmdicm-mim-hook.pth').decode()
    assert {'_mmdicm_mim_hook.py', 'mmdicm-mim-hook.pth'} <= {n for n in names if '/' not in n}
    assert '_mmdicm_mim_hook.py,' in record and 'mmdicm-mim-hook.pth,' in record
    with open(osp.join(ROOT, 'mmdicm', 'mim_hook.py'), encoding='utf-8') as f:
        assert hook == f.read()
    assert pth == 'import _mmdicm_mim_hook; _mmdicm_mim_hook.install()\n'
    shipped = {osp.relpath(p, osp.join(ROOT, 'configs'))
               for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)}
    in_wheel = {n.split('.mim/configs/dicm/', 1)[1] for n in names if '.mim/configs/dicm/' in n}
    assert in_wheel == shipped
