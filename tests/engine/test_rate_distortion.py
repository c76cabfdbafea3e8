"""RateDistortionLossHook (terms, weights, momentum copies left out, refusals), the optimizer
wrapper that keeps the quantiles out of gradient clipping, and DICMPretrained."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS, OPTIM_WRAPPER_CONSTRUCTORS, DefaultScope
from mmpretrain.registry import MODELS

from mmdicm.engine.optim import (DICMOptimWrapper, DICMOptimWrapperConstructor,
                                 is_aux_parameter)
from mmdicm.engine.pretrained import DICMPretrainedInit  # noqa: F401  (registers it)
from mmdicm.engine.hooks.rate_distortion_hook import RateDistortionLossHook, feature_distortion
from mmdicm.models import DICMResNet
from mmdicm.models.selfsup.moco import DICMMoCoV2  # noqa: F401  (registers it)

TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))
STAGE4 = dict(lambda_rate=0.08,
              distortions=[dict(pred='f3', target='f2', metric='l2', weight=2048.)],
              tail_distortion=dict(target='f2', metric='l2', weights=(384., 256., 192.)))


pytestmark = pytest.mark.usefixtures('one_thread_module')


def moco(contrastive_weight=0., codec=TINY_CODEC, frozen_parts=('head', 're', 'tail')):
    torch.manual_seed(0)
    cfg = dict(
        type='DICMMoCoV2', queue_len=8, feat_dim=8, momentum=0.01,
        contrastive_weight=contrastive_weight,
        backbone=dict(type='DICMResNet', depth=18, out_indices=(3, ), codec=codec,
                      frozen_parts=frozen_parts),
        neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16, out_channels=8),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg).train()


def views(n=2, size=64):
    g = torch.Generator().manual_seed(1)
    return [torch.rand(n, 3, size, size, generator=g) for _ in range(2)]


def test_registered_and_validated():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        hook = HOOKS.build(dict(type='RateDistortionLossHook', **STAGE4))
    assert isinstance(hook, RateDistortionLossHook)
    bad = [
        (dict(distortions=[dict(pred='f2', target='f2')]), ValueError, 'different'),
        (dict(distortions=[dict(pred='f4', target='f1')]), ValueError, 'different'),
        (dict(distortions=[dict(pred='f2', target='f1', metric='l3')]), ValueError, 'metric'),
        (dict(distortions=[dict(pred='f2', target='f1', weight=-1.)]), ValueError, '>= 0'),
        (dict(distortions=[dict(pred='f2', target='f1', scale=1.)]), ValueError, 'unknown'),
        (dict(distortions=[dict(pred='f2', target='f1')] * 2), ValueError, 'duplicate'),
        (dict(distortions=dict(pred='f2')), TypeError, 'list'),
        (dict(tail_distortion=dict(target='f3', weights=(1., ))), ValueError, 'teacher'),
        (dict(tail_distortion=dict(target='f2')), ValueError, 'weights'),
    ]
    for kwargs, exc, match in bad:
        with pytest.raises(exc, match=match):
            RateDistortionLossHook(**kwargs)


def test_stage4_terms_match_a_manual_computation():
    model = moco()
    hook = RateDistortionLossHook(**STAGE4)
    hook.attach(model)
    assert [name for name, _ in hook._modules] == ['backbone']  # encoder_k left out
    backbone = model.backbone
    assert backbone.keep_features and not model.encoder_k.module[0].keep_features
    x = views()
    torch.manual_seed(3)
    losses = model(x[:1], None, mode='loss')
    assert set(losses) == {'loss_rate', 'bpp', 'bpp_re', 'loss_aux', 'loss_dist_f3_f2',
                           'dist_f3_f2', 'loss_dist_tail', 'dist_tail'}
    assert all(torch.isfinite(v) for v in losses.values())
    assert backbone.last_features == {}  # dropped after use (no graph kept alive)

    # the same forward by hand
    torch.manual_seed(3)
    backbone.keep_features = True
    backbone(x[0])
    f = backbone.last_features
    torch.testing.assert_close(losses['dist_f3_f2'], F.mse_loss(f['f3'], f['f2']))
    torch.testing.assert_close(losses['loss_dist_f3_f2'], 2048 * F.mse_loss(f['f3'], f['f2']))
    with torch.no_grad():
        teacher = backbone.forward_tail(f['f2'], (64, 64))
    tail = [F.mse_loss(s, t) for s, t in zip(f['tail'], teacher)]
    torch.testing.assert_close(losses['loss_dist_tail'],
                               384 * tail[0] + 256 * tail[1] + 192 * tail[2])
    lik = backbone.last_likelihoods
    bpp = sum(torch.log2(lik[k]).sum() for k in ('y', 'z')) / (-2 * 64 * 64)
    torch.testing.assert_close(losses['bpp'], bpp)  # the online encoder's alone
    torch.testing.assert_close(losses['loss_rate'], 0.08 * bpp)

    # gradients reach the compression network only (head, RE and tail are frozen)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads and all(n.startswith('backbone.codec.net.') for n in grads)
    hook.detach()
    assert not backbone.keep_features


def test_stage2_and_stage3_terms():
    model = moco(codec=dict(TINY_CODEC, net=None), frozen_parts=('head', 'tail'))
    hook = RateDistortionLossHook(lambda_re=1., distortions=[
        dict(pred='f2', target='f1', metric='l1', weight=128.)])
    hook.attach(model)
    losses = model(views()[:1], None, mode='loss')
    assert {'loss_rate_re', 'bpp_re', 'loss_aux', 'loss_dist_f2_f1'} <= set(losses)
    assert 'loss_rate' not in losses and 'bpp' not in losses  # no compression network yet
    torch.testing.assert_close(losses['loss_dist_f2_f1'], 128 * losses['dist_f2_f1'])
    hook.detach()

    # stage 3: with the target not detached, the distortion also pulls f1 towards f2
    model = moco(contrastive_weight=1., codec=dict(TINY_CODEC, net=None), frozen_parts=())
    head_grads = []
    for detach in (True, False):
        hook = RateDistortionLossHook(lambda_re=0.1, distortions=[
            dict(pred='f2', target='f1', metric='l1', weight=0.1, detach_target=detach)])
        hook.attach(model)
        torch.manual_seed(5)
        losses = model(views(), None, mode='loss')
        assert {'loss_contrastive', 'loss_rate_re', 'loss_dist_f2_f1'} <= set(losses)
        model.zero_grad()
        losses['loss_dist_f2_f1'].backward()
        head_grads.append(model.backbone.conv1.weight.grad.clone())
        hook.detach()
    assert not torch.allclose(*head_grads)


def test_refuses_terms_that_cannot_train():
    model = moco(codec=dict(TINY_CODEC, net=None), frozen_parts=('head', 'tail'))
    with pytest.raises(ValueError, match='bypassed'):
        RateDistortionLossHook(distortions=[
            dict(pred='f3', target='f2')]).attach(model)
    model = moco(frozen_parts=('head', 're'))
    with pytest.raises(ValueError, match='frozen_parts'):
        RateDistortionLossHook(**STAGE4).attach(model)
    model = moco()
    with pytest.raises(ValueError, match='tail stages'):
        RateDistortionLossHook(tail_distortion=dict(weights=(1., ))).attach(model)
    hook = RateDistortionLossHook(**STAGE4)
    hook.attach(model)
    model.backbone.layer3.train()  # e.g. a model.train() that bypassed frozen_parts
    with pytest.raises(RuntimeError, match='training mode'):
        model(views()[:1], None, mode='loss')
    hook.detach()


def test_feature_distortion():
    a, b = torch.zeros(2, 3), torch.full((2, 3), 2.)
    assert feature_distortion(a, b, 'l1') == 2. and feature_distortion(a, b, 'l2') == 4.
    with pytest.raises(ValueError, match='shapes'):
        feature_distortion(a, b[:1], 'l1')


def test_normalized_mse_is_scale_free_and_its_gradient_reaches_only_the_prediction():
    torch.manual_seed(0)
    target = torch.randn(2, 8, 4, 4)
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_()
    value = feature_distortion(pred, target, 'nmse')
    expected = F.mse_loss(pred, target) / target.pow(2).mean()
    assert torch.allclose(value, expected)
    scaled = feature_distortion(1e3 * pred, 1e3 * target, 'nmse')  # l2 would grow 1e6 x
    assert torch.allclose(scaled, value, rtol=1e-5)
    assert feature_distortion(target, target, 'nmse') == 0
    target.requires_grad_()
    feature_distortion(pred, target, 'nmse').backward()
    # the denominator is detached: the target only gets the MSE part's gradient
    assert torch.allclose(target.grad, -pred.grad)


def _step_with_clip(wrapper_type):
    """One clipped step of a codec whose quantiles have an aux gradient."""
    torch.manual_seed(0)
    model = DICMResNet(depth=18, out_indices=(3, ), codec=TINY_CODEC,
                       frozen_parts=('head', 're', 'tail')).train()
    MessageHub.get_instance('test_rate_distortion')
    cfg = dict(type=wrapper_type, optimizer=dict(type='SGD', lr=0., weight_decay=0.),
               clip_grad=dict(max_norm=1.))
    wrapper = DICMOptimWrapperConstructor(cfg, dict(custom_keys={
        'entropy_bottleneck.quantiles': dict(lr_mult=1., decay_mult=0.)}))(model)
    model.keep_features = True
    model(torch.rand(2, 3, 64, 64))
    f = model.last_features
    loss = 2048 * F.mse_loss(f['f3'], f['f2']) + model.codec.aux_loss()
    loss.backward()
    before = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    wrapper.step()
    after = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return before, after


def test_clipping_leaves_the_quantiles_out():
    before, after = _step_with_clip('DICMOptimWrapper')
    aux = [n for n in before if is_aux_parameter(n)]
    main = [n for n in before if not is_aux_parameter(n)]
    assert aux == ['codec.net.entropy_bottleneck.quantiles'] and main
    for n in aux:  # unclipped
        assert torch.equal(before[n], after[n])
    norm = torch.norm(torch.stack([after[n].norm() for n in main]))
    assert norm == pytest.approx(1., rel=1e-4)  # the main gradient alone is clipped to 1
    # mmengine's OptimWrapper clips both together
    before, after = _step_with_clip('OptimWrapper')
    assert not torch.equal(before[aux[0]], after[aux[0]])


def test_constructor_tags_aux_groups_and_refuses_mixed_ones():
    torch.manual_seed(0)
    model = DICMResNet(depth=18, out_indices=(3, ), codec=TINY_CODEC)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type='DICMOptimWrapperConstructor',
            optim_wrapper_cfg=dict(type='DICMOptimWrapper',
                                   optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4)),
            paramwise_cfg=dict(custom_keys={
                'entropy_bottleneck.quantiles': dict(lr_mult=1., decay_mult=0.)})))
        wrapper = constructor(model)
    assert isinstance(wrapper, DICMOptimWrapper) and isinstance(wrapper, OptimWrapper)
    tagged = [g for g in wrapper.optimizer.param_groups if g['aux']]
    assert len(tagged) == 2  # the RE's and the compression network's bottlenecks
    assert all(g['weight_decay'] == 0. for g in tagged)
    with pytest.raises(ValueError, match='mixes'):
        DICMOptimWrapperConstructor(dict(type='DICMOptimWrapper',
                                         optimizer=dict(type='SGD', lr=0.1)))(model)


def test_dicm_pretrained_loads_runner_checkpoints(tmp_path):
    """mmengine's Pretrained fails on a Runner checkpoint under torch >= 2.6 (message_hub);
    DICMPretrained loads it, with the backbone. prefix."""
    torch.manual_seed(1)
    source = DICMResNet(depth=18, out_indices=(3, ), codec=TINY_CODEC)
    hub = MessageHub.get_instance('test_dicm_pretrained')
    hub.update_scalar('train/loss', 1.)
    state = {'backbone.' + k: v for k, v in source.state_dict().items()}
    state['encoder_k.module.0.conv1.weight'] = torch.zeros(1)
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(meta=dict(epoch=1), state_dict=state, message_hub=hub.state_dict()), path)
    for init, ok in (('Pretrained', False), ('DICMPretrained', True)):
        torch.manual_seed(2)
        target = DICMResNet(depth=18, out_indices=(3, ), codec=TINY_CODEC,
                            init_cfg=dict(type=init, prefix='backbone.', checkpoint=path))
        if not ok:
            with pytest.raises(Exception, match='[Ww]eights only'):
                target.init_weights()
            continue
        target.init_weights()
        got = target.state_dict()
        for k, v in source.state_dict().items():
            assert torch.equal(got[k], v), k
