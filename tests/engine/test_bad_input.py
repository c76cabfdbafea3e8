"""Bad input is one clear line at start, naming the config key: from ``check_config`` (a
``ValueError`` / ``FileNotFoundError``) and from ``tools/train.py`` / ``tools/test.py`` (exit
code 2, ``error: ...`` on stderr, no traceback, nothing built)."""
import math
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from dicm_tiny import DEMO_CONFIGS, ROOT, make_data, one_thread_env, tiny_demo_config, tiny_options
from mmdicm.apis.launch import build_runner, check_config, prepare_config


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp('embedded')), num_train=4, num_val=2,
                     image_size=64)


def _cfg(model, data_root, **options):
    return tiny_demo_config(model, data_root, f'bad-{model}', **options)


# ---------------------------------------------------------------------- positive control
@pytest.mark.parametrize('model', sorted(DEMO_CONFIGS))
@pytest.mark.parametrize('mode', ['train', 'test'])
def test_demo_configs_on_real_data_pass(model, mode, data_root):
    check_config(_cfg(model, data_root), mode)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be 'train' or 'test'"):
        check_config(prepare_config(DEMO_CONFIGS['classifier']), 'val')


# ---------------------------------------------------------------------- (a) padding
@pytest.mark.parametrize('model, pad', [
    ('mask-rcnn', 1), ('classifier', 5),
    pytest.param('retinanet', 7, marks=pytest.mark.slow),
    pytest.param('faster-rcnn', 100, marks=pytest.mark.slow)])
def test_any_positive_preprocessor_padding_works_with_the_codec(model, pad, data_root, tmp_path,
                                                                one_thread):
    """DICMResNet pads to its own ``pad_multiple`` (64 here) and crops back, so batch shapes
    that fit no codec stride (70 px images, unpadded or padded to 7, 5 or 100) train and
    validate with real coding."""
    opts = tiny_options(model, data_root, max_iters=1, validate=True, image_size=70,
                        name=f'pad-{model}')
    opts['model.data_preprocessor.pad_size_divisor'] = pad
    cfg = prepare_config(DEMO_CONFIGS[model], work_dir=str(tmp_path), cfg_options=opts)
    check_config(cfg)
    runner = build_runner(cfg)
    assert runner.model.backbone.pad_multiple == 64
    runner.train()
    hub = runner.message_hub
    assert math.isfinite(hub.get_scalar('train/loss_rate').current())
    assert hub.get_scalar('val/dicm/bpp').current() > 0  # real containers decoded and counted


@pytest.mark.parametrize('value', [0, -32, 2.5, True, '32'])
def test_a_pad_size_divisor_that_breaks_training_is_named(value, data_root):
    """0 / negative values fail inside the first training step with unrelated messages
    ('division by zero', 'cannot reshape array', 'narrow(): length must be non-negative')."""
    for model in ('mask-rcnn', 'classifier'):
        cfg = _cfg(model, data_root, **{'model.data_preprocessor.pad_size_divisor': value})
        with pytest.raises(ValueError, match=r'^model\.data_preprocessor\.pad_size_divisor '
                           r'must be an int >= 1 .*got ' + repr(value).replace('.', r'\.')):
            check_config(cfg)


# ---------------------------------------------------------------------- (b) hook arguments
@pytest.mark.parametrize('key, value, match', [
    ('lambda_rate', -1., r'custom_hooks\.0 \(RateLossHook\): lambda_rate must be a finite '
     r'number >= 0, got -1\.0$'),
    ('lambda_re', -0.5, r'custom_hooks\.0 \(RateLossHook\): lambda_re must be'),
    ('aux_weight', 'one', r'custom_hooks\.0 \(RateLossHook\): aux_weight must be a '
     r'non-negative number'),
    ('0', "dict(type='RateLossHook')", r"^custom_hooks\.0 must be a dict\(type=\.\.\.\) or a Hook, "
     r"got \"dict\(type='RateLossHook'\)\"$"),
    ('type', 'RateLosHook', r"^custom_hooks\.0\.type: 'RateLosHook' is not a registered hook "
     r'\(did you mean RateLossHook\?\)$'),
])
def test_bad_hook_arguments_are_named(key, value, match, data_root):
    """(A string where a hook goes is what mmengine's DictAction makes of
    ``custom_hooks=[dict(type='RateLossHook')]``.)"""
    if key == '0':
        cfg = _cfg('classifier', data_root)
        cfg.custom_hooks[0] = value
    else:
        cfg = _cfg('classifier', data_root, **{f'custom_hooks.0.{key}': value})
    with pytest.raises(ValueError, match=match):
        check_config(cfg)


# ---------------------------------------------------------------------- (c) missing paths
def _broken_copy(data_root, tmp_path, remove):
    root = tmp_path / 'data'
    shutil.copytree(data_root, root)
    target = root / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return str(root) + '/'


@pytest.mark.parametrize('model, remove, mode, key', [
    ('mask-rcnn', 'train', 'train', 'train_dataloader.dataset.data_prefix.img'),
    ('mask-rcnn', 'annotations/instances_train.json', 'train',
     'train_dataloader.dataset.ann_file'),
    ('mask-rcnn', 'val', 'train', 'val_dataloader.dataset.data_prefix.img'),
    ('retinanet', 'val', 'test', 'test_dataloader.dataset.data_prefix.img'),
    ('faster-rcnn', 'annotations/instances_val.json', 'test', 'test_dataloader.dataset.ann_file'),
    ('classifier', 'classification/train.txt', 'train', 'train_dataloader.dataset.ann_file'),
    ('classifier', 'classification', 'test', 'test_dataloader.dataset.data_root'),
])
def test_a_missing_dataset_path_is_named(model, remove, mode, key, data_root, tmp_path):
    root = _broken_copy(data_root, tmp_path, remove)
    cfg = _cfg(model, root)
    with pytest.raises(FileNotFoundError) as info:
        check_config(cfg, mode)
    message = str(info.value)
    assert message.startswith(f'{key}: ') and osp.join(root, remove) in message, message
    assert '\n' not in message


@pytest.mark.parametrize('model', ['mask-rcnn', 'classifier'])
def test_a_missing_embedded_dataset_says_how_to_make_it(model, tmp_path, monkeypatch):
    """The demo configs as shipped read data/embedded/ (relative to the working directory),
    which only tools/make_embedded_data.py writes."""
    monkeypatch.chdir(tmp_path)
    cfg = prepare_config(DEMO_CONFIGS[model])
    root = 'data/embedded/' + ('classification/' if model == 'classifier' else '')
    with pytest.raises(FileNotFoundError) as info:
        check_config(cfg, 'train')
    assert str(info.value) == (
        f'train_dataloader.dataset.data_root: folder not found: {root} (mmdicm\'s embedded '
        'dataset: make it with `python tools/make_embedded_data.py --out data/embedded`)')


def test_the_embedded_hint_names_the_folder_to_make(data_root, tmp_path):
    """Anywhere else (no 'embedded' folder on the way), the embedded classes identify it, and
    --out is the folder the generator writes (the classification view is inside it)."""
    root = _broken_copy(data_root, tmp_path, 'classification')
    with pytest.raises(FileNotFoundError) as info:
        check_config(_cfg('classifier', root), 'train')
    assert str(info.value).endswith(
        f'make it with `python tools/make_embedded_data.py --out {root.rstrip("/")}`)')
    cfg = _cfg('classifier', root)
    cfg.train_dataloader.dataset.metainfo = dict(classes=('cat', 'dog'))  # another dataset
    with pytest.raises(FileNotFoundError) as info:
        check_config(cfg, 'train')
    assert 'make_embedded_data' not in str(info.value)


def test_only_what_the_tool_reads_is_checked(data_root, tmp_path):
    # testing needs no training images
    check_config(_cfg('mask-rcnn', _broken_copy(data_root, tmp_path / 'a', 'train')), 'test')
    # without a val loop, training reads no val images
    cfg = _cfg('faster-rcnn', _broken_copy(data_root, tmp_path / 'b', 'val'))
    with pytest.raises(FileNotFoundError, match='val_dataloader'):
        check_config(cfg, 'train')
    cfg.val_cfg = None
    check_config(cfg, 'train')


def test_a_missing_evaluator_annotation_file_is_named(data_root):
    cfg = _cfg('mask-rcnn', data_root, **{'val_evaluator.0.ann_file': '/no/such/val.json'})
    with pytest.raises(FileNotFoundError,
                       match=r'^val_evaluator\.0\.ann_file: file not found: /no/such/val\.json'):
        check_config(cfg, 'train')


def test_dataset_wrappers_are_followed_and_keys_named(tmp_path, monkeypatch):
    """The real VOC config: RepeatDataset(ConcatDataset([VOC2007, VOC2012])), relative paths
    resolved from the working directory as the datasets do."""
    monkeypatch.chdir(tmp_path)
    cfg = prepare_config(osp.join(ROOT, 'configs', 'faster-rcnn_dicm_voc0712.py'))
    with pytest.raises(FileNotFoundError, match=r'^train_dataloader\.dataset\.dataset\.'
                       r'datasets\.0\.data_root: folder not found: data/VOCdevkit/$'):
        check_config(cfg, 'train')
    voc = tmp_path / 'data' / 'VOCdevkit'
    (voc / 'VOC2007' / 'ImageSets' / 'Main').mkdir(parents=True)
    (voc / 'VOC2007' / 'ImageSets' / 'Main' / 'trainval.txt').write_text('000001\n')
    with pytest.raises(FileNotFoundError, match=r'^train_dataloader\.dataset\.dataset\.'
                       r'datasets\.1\.ann_file: file not found: '
                       r'data/VOCdevkit/VOC2012/ImageSets/Main/trainval\.txt$'):
        check_config(cfg, 'train')


def test_missing_checkpoints_are_named_before_anything_is_built(data_root, tmp_path):
    """The stage-4 fine-tuning config names its init checkpoint; load_from likewise. URLs
    (the model zoo's torchvision://resnet50) are left to mmengine."""
    cfg = prepare_config(osp.join(ROOT, 'configs', 'mask-rcnn_dicm_from-stage4.py'))
    for split in ('train', 'val', 'test'):  # no COCO here: leave the data checks out
        cfg[f'{split}_dataloader'] = None
    wanted = cfg.model.backbone.init_cfg.checkpoint
    with pytest.raises(FileNotFoundError, match=r'^model\.backbone\.init_cfg\.checkpoint: '
                       f'checkpoint not found: {wanted}$'):
        check_config(cfg, 'train')
    check_config(cfg, 'test')  # testing loads its own checkpoint, not the init one
    ckpt = tmp_path / 'stage4.pth'
    ckpt.write_bytes(b'')
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    check_config(cfg, 'train')
    # a list of init_cfg entries, nested in the model; remote ones pass unchecked
    cfg.model.neck.init_cfg = [dict(type='Xavier', layer='Conv2d'),
                               dict(type='Pretrained', checkpoint='https://x.org/neck.pth'),
                               dict(type='Pretrained', checkpoint=str(tmp_path / 'neck.pth'))]
    with pytest.raises(FileNotFoundError, match=r'^model\.neck\.init_cfg\.2\.checkpoint: '):
        check_config(cfg, 'train')
    cfg = _cfg('mask-rcnn', data_root, load_from=str(tmp_path / 'missing.pth'))
    for mode in ('train', 'test'):
        with pytest.raises(FileNotFoundError,
                           match=r'^load_from: checkpoint not found: .*missing\.pth$'):
            check_config(cfg, mode)


# ---------------------------------------------------------------------- the tools
@pytest.mark.parametrize('tool, options, expected', [
    ('train', ['custom_hooks.0.lambda_rate=-0.5'],
     'error: custom_hooks.0 (RateLossHook): lambda_rate must be a finite number >= 0, got -0.5'),
    pytest.param('test', ['test_evaluator.0.ann_file=/no/such/val.json'],
                 'error: test_evaluator.0.ann_file: file not found: /no/such/val.json',
                 marks=pytest.mark.slow),
    pytest.param('train', ['model.data_preprocessor.pad_size_divisor=0'],
                 'error: model.data_preprocessor.pad_size_divisor must be an int >= 1',
                 marks=pytest.mark.slow),
    pytest.param('train', ['train_dataloader.dataset.data_root=/no/such/dir/'],
                 'error: train_dataloader.dataset.data_root: folder not found: /no/such/dir/',
                 marks=pytest.mark.slow),
    ('train', ['model.backbone.split_stage=7'],
     'error: model.backbone (DICMResNet): split_stage must be an int in [0, 3] (num_stages=4), '
     'got 7'),
    ('test', ['default_hooks.checkpoint.type=CheckpointHok'],
     "error: default_hooks.checkpoint.type: 'CheckpointHok' is not a registered hook (did you "
     'mean CheckpointHook?)'),
], ids=['lambda', 'test-ann-file', 'pad-size-divisor', 'data-root', 'split-stage', 'hook-type'])
def test_tools_exit_2_with_one_line_before_building_anything(tool, options, expected, data_root,
                                                             tmp_path):
    work = tmp_path / 'work'
    args = [sys.executable, osp.join(ROOT, 'tools', f'{tool}.py'), DEMO_CONFIGS['mask-rcnn']]
    if tool == 'test':
        (tmp_path / 'model.pth').write_bytes(b'')
        args.append(str(tmp_path / 'model.pth'))
    base = [f'{k}={v}' for k, v in (
        (f'{s}_dataloader.dataset.data_root', data_root) for s in ('train', 'val', 'test'))]
    ann = data_root + 'annotations/instances_val.json'
    base += [f'val_evaluator.0.ann_file={ann}', f'test_evaluator.0.ann_file={ann}']
    proc = subprocess.run(args + ['--work-dir', str(work), '--cfg-options', *base, *options],
                          capture_output=True, text=True, env=one_thread_env(), timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(expected), last
    # one line of ours (the others are third-party import warnings), nothing on stdout
    assert [line for line in proc.stderr.splitlines() if 'error' in line.lower()] == [last]
    assert 'Traceback' not in proc.stderr and proc.stdout == ''
    assert not work.exists()  # stopped before the runner was built


def test_train_tool_refuses_restated_custom_hooks_without_entropy_update(data_root, tmp_path):
    """The reported run: a child config re-states custom_hooks to change λ and drops
    EntropyUpdateHook; it trained, saved, then died in validation ('entropy tables are
    empty'). Now: exit 2 at start, one line naming EntropyUpdateHook."""
    child = tmp_path / 'lambda_0.02.py'
    child.write_text(f"_base_ = '{DEMO_CONFIGS['classifier']}'\n"
                     "custom_hooks = [dict(type='RateLossHook', lambda_rate=0.02),\n"
                     "                dict(type='BitstreamRecordHook')]\n")
    root = data_root + 'classification/'
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), str(child), '--work-dir',
         str(work), '--cfg-options', *[f'{s}_dataloader.dataset.data_root={root}'
                                       for s in ('train', 'val', 'test')]],
        capture_output=True, text=True, env=one_thread_env(), timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: custom_hooks: EntropyUpdateHook is missing, but '
                           'model.backbone.real_coding=True entropy-codes real bitstreams in '
                           'validation'), last
    assert 'Traceback' not in proc.stderr and not work.exists()
