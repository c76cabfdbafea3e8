"""DICMMoCoV2 (registration, weighted contrastive term, contrastive-off mode, momentum buffers),
DICMResNet's kept features, and the heatmap drawing of the SSL stages."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.models.selfsup import MoCo
from mmpretrain.registry import MODELS

from mmdicm.models import DICMResNet
from mmdicm.models.selfsup.moco import DICMMoCoV2
from mmdicm.models.selfsup.visualize import draw_heatmap_grid, semantic_heatmaps

TINY_CODEC = dict(
    re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
    net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
             hyper_heads=2, gl_size=(8, 5)))


pytestmark = pytest.mark.usefixtures('one_thread_module')


def build(contrastive_weight=1., codec=None, frozen_parts=(), seed=0, type='DICMMoCoV2'):
    torch.manual_seed(seed)
    cfg = dict(
        type=type, queue_len=8, feat_dim=8, momentum=0.01,
        backbone=dict(type='DICMResNet', depth=18, out_indices=(3, ), codec=codec,
                      frozen_parts=frozen_parts),
        neck=dict(type='MoCoV2Neck', in_channels=512, hid_channels=16, out_channels=8),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.2))
    if type == 'DICMMoCoV2':
        cfg['contrastive_weight'] = contrastive_weight
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def views(n=4, size=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, size, size, generator=g) for _ in range(2)]


def test_registered_for_mmpretrain_configs_and_validated():
    model = build()
    assert isinstance(model, DICMMoCoV2) and isinstance(model, MoCo)
    assert isinstance(model.backbone, DICMResNet)
    for bad in (-1., float('nan'), True, '1'):
        with pytest.raises(ValueError, match='contrastive_weight'):
            build(contrastive_weight=bad)


def test_contrastive_term_is_mocos_loss_weighted():
    x = views()
    stock = build(type='MoCo')(x, None, mode='loss')['loss']
    for w in (1., 0.5):
        losses = build(contrastive_weight=w)(x, None, mode='loss')
        assert list(losses) == ['loss_contrastive']
        torch.testing.assert_close(losses['loss_contrastive'], w * stock)


def test_contrastive_off_runs_the_backbone_only_and_syncs_the_key_encoder():
    model = build(contrastive_weight=0., codec=TINY_CODEC)
    assert not any(p.requires_grad for p in model.neck.parameters())
    queue = model.queue.clone()
    with torch.no_grad():  # make the two encoders differ
        for p in model.backbone.parameters():
            p.add_(0.1)
    model.train()
    seen = []
    handle = model.encoder_k.register_forward_hook(lambda *a: seen.append(1))
    assert model([views()[0]], None, mode='loss') == {}
    handle.remove()
    assert not seen and torch.equal(model.queue, queue)  # no key, no queue update
    online = dict(model.backbone.named_parameters())
    for name, p in model.encoder_k.module[0].named_parameters():
        assert torch.equal(p, online[name]), name
    assert model.backbone.last_likelihoods  # what the rate hook reads


def test_momentum_copy_survives_entropy_table_updates():
    """update() resizes the CDF buffers of the online codec; the EMA copies buffers into the
    key encoder in place, which would fail on the size mismatch."""
    model = build(codec=TINY_CODEC)
    model.train()
    model.backbone.update(force=True)
    assert model.backbone.codec.re.entropy_bottleneck._quantized_cdf.numel() > 0
    losses = model(views(), None, mode='loss')
    assert torch.isfinite(losses['loss_contrastive'])
    k_cdf = model.encoder_k.module[0].codec.re.entropy_bottleneck._quantized_cdf
    assert torch.equal(k_cdf, model.backbone.codec.re.entropy_bottleneck._quantized_cdf)


def test_backbone_keeps_its_features_on_request():
    torch.manual_seed(0)
    model = DICMResNet(depth=18, out_indices=(1, 3), codec=TINY_CODEC).train()
    x = torch.rand(2, 3, 50, 70)    # padded to 64 x 128 inside
    outs = model(x)
    assert model.last_features == {}
    model.keep_features = True
    outs = model(x)
    feats = model.last_features
    assert set(feats) == {'f1', 'f2', 'f3', 'tail', 'image_size'}
    assert feats['image_size'] == (50, 70)
    assert feats['f1'].shape == feats['f2'].shape == feats['f3'].shape == (2, 64, 16, 32)
    assert [tuple(t.shape[-2:]) for t in feats['tail']] == [(7, 9), (4, 5), (2, 3)]
    assert outs[0] is feats['tail'][0] and outs[1] is feats['tail'][2]
    # forward_tail is the receiver side: f3 -> every tail stage, as in the forward
    model.eval()
    with torch.no_grad():
        outs = model(x)
        tail = model.forward_tail(model.last_features['f3'], (50, 70))
    for a, b in zip(tail, model.last_features['tail']):
        assert torch.equal(a, b)
    # real coding keeps no features (nothing to distort)
    model.update(force=True)
    model.real_coding = True
    with torch.no_grad():
        model(x)
    assert model.last_features == {}


def test_heatmaps_and_their_grid():
    torch.manual_seed(0)
    backbone = DICMResNet(depth=18, out_indices=(3, ), codec=None).train()
    inputs = torch.rand(3, 3, 64, 64)
    heatmaps, boxes = semantic_heatmaps(backbone, inputs, threshold=0.1)
    assert backbone.training  # mode restored
    assert heatmaps.shape == (3, 64, 64) and boxes.shape == (3, 4)
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    images = [np.zeros((64, 64, 3), np.uint8)] * 3
    fig = draw_heatmap_grid(images, heatmaps, boxes, titles=['a', 'b', 'c'])
    assert len(fig.axes) == 4  # 2 x 2 grid, the last tile empty
    with pytest.raises(ValueError, match='titles'):
        draw_heatmap_grid(images, heatmaps, boxes, titles=['a'])
    with pytest.raises(ValueError):
        draw_heatmap_grid(images[:2], heatmaps, boxes)
