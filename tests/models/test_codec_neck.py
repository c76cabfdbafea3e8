"""DICMCodecNeck in front of a stock FPN, built through the registry like a config does."""
import pytest
import torch
from mmengine.registry import DefaultScope

from mmdicm.models import DICMCodecNeck

TINY = dict(re=dict(hidden_channels=16, latent_channels=16, depths=(1, 1, 1)),
            net=dict(mid_channels=16, latent_channels=32, hyper_channels=16, hyper_dim=32,
                     hyper_heads=2, gl_size=(8, 5)))


def test_neck_list_with_stock_fpn_builds_and_runs():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        # a config's neck=[...] becomes an nn.Sequential (mmdet's two-stage detectors do this)
        neck = MODELS.build([
            dict(type='DICMCodecNeck', in_channels=64, level=0, codec=TINY),
            dict(type='FPN', in_channels=[64, 128], out_channels=32, num_outs=3)])
    assert isinstance(neck[0], DICMCodecNeck)
    feats = (torch.rand(2, 64, 25, 18), torch.rand(2, 128, 13, 9))
    outs = neck(feats)
    assert [o.shape[-2:] for o in outs] == [(25, 18), (13, 9), (7, 5)]
    assert set(neck[0].last_likelihoods) == {'re', 'y', 'z'}
    assert neck[0].last_num_pixels == 2 * 100 * 72


def test_only_the_chosen_level_changes():
    neck = DICMCodecNeck(in_channels=64, level=1, codec=TINY)
    feats = (torch.rand(1, 32, 32, 32), torch.rand(1, 64, 16, 16))
    outs = neck(feats)
    assert outs[0] is feats[0] and outs[1].shape == feats[1].shape
    assert not torch.equal(outs[1], feats[1])
    with pytest.raises(ValueError, match='level=1 but the backbone gave 1'):
        neck(feats[:1])


def test_bad_neck_arguments():
    with pytest.raises(ValueError, match='in_channels'):
        DICMCodecNeck(in_channels=0)
    with pytest.raises(ValueError, match='level'):
        DICMCodecNeck(in_channels=8, level=-1)
