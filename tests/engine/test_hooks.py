"""RateLossHook / EntropyUpdateHook: unit tests on a mock runner, then a stock mmpretrain
ImageClassifier trained, validated, saved and resumed through DICMRunner."""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import HOOKS, MODEL_WRAPPERS

import mmdicm  # noqa: F401  (registers the hooks, DICMResNet)
from mmdicm.engine import (AUX_PARAM_KEY, DICMRunner, EntropyUpdateHook, RateLossHook,
                           find_codec_modules, likelihood_bpp)


# ---------------------------------------------------------------------- mock model and runner
class FakeCodec(nn.Module):

    def __init__(self):
        super().__init__()
        self.quantiles = nn.Parameter(torch.tensor([1., 2.]))
        self.updates = 0

    def aux_loss(self):
        return (self.quantiles**2).sum()

    def update(self, force=False):
        self.updates += 1
        return True


class FakeCodecModule(nn.Module):
    """Duck-typed like DICMResNet: codec, last_likelihoods, last_num_pixels."""

    def __init__(self):
        super().__init__()
        self.codec = FakeCodec()
        self.scale = nn.Parameter(torch.tensor(1.))
        self.last_likelihoods = {}
        self.last_num_pixels = 0

    def forward(self, x):
        b, _, h, w = x.shape
        self.last_likelihoods = dict(
            re=torch.full((b, 4), 0.5) * self.scale,        # 4 bits per image
            y=torch.full((b, 8), 0.25) * self.scale,        # 16 bits per image
            z=torch.full((b, 2), 0.5) * self.scale)         # 2 bits per image
        self.last_num_pixels = b * h * w
        return x.mean() * self.scale


class FakeModel(BaseModel):

    def __init__(self, with_codec=True):
        super().__init__()
        self.backbone = FakeCodecModule() if with_codec else nn.Identity()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.backbone(inputs)
        if mode == 'loss':
            return dict(loss_cls=out.abs())
        return [out]


@MODEL_WRAPPERS.register_module(name='MMDICMTestWrapper')
class FakeWrapper(nn.Module):

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def _attached(hook, model):
    hook.before_train(SimpleNamespace(model=model))
    return hook


X = torch.zeros(2, 3, 4, 5)  # 40 pixels; y+z = 36 bits, re = 8 bits


def test_hooks_are_registered_in_the_root_registry():
    assert HOOKS.get('RateLossHook') is RateLossHook
    assert HOOKS.get('EntropyUpdateHook') is EntropyUpdateHook


def test_rate_terms_only_in_loss_mode():
    model = FakeModel()
    hook = _attached(RateLossHook(lambda_rate=2., lambda_re=0.5, aux_weight=3.), model)
    losses = model(X, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_rate', 'loss_rate_re', 'loss_aux', 'bpp', 'bpp_re'}
    assert losses['bpp'].item() == pytest.approx(36 / 40)
    assert losses['bpp_re'].item() == pytest.approx(8 / 40)
    assert losses['loss_rate'].item() == pytest.approx(2 * 36 / 40)
    assert losses['loss_rate_re'].item() == pytest.approx(0.5 * 8 / 40)
    assert losses['loss_aux'].item() == pytest.approx(3 * 5.)
    assert losses['loss_rate'].requires_grad and losses['loss_aux'].requires_grad
    assert not losses['bpp'].requires_grad and not losses['bpp_re'].requires_grad
    # mode given positionally counts too
    assert 'loss_rate' in model(X, None, 'loss')
    # other modes: untouched
    assert isinstance(model(X, mode='predict'), list)
    assert isinstance(model(X), list)
    # parse_losses optimises the 'loss' keys only and logs bpp
    total, log_vars = model.parse_losses(model(X, mode='loss'))
    expected = losses['loss_cls'] + losses['loss_rate'] + losses['loss_rate_re'] + \
        losses['loss_aux']
    assert total.item() == pytest.approx(expected.item())
    assert log_vars['bpp'].item() == pytest.approx(36 / 40)
    # removed after training
    hook.after_train(None)
    assert set(model(X, mode='loss')) == {'loss_cls'}
    hook.after_run(None)  # idempotent


def test_zero_weights_are_not_added_and_lambda_scales():
    model = FakeModel()
    _attached(RateLossHook(lambda_rate=0., aux_weight=0.), model)
    assert set(model(X, mode='loss')) == {'loss_cls', 'bpp', 'bpp_re'}
    model2 = FakeModel()
    a = _attached(RateLossHook(lambda_rate=1.), model2)
    r1 = model2(X, mode='loss')['loss_rate']
    a.detach()
    _attached(RateLossHook(lambda_rate=4.), model2)
    assert model2(X, mode='loss')['loss_rate'].item() == pytest.approx(4 * r1.item())


def test_hook_goes_inside_a_model_wrapper():
    model = FakeModel()
    wrapped = FakeWrapper(model)
    hook = _attached(RateLossHook(lambda_rate=1.), wrapped)
    assert [n for n, _ in hook._modules] == ['backbone']
    assert 'loss_rate' in wrapped(X, mode='loss')


@pytest.mark.parametrize('kwargs, exc, name', [
    (dict(lambda_rate=-1.), ValueError, 'lambda_rate'),
    (dict(lambda_rate=float('nan')), ValueError, 'lambda_rate'),
    (dict(lambda_rate=1., lambda_re=-0.1), ValueError, 'lambda_re'),
    (dict(lambda_rate=1., aux_weight=-1), ValueError, 'aux_weight'),
    (dict(lambda_rate='1'), TypeError, 'lambda_rate'),
    (dict(lambda_rate=True), TypeError, 'lambda_rate'),
])
def test_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        RateLossHook(**kwargs)


def test_no_codec_module_is_an_error():
    with pytest.raises(RuntimeError, match='FakeModel'):
        _attached(RateLossHook(lambda_rate=1.), FakeModel(with_codec=False))


def test_stale_likelihoods_and_key_clash_are_errors():
    model = FakeModel()
    _attached(RateLossHook(lambda_rate=1.), model)
    model.backbone.forward = lambda x: x.mean()  # the codec module is skipped
    with pytest.raises(RuntimeError, match='stale'):
        model(X, mode='loss')

    class Clashing(FakeModel):

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = super().forward(inputs, data_samples, mode)
            return dict(out, bpp=torch.zeros(())) if mode == 'loss' else out

    model = Clashing()
    _attached(RateLossHook(lambda_rate=1.), model)
    with pytest.raises(KeyError, match='bpp'):
        model(X, mode='loss')


def test_a_model_loss_named_loss_is_renamed_so_the_logged_total_is_the_optimised_one():
    """mmpretrain's ClsHead returns ``{'loss': ce}``; BaseModel.parse_losses logs the total as
    'loss' first and then every entry by key, so that entry would overwrite the logged total
    (which then left out loss_rate and loss_aux). The hook renames it 'loss_task'."""

    class ClsLike(FakeModel):

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = super().forward(inputs, data_samples, mode)
            return dict(loss=out['loss_cls']) if mode == 'loss' else out

    model = ClsLike()
    _attached(RateLossHook(lambda_rate=2., aux_weight=3.), model)
    losses = model(X, mode='loss')
    assert list(losses)[:2] == ['loss_task', 'loss_rate'] and 'loss' not in losses
    total, log_vars = model.parse_losses(losses)
    expected = losses['loss_task'] + losses['loss_rate'] + losses['loss_aux']
    assert total.item() == pytest.approx(expected.item())
    assert log_vars['loss'].item() == pytest.approx(expected.item())  # logged = optimised
    assert log_vars['loss_task'].item() == pytest.approx(losses['loss_task'].item())

    class Both(ClsLike):

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = super().forward(inputs, data_samples, mode)
            return dict(out, loss_task=out['loss']) if mode == 'loss' else out

    model = Both()
    _attached(RateLossHook(lambda_rate=1.), model)
    with pytest.raises(KeyError, match="both 'loss' and 'loss_task'"):
        model(X, mode='loss')


def test_likelihood_bpp():
    lik = dict(y=torch.full((2, 3), 0.5), re=torch.full((4, ), 0.25))
    assert likelihood_bpp(lik, ('y', 'z'), 3).item() == pytest.approx(2.)
    assert likelihood_bpp(lik, ('z', ), 3) is None


def test_entropy_update_hook_on_mock_runner():
    model = FakeModel()
    runner = SimpleNamespace(model=FakeWrapper(model))
    hook = EntropyUpdateHook()
    hook.before_val_epoch(runner)
    hook.before_test_epoch(runner)
    checkpoint = dict(state_dict={})
    hook.before_save_checkpoint(runner, checkpoint)
    assert model.backbone.codec.updates == 3
    EntropyUpdateHook().before_val_epoch(SimpleNamespace(model=FakeModel(with_codec=False)))


# ---------------------------------------------------------------------- aux optimizer config
TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))


def _classifier_cfg():
    return dict(
        type='ImageClassifier',
        backbone=dict(type='DICMResNet', depth=18, out_indices=(3, ), codec=TINY_CODEC),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=512,
                  loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        data_preprocessor=dict(num_classes=2, mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True))


@pytest.fixture(scope='module')
def classifier():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(_classifier_cfg())


def test_aux_param_key_gives_quantiles_their_own_group(classifier):
    names = [n for n, _ in classifier.named_parameters() if AUX_PARAM_KEY in n]
    assert names and all(n.endswith('entropy_bottleneck.quantiles') for n in names)
    assert len(names) == 2  # RE's and the hyperprior's
    constructor = DefaultOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, weight_decay=1e-4)),
        dict(custom_keys={AUX_PARAM_KEY: dict(lr_mult=10., decay_mult=0.)}))
    optimizer = constructor(classifier).optimizer
    ids = {id(p): n for n, p in classifier.named_parameters()}
    is_aux = [any(ids[id(p)].endswith('.quantiles') for p in g['params'])
              for g in optimizer.param_groups]
    aux_groups = [g for g, aux in zip(optimizer.param_groups, is_aux) if aux]
    assert len(aux_groups) == 2
    for g in aux_groups:
        assert len(g['params']) == 1
        assert g['lr'] == pytest.approx(0.1) and g['weight_decay'] == 0.
    others = [g for g, aux in zip(optimizer.param_groups, is_aux) if not aux]
    assert all(g['lr'] == pytest.approx(0.01) and g['weight_decay'] == pytest.approx(1e-4)
               for g in others)


# ---------------------------------------------------------------------- real runs
class RandomImages(torch.utils.data.Dataset):
    """Tiny in-memory classification set (uint8 CHW images + mmpretrain DataSamples)."""
    metainfo = dict(classes=('a', 'b'))

    def __init__(self, n=4, size=64):
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from mmpretrain.structures import DataSample
        sample = DataSample(metainfo=dict(img_shape=tuple(self.images.shape[-2:]),
                                          img_path=f'image{i}.png'))
        return dict(inputs=self.images[i], data_samples=sample.set_gt_label(i % 2))


def _loader():
    return dict(dataset=RandomImages(), sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=2, num_workers=0, collate_fn=dict(type='default_collate'))




def _runner_cfg(work_dir, aux_weight, validate, resume=False):
    cfg = dict(
        model=_classifier_cfg(),
        work_dir=str(work_dir),
        train_dataloader=_loader(),
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
            paramwise_cfg=dict(custom_keys={AUX_PARAM_KEY: dict(lr_mult=10., decay_mult=0.)})),
        custom_hooks=[dict(type='RateLossHook', lambda_rate=0.5, aux_weight=aux_weight),
                      dict(type='EntropyUpdateHook')],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmpretrain',
        experiment_name=f'test_hooks-{work_dir.parent.name}-{work_dir.name}-{resume}',
    )
    if validate:
        cfg.update(val_dataloader=_loader(), val_cfg=dict(), val_evaluator=dict(type='Accuracy'))
    return cfg


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return any(not torch.equal(before[k], after[k]) for k in keys)


def _fixed_batch_bpp(model):
    """(estimated bpp, real container bytes) of a fixed batch through the eval backbone."""
    model.eval()
    backbone = model.backbone
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        backbone(images)
        est = likelihood_bpp(backbone.last_likelihoods, ('y', 'z'), backbone.last_num_pixels)
        data = backbone.compress(images)
    return est.item(), data


def test_stock_classifier_trains_validates_saves_and_resumes(tmp_path, one_thread):
    work_dir = tmp_path / 'aux'
    runner = DICMRunner(**_runner_cfg(work_dir, aux_weight=1., validate=True))
    model = runner.model
    (_, backbone), = find_codec_modules(model)
    assert backbone.codec.net.entropy_bottleneck._quantized_cdf.numel() == 0
    before = _snapshot(model)
    runner.train()

    # the rate terms reached the optimiser and the logs
    hub = runner.message_hub
    for key in ('loss_task', 'loss_rate', 'loss_aux', 'bpp', 'bpp_re'):
        assert math.isfinite(hub.get_scalar(f'train/{key}').current()), key
    assert 'train/loss_rate_re' not in hub.log_scalars
    # the logged total is the optimised one: the head's cross-entropy (renamed loss_task:
    # mmpretrain names it 'loss', which overwrote the total) + rate + aux, as in detection
    logged = {k: hub.get_scalar(f'train/{k}').current()
              for k in ('loss', 'loss_task', 'loss_rate', 'loss_aux')}
    assert logged['loss'] == pytest.approx(
        logged['loss_task'] + logged['loss_rate'] + logged['loss_aux'], rel=1e-5)
    log = next(work_dir.rglob('*.log')).read_text()
    assert 'loss_task:' in log and 'loss_rate:' in log and 'bpp:' in log
    # the torch hooks are gone after training
    assert not model._forward_hooks and not model._forward_pre_hooks

    after = _snapshot(model)
    assert _changed(before, after, 'backbone.codec.net.g_a.')
    assert _changed(before, after, 'backbone.codec.net.h_s.')
    assert _changed(before, after, 'backbone.codec.re.encoder.')
    for key in ('backbone.codec.net.entropy_bottleneck.quantiles',
                'backbone.codec.re.entropy_bottleneck.quantiles'):
        assert not torch.equal(before[key], after[key]), key

    # the val loop refreshed the tables
    for eb in (backbone.codec.net.entropy_bottleneck, backbone.codec.re.entropy_bottleneck):
        assert eb._quantized_cdf.numel() > 0 and eb._offset.numel() > 0
    # (the default preset's y has no stored tables to refresh: they are built per symbol
    # from the coded mixture parameters)
    assert backbone.codec.net.entropy_model == 'context_mixture'

    # the checkpoint (saved before validation) carries tables matching the weights
    ckpt = torch.load(work_dir / 'epoch_1.pth', map_location='cpu', weights_only=False)
    for key, value in model.state_dict().items():
        assert torch.equal(ckpt['state_dict'][key], value), key
    bpp, data = _fixed_batch_bpp(model)

    # resume into a fresh model: identical tables, estimated bpp and real bitstreams
    resumed = DICMRunner(**_runner_cfg(work_dir, aux_weight=1., validate=True, resume=True))
    resumed.load_or_resume()
    assert resumed.epoch == 1
    state = resumed.model.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    bpp2, data2 = _fixed_batch_bpp(resumed.model)
    assert bpp2 == bpp and data2 == data


def test_quantiles_move_only_through_the_aux_loss(tmp_path, one_thread):
    runner = DICMRunner(**_runner_cfg(tmp_path / 'noaux', aux_weight=0., validate=False))
    before = _snapshot(runner.model)
    runner.train()
    after = _snapshot(runner.model)
    assert 'train/loss_aux' not in runner.message_hub.log_scalars
    assert _changed(before, after, 'backbone.codec.net.g_a.')
    for key in ('backbone.codec.net.entropy_bottleneck.quantiles',
                'backbone.codec.re.entropy_bottleneck.quantiles'):
        assert torch.equal(before[key], after[key]), key


# ---------------------------------------------------------------------- measured bpp
def test_measured_bpp_next_to_accuracy_in_one_test_pass(tmp_path, one_thread):
    """Real coding at test time: the same pass reports accuracy and bpp of the real
    containers, and the containers written to disk are exactly what the bpp counts."""
    from mmdicm.codec import read as read_bitstream
    cfg = _runner_cfg(tmp_path / 'real', aux_weight=1., validate=False)
    cfg['model']['backbone']['real_coding'] = True
    cfg['custom_hooks'].append(dict(type='BitstreamRecordHook', out_dir='bitstreams'))
    cfg.update(test_dataloader=_loader(), test_cfg=dict(),
               test_evaluator=[dict(type='Accuracy'), dict(type='DICMBppMetric')])
    runner = DICMRunner(**cfg)
    metrics = runner.test()
    assert 'accuracy/top1' in metrics
    files = sorted((tmp_path / 'real' / 'bitstreams').glob('*.dicm'))
    assert len(files) == len(RandomImages()) == metrics['dicm/num_images']
    total_bits = 8 * sum(f.stat().st_size for f in files)
    assert metrics['dicm/bpp'] == pytest.approx(total_bits / (len(files) * 64 * 64))
    assert metrics['dicm/bytes_per_image'] == pytest.approx(total_bits / 8 / len(files))
    backbone = runner.model.backbone
    fingerprint = backbone.codec.fingerprint()
    payload = 0
    for f in files:  # each file is a whole, valid container of this model
        stream = read_bitstream(str(f), expected_fingerprint=fingerprint)
        assert stream.image_size == (64, 64)
        payload += stream.payload_size
    # payload bpp: the entropy-coded strings alone, without each container's header and CRC
    assert metrics['dicm/payload_bpp'] == pytest.approx(8 * payload / (len(files) * 64 * 64))
    assert 0 < metrics['dicm/payload_bpp'] < metrics['dicm/bpp']


def test_bpp_metric_without_real_coding_says_how_to_enable_it(tmp_path, one_thread):
    cfg = _runner_cfg(tmp_path / 'est', aux_weight=1., validate=False)
    cfg['custom_hooks'].append(dict(type='BitstreamRecordHook'))
    cfg.update(test_dataloader=_loader(), test_cfg=dict(),
               test_evaluator=[dict(type='Accuracy'), dict(type='DICMBppMetric')])
    with pytest.raises(RuntimeError, match='real_coding=True'):
        DICMRunner(**cfg).test()


def test_bitstream_record_hook_rejects_a_bad_out_dir():
    with pytest.raises(TypeError, match='out_dir'):
        HOOKS.build(dict(type='BitstreamRecordHook', out_dir=3))
