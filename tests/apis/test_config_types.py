"""The start-up check resolves every ``type`` of a config where the Runner will build it
(:mod:`mmdicm.apis.config_types`), builds mmdicm's own model parts on the meta device, and
refuses real coding without an entropy-table update: each a one-line ``ValueError`` naming the
config key, before anything is built."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import HOOKS, MODELS

from dicm_tiny import ROOT, make_data, tiny_demo_config
from mmdicm.engine import EntropyUpdateHook
from mmdicm.apis import launch
from mmdicm.apis.config_types import resolve_config_types
from mmdicm.apis.launch import check_config, prepare_config
from mmdicm.models import DICMResNet

SHIPPED = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                                                         recursive=True)
                 if f'{osp.sep}_base_{osp.sep}' not in p)


@HOOKS.register_module(name='MMDICMTestTablesHook')
class TablesHook(EntropyUpdateHook):
    """A project's own entropy-update hook (a subclass counts)."""


@MODELS.register_module(name='MMDICMTestMetaShy')
class MetaShy(DICMResNet):
    """Reads a tensor value while being built: fine on CPU, impossible on the meta device."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = torch.zeros(1).item()


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp('embedded')), num_train=2, num_val=1,
                     image_size=64)


def _cfg(model, data_root, **options):
    return tiny_demo_config(model, data_root, f'types-{model}', **options)


# ---------------------------------------------------------------------- no false positives
def test_every_config_is_covered():
    # the glob works: it finds the top-level, nested and sweep configs and no _base_ file
    assert len(SHIPPED) >= 30 and not [p for p in SHIPPED if '_base_' in p]
    assert {'configs/mask-rcnn_dicm.py', 'configs/ssl/demo/stage4_codec_r18_embedded.py',
            'configs/sweep/faster-rcnn_r18_coco-like.py'} <= set(SHIPPED)


@pytest.mark.parametrize('mode', ['train', 'test'])
@pytest.mark.parametrize('config', SHIPPED)
def test_every_shipped_config_passes_the_start_up_check(config, mode, monkeypatch):
    """Everything but file existence (no COCO, ImageNet or checkpoints here; the paths are
    tested in test_bad_input.py on the demo configs with generated data)."""
    monkeypatch.setattr(launch, '_check_paths', lambda cfg, mode: None)
    monkeypatch.setattr(launch, '_check_checkpoints', lambda cfg, mode: None)
    check_config(prepare_config(osp.join(ROOT, config)), mode)


# ---------------------------------------------------------------------- unknown types
@pytest.mark.parametrize('model, key, bad, what, good', [
    ('mask-rcnn', 'model', 'MaskRCN', 'model or task util', 'MaskRCNN'),
    ('mask-rcnn', 'model.backbone', 'DICMResNt', 'model or task util', 'DICMResNet'),
    ('mask-rcnn', 'model.roi_head.bbox_head.loss_cls', 'CrossEntropyLos', 'model or task util',
     'CrossEntropyLoss'),
    ('mask-rcnn', 'model.train_cfg.rcnn.assigner', 'MaxIoUAsigner', 'model or task util',
     'MaxIoUAssigner'),
    ('mask-rcnn', 'model.rpn_head.anchor_generator', 'AnchorGenrator', 'model or task util',
     'AnchorGenerator'),
    ('mask-rcnn', 'model.data_preprocessor', 'DetDataPreprocesor', 'model or task util',
     'DetDataPreprocessor'),
    ('mask-rcnn', 'train_dataloader.dataset', 'CocoDatset', 'dataset', 'CocoDataset'),
    ('mask-rcnn', 'train_dataloader.dataset.pipeline.2', 'Resise', 'transform', 'Resize'),
    ('mask-rcnn', 'train_dataloader.sampler', 'DefaultSampelr', 'data sampler',
     'DefaultSampler'),
    ('mask-rcnn', 'train_dataloader.batch_sampler', 'AspectRatioBatchSampelr', 'data sampler',
     'AspectRatioBatchSampler'),
    ('mask-rcnn', 'val_dataloader.dataset.pipeline.0', 'LoadImageFromFle', 'transform',
     'LoadImageFromFile'),
    ('mask-rcnn', 'val_evaluator.0', 'CocoMetrc', 'metric', 'CocoMetric'),
    ('mask-rcnn', 'val_evaluator.1', 'DICMBppMetrc', 'metric', 'DICMBppMetric'),
    ('mask-rcnn', 'optim_wrapper', 'OptimWraper', 'optim_wrapper', 'OptimWrapper'),
    ('mask-rcnn', 'optim_wrapper.optimizer', 'SGDD', 'optimizer', 'SGD'),
    ('mask-rcnn', 'default_hooks.checkpoint', 'CheckpointHok', 'hook', 'CheckpointHook'),
    ('mask-rcnn', 'default_hooks.visualization', 'DetVisualisationHook', 'hook',
     'DetVisualizationHook'),
    ('mask-rcnn', 'custom_hooks.1', 'EntropyUpdateHok', 'hook', 'EntropyUpdateHook'),
    ('mask-rcnn', 'visualizer', 'DetLocalVisualiser', 'visualizer', 'DetLocalVisualizer'),
    ('mask-rcnn', 'visualizer.vis_backends.0', 'LocalVisBackendd', 'vis_backend',
     'LocalVisBackend'),
    ('mask-rcnn', 'log_processor', 'LogProcesor', 'log_processor', 'LogProcessor'),
    ('mask-rcnn', 'train_cfg', 'IterBasedTrainLop', 'loop', 'IterBasedTrainLoop'),
    ('classifier', 'model.head', 'LinearClsHed', 'model or task util', 'LinearClsHead'),
    ('classifier', 'model.head.loss', 'CrossEntropyLos', 'model or task util',
     'CrossEntropyLoss'),
    ('classifier', 'train_dataloader.dataset.pipeline.1', 'RandomResizedCrp', 'transform',
     'RandomResizedCrop'),
    ('classifier', 'default_hooks.checkpoint', 'CheckpointHok', 'hook', 'CheckpointHook'),
])
def test_an_unknown_type_anywhere_is_named(model, key, bad, what, good, data_root):
    cfg = _cfg(model, data_root, **{f'{key}.type': bad})
    with pytest.raises(ValueError) as info:
        check_config(cfg, 'train')
    assert str(info.value) == (
        f"{key}.type: '{bad}' is not a registered {what} (did you mean {good}?)")


def test_string_valued_types_and_initializers_are_named(data_root):
    cfg = _cfg('classifier', data_root, runner_type='DICMRuner')
    with pytest.raises(ValueError, match=r"^runner_type: 'DICMRuner' is not a registered "
                       r'runner \(did you mean DICMRunner\?\)$'):
        check_config(cfg)
    cfg = _cfg('classifier', data_root)
    cfg.model.backbone.init_cfg = dict(type='Kaimng')
    with pytest.raises(ValueError, match=r"^model\.backbone\.init_cfg\.type: 'Kaimng' is not a "
                       r'registered weight initializer \(did you mean Kaiming\?\)$'):
        check_config(cfg)
    cfg = _cfg('classifier', data_root, param_scheduler=[dict(type='ConstantLRR')])
    with pytest.raises(ValueError, match=r"^param_scheduler\.0\.type: 'ConstantLRR' is not a "
                       r'registered parameter scheduler \(did you mean ConstantLR\?\)$'):
        check_config(cfg)
    cfg = _cfg('classifier', data_root, **{'optim_wrapper.constructor': 'MyConstructor'})
    with pytest.raises(ValueError, match=r"^optim_wrapper\.constructor: 'MyConstructor' is not "
                       r'a registered optimizer wrapper constructor'):
        check_config(cfg)


def test_only_what_the_tool_builds_is_resolved(data_root):
    """As for paths: a test-only key does not stop training, and vice versa."""
    cfg = _cfg('mask-rcnn', data_root, **{'test_evaluator.0.type': 'CocoMetrc',
                                          'optim_wrapper.optimizer.type': 'SGDD'})
    with pytest.raises(ValueError, match=r"^test_evaluator\.0\.type: 'CocoMetrc'"):
        check_config(cfg, 'test')
    with pytest.raises(ValueError, match=r"^optim_wrapper\.optimizer\.type: 'SGDD'"):
        check_config(cfg, 'train')
    cfg.optim_wrapper.optimizer.type = 'SGD'
    check_config(cfg, 'train')
    cfg.val_cfg = None  # no val loop: its (broken) transforms are not built
    cfg.val_dataloader.dataset.pipeline[0].type = 'NoSuchTransform'
    check_config(cfg, 'train')


# ---------------------------------------------------------------------- scopes
def test_scopes_are_honoured_as_the_runner_builds(data_root):
    """default_scope 'mmdet'; mmpretrain's PackInputs resolves with a 'mmpretrain.' prefix or
    a _scope_, not bare; an mmpretrain model named in mmdet's scope says where it is."""
    key = 'test_dataloader.dataset.pipeline.2'  # Load, Resize, PackDetInputs
    cfg = _cfg('mask-rcnn', data_root, **{f'{key}.type': 'PackInputs'})
    with pytest.raises(ValueError) as info:
        check_config(cfg, 'test')
    assert str(info.value) == (
        f"{key}.type: 'PackInputs' is not a registered transform under scope 'mmdet' (it is "
        "registered in 'mmpretrain': write 'mmpretrain.PackInputs' or set "
        "_scope_='mmpretrain')")
    cfg.test_dataloader.dataset.pipeline[2].type = 'mmpretrain.PackInputs'
    check_config(cfg, 'test')
    cfg.test_dataloader.dataset.pipeline[2] = dict(type='PackInputs', _scope_='mmpretrain')
    check_config(cfg, 'test')
    cfg.test_dataloader.dataset.pipeline[2]['type'] = 'mmpretrain.PackInput'
    with pytest.raises(ValueError, match=r"^test_dataloader\.dataset\.pipeline\.2\.type: "
                       r"'mmpretrain\.PackInput' is not a registered transform \(did you mean "
                       r'mmpretrain\.PackInputs\?\)$'):
        check_config(cfg, 'test')
    # a _scope_ on a node applies to its subtree (mmengine keeps it while building children)
    cfg = _cfg('classifier', data_root, **{'model.type': 'mmdet.ImageClassifier'})
    with pytest.raises(ValueError, match=r"^model\.type: 'mmdet\.ImageClassifier' is not a "
                       r"registered model or task util under scope 'mmdet' \(it is registered "
                       r"in 'mmpretrain'"):
        check_config(cfg)
    nodes = {n.key: n for n in resolve_config_types(_cfg('classifier', data_root), 'train')}
    assert nodes['model'].scope == 'mmpretrain' and nodes['model.backbone'].cls.__name__ == \
        'DICMResNet'


# ---------------------------------------------------------------------- mmdicm's own parts
@pytest.mark.parametrize('model, options, message', [
    ('mask-rcnn', {'model.backbone.split_stage': 7},
     'model.backbone (DICMResNet): split_stage must be an int in [0, 3] (num_stages=4), got 7'),
    ('classifier', {'model.backbone.split_stage': -1},
     'model.backbone (DICMResNet): split_stage must be an int in [0, 3] (num_stages=4), '
     'got -1'),
    ('mask-rcnn', {'model.backbone.split_stage': 1},  # out_indices (0, 1, 2, 3) start before
     'model.backbone (DICMResNet): out_indices [0] precede split_stage=1: the receiver only '
     'has features from the split on'),
    ('classifier', {'model.backbone.frozen_parts': ['stem']},
     "model.backbone (DICMResNet): frozen_parts ['stem'] unknown; choose from ('head', 're', "
     "'g_a', 'h_a', 'h_s', 'entropy', 'g_s', 'net', 'tail', 'edge')"),
    ('classifier', {'model.backbone.depth': 51},
     'model.backbone (DICMResNet): invalid depth 51 for resnet'),
    ('classifier', {'model.backbone.spilt_stage': 1},
     "model.backbone (DICMResNet): ResNet.__init__() got an unexpected keyword argument "
     "'spilt_stage'"),
])
def test_bad_dicm_backbone_arguments_are_named(model, options, message, data_root):
    cfg = _cfg(model, data_root, **options)
    with pytest.raises(ValueError) as info:
        check_config(cfg)
    assert str(info.value) == message


def test_what_the_meta_device_cannot_build_is_left_to_the_real_build(data_root):
    """Only argument errors count: the check must not refuse a backbone the Runner builds."""
    cfg = _cfg('classifier', data_root, **{'model.backbone.type': 'MMDICMTestMetaShy'})
    check_config(cfg)
    cfg.model.backbone.split_stage = 9  # its argument checks still run
    with pytest.raises(ValueError, match=r'^model\.backbone \(MetaShy\): split_stage must be'):
        check_config(cfg)


# ---------------------------------------------------------------------- entropy tables
RESTATED = [dict(type='RateLossHook', lambda_rate=0.02), dict(type='BitstreamRecordHook')]
NO_UPDATE = ("custom_hooks: EntropyUpdateHook is missing, but model.backbone.real_coding=True "
             "entropy-codes real bitstreams in {}, which needs entropy tables built from the "
             "weights: add dict(type='EntropyUpdateHook') to custom_hooks (re-stating "
             "custom_hooks replaces the whole inherited list; change one hook with --cfg-options "
             "custom_hooks.0.lambda_rate=...) or set model.backbone.real_coding=False")


@pytest.mark.parametrize('model', ['mask-rcnn', 'classifier'])
def test_real_coding_without_an_entropy_update_hook_is_refused(model, data_root):
    """Re-stating custom_hooks (to change λ) dropped EntropyUpdateHook: the run trained,
    saved, then died in validation with 'entropy tables are empty'."""
    cfg = _cfg(model, data_root, custom_hooks=RESTATED)
    for mode, where in (('train', 'validation'), ('test', 'testing')):
        with pytest.raises(ValueError) as info:
            check_config(cfg, mode)
        assert str(info.value) == NO_UPDATE.format(where)


def test_the_entropy_update_check_only_asks_when_real_coding_happens(data_root):
    cfg = _cfg('classifier', data_root, custom_hooks=RESTATED)
    cfg.val_cfg = None  # training without validation codes nothing
    check_config(cfg, 'train')
    cfg = _cfg('classifier', data_root, custom_hooks=RESTATED,
               **{'model.backbone.real_coding': False})
    check_config(cfg, 'test')  # estimated bpp: no tables needed
    cfg = _cfg('classifier', data_root,
               custom_hooks=RESTATED + [dict(type='MMDICMTestTablesHook')])
    check_config(cfg, 'test')  # a subclass of EntropyUpdateHook does the update
    cfg = _cfg('classifier', data_root, custom_hooks=RESTATED + [EntropyUpdateHook()])
    check_config(cfg, 'test')  # so does a built hook object
