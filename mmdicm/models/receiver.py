"""The receiver's feature swap: a stock detector or classifier runs on decoded features.

``tools/analyze.py`` (:mod:`mmdicm.apis.deploy`) and the pipeline benchmark
(:mod:`mmdicm.benchmarks`) both use it; see ``docs/deployment.md``."""
import contextlib
from typing import Any, Iterator, List, Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['inject_backbone_features', 'predict_on_features']


@contextlib.contextmanager
def inject_backbone_features(backbone: nn.Module,
                             features: Tuple[torch.Tensor, ...]) -> Iterator[None]:
    """Within the block, ``backbone(x)`` returns ``features`` instead of computing them.

    Lets a stock detector or classifier run its unchanged ``predict`` (neck, heads,
    post-processing) on features decoded from a bitstream: the input ``x`` is only checked
    for its batch size. The override is an instance attribute, removed on exit (also on
    error); the class and other instances are untouched.

    Example:
        >>> feats = deploy.backbone.decompress(container)               # doctest: +SKIP
        >>> with inject_backbone_features(deploy.backbone, feats):       # doctest: +SKIP
        ...     preds = deploy.model(placeholder, [sample], mode='predict')
    """
    if 'forward' in vars(backbone):
        raise RuntimeError('the backbone already has an instance-level forward override')
    batch = features[0].shape[0]

    def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> Tuple[torch.Tensor, ...]:
        if x.shape[0] != batch:
            raise RuntimeError(f'injected features are for a batch of {batch}, the model '
                               f'asked for {x.shape[0]}')
        return features

    backbone.forward = forward
    try:
        yield
    finally:
        del backbone.forward


def predict_on_features(model: nn.Module, features: Tuple[torch.Tensor, ...],
                        data_samples: Sequence[Any], image_size: Sequence[int]) -> List[Any]:
    """The stock ``model(inputs, data_samples, mode='predict')`` on decoded ``features``.

    ``inputs`` is a zero-memory placeholder of the coded size (``expand`` of a 1x1 tensor: no
    pixel is ever materialised); ``model.backbone`` returns ``features`` meanwhile. Any
    detector or classifier whose ``predict`` calls ``self.backbone`` once fits.

    Args:
        model (nn.Module): An mmdet detector or mmpretrain classifier.
        features (tuple[Tensor]): What ``model.backbone`` would return, e.g. from
            :meth:`DICMResNet.decompress`.
        data_samples (list): One per image, with the metainfo the preprocessor produced.
        image_size ((int, int)): The coded input's height and width.
    """
    h, w = image_size
    placeholder = features[0].new_zeros(1, 3, 1, 1).expand(len(data_samples), 3, h, w)
    with inject_backbone_features(model.backbone, features):
        return model(placeholder, list(data_samples), mode='predict')
