"""mmdicm in detectron2 (``mmdicm.integrations.detectron2``): the backbone from a detectron2
config, a 2-iteration DICMTrainer run on the embedded data, mmdicm checkpoints in, and
containers from ``tools/compress.py`` decoded to the same features (tiny codec, random
weights)."""
import json
import os.path as osp
import runpy
import subprocess
import sys

import pytest
import torch

detectron2 = pytest.importorskip('detectron2')

from detectron2.config import CfgNode as CN  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import BACKBONE_REGISTRY, build_backbone, build_model  # noqa: E402

import mmdicm.integrations.detectron2 as d2dicm  # noqa: E402
from dicm_tiny import TINY_CODEC, make_data  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'detectron2')
CPU_TWIN = osp.join(CONFIGS, 'embedded_R_18_FPN_dicm_cpu.yaml')
SHIPPED = sorted(n for n in __import__('os').listdir(CONFIGS) if n.endswith('.yaml'))
DEMO = osp.join(ROOT, 'configs', 'demo', 'mask-rcnn_dicm_r18_embedded.py')
STAGE4 = osp.join(ROOT, 'configs', 'ssl', 'demo', 'stage4_codec_r18_embedded.py')

pytestmark = pytest.mark.usefixtures('one_thread_module')


def tiny_cfg(config: str = CPU_TWIN, **overrides) -> CN:
    """A shipped config with the tiny codec (and ``overrides``: 'MODEL.DEVICE' style keys)."""
    cfg = get_cfg()
    d2dicm.add_dicm_config(cfg)
    cfg.merge_from_file(config)
    cfg.MODEL.DICM.CODEC.merge_from_other_cfg(CN(TINY_CODEC))
    cfg.MODEL.DEVICE = 'cpu'
    cfg.merge_from_list([x for kv in overrides.items() for x in (kv[0].replace('__', '.'),
                                                                  kv[1])])
    return cfg


# ---------------------------------------------------------------------- the backbone
@pytest.mark.parametrize('name', SHIPPED)
def test_every_shipped_config_merges_and_names_a_registered_dicm_backbone(name):
    cfg = get_cfg()
    d2dicm.add_dicm_config(cfg)
    cfg.merge_from_file(osp.join(CONFIGS, name))
    assert cfg.MODEL.BACKBONE.NAME in BACKBONE_REGISTRY
    assert cfg.MODEL.BACKBONE.NAME.startswith('build_dicm_')
    assert not cfg.MODEL.RESNETS.STRIDE_IN_1X1
    assert cfg.MODEL.DICM.SPLIT_AT == 'res2'


@pytest.mark.parametrize('norm', ['BN', 'FrozenBN'])
def test_backbone_shapes_match_detectron2_resnet(norm):
    cfg = tiny_cfg(MODEL__RESNETS__NORM=norm)
    backbone = build_backbone(cfg)  # the FPN
    dicm = backbone.bottom_up
    assert isinstance(dicm, d2dicm.DICMResNet)
    plain_cfg = cfg.clone()
    plain_cfg.MODEL.BACKBONE.NAME = 'build_resnet_fpn_backbone'
    plain = build_backbone(plain_cfg)
    assert dicm.output_shape() == plain.bottom_up.output_shape()  # ShapeSpecs: channels, strides
    assert backbone.output_shape() == plain.output_shape()
    x = torch.rand(2, 3, 100, 70)  # not a multiple of the codec's stride: padded and cropped
    with torch.no_grad():
        ours, theirs = dicm(x), plain.bottom_up(x)
        assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
        y = torch.rand(1, 3, 96, 64)  # the FPN wants ImageList's padding (size_divisibility)
        assert {k: v.shape for k, v in backbone(y).items()} == {
            k: v.shape for k, v in plain(y).items()}
        dicm(x)
    assert set(dicm.last_likelihoods) == {'re', 'y', 'z'}
    assert dicm.last_num_pixels == 2 * 100 * 70
    # same parameter names as detectron2's ResNet, plus the codec's
    names = set(dicm.state_dict())
    assert {n for n in names if not n.startswith('codec.')} >= set(plain.bottom_up.state_dict())
    dicm.eval()
    dicm.real_coding = True
    dicm.update(force=True)
    with torch.no_grad():
        real = dicm(x)
    assert len(dicm.last_bitstreams) == 2
    assert {k: v.shape for k, v in real.items()} == {k: v.shape for k, v in theirs.items()}


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match='STRIDE_IN_1X1 must be False'):
        build_backbone(tiny_cfg(MODEL__RESNETS__DEPTH=50, MODEL__RESNETS__RES2_OUT_CHANNELS=256,
                                MODEL__RESNETS__STRIDE_IN_1X1=True))
    with pytest.raises(ValueError, match='split_at must be one of'):
        build_backbone(tiny_cfg(MODEL__DICM__SPLIT_AT='res9'))
    with pytest.raises(ValueError, match='frozen_parts'):
        build_backbone(tiny_cfg(MODEL__DICM__FROZEN_PARTS=['edges']))
    cfg = get_cfg()
    cfg.merge_from_list(['MODEL.BACKBONE.NAME', 'build_dicm_resnet_fpn_backbone'])
    with pytest.raises(KeyError, match='add_dicm_config'):
        build_backbone(cfg)


def _run(probe: str) -> str:
    proc = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()[-1]


def test_import_mmdicm_does_not_import_the_integration():
    """(mmdet 3.3's D2Wrapper imports detectron2 itself when it is installed; mmdicm's own
    detectron2 code stays unloaded and unregistered.)"""
    assert _run(r'''
import sys
import mmdicm
assert 'mmdicm.integrations' not in sys.modules
if 'detectron2' in sys.modules:
    from detectron2.modeling import BACKBONE_REGISTRY
    assert 'build_dicm_resnet_fpn_backbone' not in BACKBONE_REGISTRY
print('ok')
''') == 'ok'


def test_the_integration_needs_no_openmmlab():
    assert _run(r'''
import sys
for name in ('mmengine', 'mmdet', 'mmcv', 'mmpretrain'):
    sys.modules[name] = None  # makes `import name` raise ModuleNotFoundError
import mmdicm.integrations.detectron2 as d2dicm
from detectron2.modeling import BACKBONE_REGISTRY
assert 'build_dicm_resnet_fpn_backbone' in BACKBONE_REGISTRY
print('ok')
''') == 'ok'


# ---------------------------------------------------------------------- training
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp('d2data') / 'embedded'))


def test_two_iterations_of_default_trainer_log_loss_rate_and_bpp(data_root, tmp_path):
    names = d2dicm.register_embedded(data_root, prefix='d2test_embedded')
    cfg = tiny_cfg(SOLVER__MAX_ITER=2, SOLVER__IMS_PER_BATCH=2, SOLVER__CHECKPOINT_PERIOD=2,
                   SOLVER__WARMUP_ITERS=1, SOLVER__STEPS=(), DATALOADER__NUM_WORKERS=0,
                   INPUT__MIN_SIZE_TRAIN=(64, ), INPUT__MAX_SIZE_TRAIN=64,
                   INPUT__MIN_SIZE_TEST=64, INPUT__MAX_SIZE_TEST=64,
                   OUTPUT_DIR=str(tmp_path / 'out'), SEED=0)
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (names[0], ), (names[1], )
    (tmp_path / 'out').mkdir()  # detectron2's default_setup would (train_net.py)
    trainer = d2dicm.DICMTrainer(cfg)
    types = [type(h).__name__ for h in trainer._hooks]
    assert types[0] == 'DICMRateLossHook'
    assert types.index('DICMEntropyUpdateHook') < types.index('PeriodicCheckpointer')
    # the optimizer groups: codec at CODEC_LR_FACTOR, quantiles without weight decay
    names_of = {id(p): n for n, p in trainer.model.named_parameters()}
    groups = {names_of[id(g['params'][0])]: g for g in trainer.optimizer.param_groups}
    quantiles = [g for n, g in groups.items() if n.endswith('entropy_bottleneck.quantiles')]
    assert len(quantiles) == 2 and all(g['weight_decay'] == 0 for g in quantiles)
    codec = [g for n, g in groups.items() if '.codec.' in n and 'quantiles' not in n]
    assert codec and all(g['initial_lr'] == pytest.approx(cfg.SOLVER.BASE_LR * 0.1)
                         for g in codec if 'bias' not in names_of[id(g['params'][0])])
    trainer.resume_or_load(resume=False)
    trainer.train()

    lines = [json.loads(x) for x in open(tmp_path / 'out' / 'metrics.json')]
    last = [x for x in lines if 'total_loss' in x][-1]
    assert last['iteration'] == 1
    # DefaultTrainer's final evaluation ran on real bitstreams (REAL_CODING in the config)
    assert any('bbox/AP' in x for x in lines)
    for key in ('loss_rate', 'loss_aux', 'bpp', 'loss_cls', 'loss_mask', 'total_loss'):
        assert key in last and last[key] == last[key], key  # present, not NaN
    assert last['loss_rate'] == pytest.approx(0.08 * last['bpp'], rel=1e-4)

    # the saved tables match the weights and load back through the checkpointer
    ckpt = tmp_path / 'out' / 'model_final.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['model']
    cdf = 'backbone.bottom_up.codec.net.entropy_bottleneck._quantized_cdf'
    assert state[cdf].numel() > 0
    fresh = build_model(cfg)
    d2dicm.DICMCheckpointer(fresh).load(str(ckpt))
    assert torch.equal(fresh.state_dict()[cdf], state[cdf])


# ---------------------------------------------------------------------- mmdicm checkpoints
def _mmdicm_model(config: str, seed: int):
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.backbone.codec': TINY_CODEC})
    torch.manual_seed(seed)
    scope = 'mmpretrain' if 'ssl' in config else 'mmdet'
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    model.backbone.update(force=True)
    return model


def test_stage4_checkpoint_loads_with_no_missing_or_unexpected_keys(tmp_path):
    model = _mmdicm_model(STAGE4, seed=3)
    src = tmp_path / 'stage4.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), src)
    dst = tmp_path / 'stage4_detectron2.pth'
    info = d2dicm.convert_mmdicm_checkpoint(str(src), str(dst))
    assert info['dropped'] == [] and info['num_codec_keys'] > 0

    d2 = build_model(tiny_cfg())
    state = torch.load(dst, map_location='cpu', weights_only=True)['model']
    from mmdicm.integrations.detectron2.checkpoint import resize_entropy_buffers
    resize_entropy_buffers(d2, state)
    result = d2.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    missing = [k for k in result.missing_keys if k.startswith('backbone.bottom_up.')]
    assert missing == []  # every codec and ResNet key of the bottom-up came from mmdicm
    ours = d2.backbone.bottom_up
    mm_codec = model.backbone.codec.state_dict()
    assert set(ours.codec.state_dict()) == set(mm_codec)
    assert all(torch.equal(v, mm_codec[k]) for k, v in ours.codec.state_dict().items())
    # same weights, same features (estimate path, eval mode), and the same edge digest
    ours.eval()
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs = model.backbone(x)
        mine = ours(x)
    stages = ('res2', 'res3', 'res4', 'res5')
    stages = [stages[i] for i in model.backbone.out_indices]  # the SSL backbone: res5 only
    for name, feature in zip(stages, theirs):
        assert torch.equal(mine[name], feature), name
    assert ours.edge_fingerprint() == model.backbone.edge_fingerprint()


# ---------------------------------------------------------------------- containers
@pytest.mark.parametrize('norm', ['BN', 'FrozenBN'])
def test_compress_py_container_decodes_in_detectron2_to_the_same_features(tmp_path, norm):
    """tools/compress.py on an mmdet model -> the detectron2 backbone of the converted
    checkpoint decodes each container to f3 bit for bit, and to the same tail features."""
    import cv2
    from skimage import data
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('astronaut', 'coffee'):
        img = cv2.resize(getattr(data, name)(), (96, 80), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(images / f'{name}.png'), img[..., ::-1])
    model = _mmdicm_model(DEMO, seed=5)
    src = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), src)
    options = [f'model.backbone.codec.{part}.{k}={str(v).replace(" ", "")}'
               for part, args in TINY_CODEC.items() for k, v in args.items()]
    options.append('test_dataloader.dataset.pipeline.1.scale=(96,96)')
    compress = runpy.run_path(osp.join(ROOT, 'tools', 'compress.py'))['main']
    out = tmp_path / 'bitstreams'
    assert compress([DEMO, str(src), str(images), str(out), '--no-progress',
                     '--cfg-options', *options]) == 0

    dst = tmp_path / 'model_detectron2.pth'
    d2dicm.convert_mmdicm_checkpoint(str(src), str(dst))
    d2 = build_model(tiny_cfg(MODEL__RESNETS__NORM=norm)).eval()
    d2dicm.DICMCheckpointer(d2).load(str(dst))
    ours = d2.backbone.bottom_up
    for name in ('astronaut', 'coffee'):
        container = (out / f'{name}.dicm').read_bytes()
        f3_mm, _ = model.backbone.codec.decode(container)
        f3_d2, _ = ours.codec.decode(container)
        assert torch.equal(f3_d2, f3_mm)
        theirs = model.backbone.decompress(container)
        mine = ours.decompress(container)
        for i, stage in enumerate(('res2', 'res3', 'res4', 'res5')):
            assert mine[stage].shape == theirs[i].shape
            assert torch.equal(mine[stage], theirs[i]), stage


# ---------------------------------------------------------------------- the tools
@pytest.mark.parametrize('tool', ['train_net.py', 'convert_checkpoint.py'])
def test_tool_help(tool, capsys, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [tool])
    main = runpy.run_path(osp.join(ROOT, 'tools', 'detectron2', tool))['main']
    with pytest.raises(SystemExit) as info:
        main(['--help'])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f'usage: {tool} ')


def test_convert_checkpoint_cli(tmp_path, capsys):
    main = runpy.run_path(osp.join(ROOT, 'tools', 'detectron2', 'convert_checkpoint.py'))['main']
    assert main([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')]) == 2
    assert 'no checkpoint file' in capsys.readouterr().err
    src = tmp_path / 'cls.pth'
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(2, 2)}}, src)
    assert main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert "no key starts with 'backbone.'" in capsys.readouterr().err
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
                               'backbone.fc.weight': torch.zeros(2, 2)}}, src)
    assert main([str(src), str(tmp_path / 'out.pth')]) == 0
    out = capsys.readouterr().out
    assert '1 keys (0 of the codec)' in out and 'backbone.fc.weight' in out
    converted = torch.load(tmp_path / 'out.pth', weights_only=True)['model']
    assert list(converted) == ['backbone.bottom_up.stem.conv1.weight']
