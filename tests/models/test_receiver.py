"""The receiver's feature swap (mmdicm.models.receiver): a backbone returns given features."""
import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import ResNet

from mmdicm.models import inject_backbone_features, predict_on_features


def test_inject_backbone_features_is_scoped():
    backbone = ResNet(depth=18)
    backbone.eval()  # (mmdet's ResNet.train returns None)
    feats = (torch.zeros(1, 64, 2, 2), )
    with inject_backbone_features(backbone, feats):
        assert backbone(torch.zeros(1, 3, 8, 8)) is feats
        with pytest.raises(RuntimeError, match='batch of 1'):
            backbone(torch.zeros(2, 3, 8, 8))
        with pytest.raises(RuntimeError, match='already has'):
            with inject_backbone_features(backbone, feats):
                pass
    assert 'forward' not in vars(backbone)
    with pytest.raises(KeyError):
        with inject_backbone_features(backbone, feats):
            raise KeyError('boom')
    assert 'forward' not in vars(backbone)
    assert len(backbone(torch.zeros(1, 3, 64, 64))) == 4  # the real forward again


class _Model(nn.Module):
    """Calls its backbone once, as an mmdet detector's ``predict`` does."""

    def __init__(self):
        super().__init__()
        self.backbone = ResNet(depth=18)

    def forward(self, inputs, data_samples, mode='tensor'):
        assert mode == 'predict'
        return [dict(inputs=inputs, feats=self.backbone(inputs), sample=s) for s in data_samples]


def test_predict_on_features_runs_on_a_placeholder_of_the_coded_size():
    model = _Model()
    feats = (torch.rand(1, 64, 3, 5), )
    out = predict_on_features(model, feats, ['sample'], (48, 80))
    assert len(out) == 1 and out[0]['feats'] is feats and out[0]['sample'] == 'sample'
    inputs = out[0]['inputs']
    assert inputs.shape == (1, 3, 48, 80) and not inputs.any()
    assert inputs.untyped_storage().nbytes() == 3 * 4  # one float per channel: no pixels
    assert 'forward' not in vars(model.backbone)


def test_the_older_names_are_this_function():
    import mmdicm.apis
    import mmdicm.apis.deploy
    import mmdicm.benchmarks
    assert mmdicm.apis.inject_backbone_features is inject_backbone_features
    assert mmdicm.apis.deploy.inject_backbone_features is inject_backbone_features
    assert mmdicm.benchmarks.backbone_returns is inject_backbone_features
