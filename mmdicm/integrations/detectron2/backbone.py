"""``DICMResNet`` for detectron2: detectron2's own ResNet split by DICM's feature codec.

Tang, Yi, Wang, "Towards Learned Image Compression for Multiple Semantic Analysis Tasks",
IEEE Transactions on Broadcasting, 2025::

    image ─ stem ─ res2 ─►f1─ RE ─►f2─ g_a ─ y,z ═ rANS ═ g_s ─►f3─ res3 ─ res4 ─ res5 ─► FPN
            └──── head (edge device) ────┘  bitstream  └────── tail (receiver) ──────┘

The same model as mmdicm's :class:`~mmdicm.models.DICMResNet` (the same
:class:`~mmdicm.codec.DICMFeatureCodec`, the same padding, cropping and container files), with
detectron2's parameter names (``stem.conv1``, ``res2.0.conv1.norm``, ``codec.*``): mmdicm
checkpoints load after :func:`~mmdicm.integrations.detectron2.convert_mmdicm_checkpoint`, and
containers written by ``tools/compress.py`` decode here to the same features.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool, LastLevelP6P7
from detectron2.modeling.backbone.resnet import ResNet, build_resnet_backbone

from ...codec import DICMBitstream, DICMFeatureCodec
from .config import codec_kwargs
from .keys import detectron2_to_mmdet_key, mmdet_key_order

__all__ = ['DICMResNet', 'build_dicm_resnet_backbone', 'build_dicm_resnet_fpn_backbone',
           'build_dicm_retinanet_resnet_fpn_backbone', 'PARTS', 'PART_GROUPS']

#: Parts of a DICMResNet, as in mmdicm's (``frozen_parts`` / ``MODEL.DICM.FROZEN_PARTS``)
PARTS = ('head', 're', 'g_a', 'h_a', 'h_s', 'entropy', 'g_s', 'net', 'tail')
#: 'edge': every part that decides the bits, what a task stage freezes
PART_GROUPS = {'edge': ('head', 're', 'g_a', 'h_a', 'h_s', 'entropy')}
_ENTROPY = ('entropy_bottleneck', 'gaussian_conditional', 'context_mixture')
_NET_PARTS = {'g_a': ('g_a', ), 'h_a': ('h_a', ), 'h_s': ('h_s', ), 'g_s': ('g_s', ),
              'entropy': _ENTROPY, 'net': ('g_a', 'h_a', 'h_s') + _ENTROPY + ('g_s', )}


class _MMDetNamedState(nn.Module):
    """The head's tensors under mmdet's names and in mmdet's order, for the codec's fingerprint
    (:attr:`DICMFeatureCodec.upstream_modules`): mmdicm's ``DICMResNet`` hashes its
    ``conv1``, ``bn1`` and ``layer1`` state dicts, so this one hashes the same names and
    tensors and the two backbones' containers are interchangeable. Not a submodule: it owns
    nothing and holds the backbone through a plain list."""

    def __init__(self, backbone: 'DICMResNet', prefix: str) -> None:
        super().__init__()
        self._backbone = [backbone]
        self._prefix = prefix  # 'stem.conv1.weight' / 'stem.conv1.norm.' / 'res2.'

    def state_dict(self, *args: Any, keep_vars: bool = False, **kwargs: Any) -> Dict:
        full = self._backbone[0].state_dict(keep_vars=keep_vars)
        items = {}
        for key, tensor in full.items():
            if key == self._prefix or (self._prefix.endswith('.') and
                                       key.startswith(self._prefix)):
                items[detectron2_to_mmdet_key(key)] = tensor
        # mmdet's module names: conv1 -> 'weight'; bn1 -> '<bn>'; layer1 -> '0.conv1.weight'
        if self._prefix == 'stem.conv1.weight':
            return {'weight': items['conv1.weight']}
        if self._prefix == 'stem.conv1.norm.':
            return {k[len('bn1.'):]: v for k, v in items.items()}
        stage = self._prefix.rstrip('.')
        layer = f'layer{int(stage[3:]) - 1}.'
        return {k[len(layer):]: items[k] for k in mmdet_key_order(items)}


class DICMResNet(Backbone):
    """detectron2's :class:`~detectron2.modeling.backbone.resnet.ResNet` with DICM's RE module
    and compression network between ``split_at`` and the next stage.

    It adopts the stem and stages of a built ResNet (so they keep detectron2's names, norms and
    freezing), and behaves like mmdicm's ``DICMResNet``: inputs are padded to the codec's total
    stride inside and outputs cropped back; in training (and eval without real coding) the
    likelihoods of the last forward are kept for the rate loss; with ``real_coding`` eval runs
    true rANS encode -> bytes -> decode.

    Args:
        resnet (ResNet): A detectron2 ResNet (``build_resnet_backbone``), pytorch style
            (``STRIDE_IN_1X1=False``) to share weights with mmdicm.
        codec (dict, optional): :class:`~mmdicm.codec.DICMFeatureCodec` arguments;
            ``in_channels``/``input_stride`` follow from the split. None: no codec (a plain
            ResNet, the uncompressed reference). Defaults to ``{}``.
        split_at (str): The stage after which the codec sits. Defaults to ``'res2'`` (the
            paper's split, after layer1).
        frozen_parts (Sequence[str]): Parts of :data:`PARTS` / :data:`PART_GROUPS` kept in eval
            mode without gradients, as mmdicm's ``frozen_parts``. Defaults to ().
        real_coding (bool): In eval mode, code real bitstreams (kept in
            :attr:`last_bitstreams`). Defaults to False.

    Attributes:
        last_likelihoods (dict): ``re``, ``y``, ``z`` likelihoods of the last estimating forward.
        last_num_pixels (int): B x H x W of the last input (bits per pixel).
        last_bitstreams (list[bytes]): Containers of the last real-coding forward.
    """

    def __init__(self,
                 resnet: ResNet,
                 codec: Optional[Dict[str, Any]] = {},  # noqa: B006 (never mutated)
                 split_at: str = 'res2',
                 frozen_parts: Sequence[str] = (),
                 real_coding: bool = False) -> None:
        super().__init__()
        if not isinstance(resnet, ResNet):
            raise TypeError(f'resnet must be a detectron2 ResNet, got {type(resnet).__name__}')
        if getattr(resnet, 'num_classes', None) is not None:
            raise ValueError('resnet must have no classifier (num_classes=None)')
        if split_at not in resnet.stage_names:
            raise ValueError(f'split_at must be one of the ResNet stages {resnet.stage_names}, '
                             f'got {split_at!r}')
        early = [f for f in resnet._out_features
                 if f == 'stem' or (f in resnet.stage_names and
                                    resnet.stage_names.index(f) <
                                    resnet.stage_names.index(split_at))]
        if early:
            raise ValueError(f'out_features {early} precede split_at={split_at!r}: the receiver '
                             'only has features from the split on')
        frozen_parts = tuple(frozen_parts)
        unknown = [p for p in frozen_parts if p not in PARTS and p not in PART_GROUPS]
        if unknown:
            raise ValueError(f'frozen_parts {unknown} unknown; choose from '
                             f'{PARTS + tuple(PART_GROUPS)}')
        if codec is not None and not isinstance(codec, dict):
            raise TypeError(f'codec must be a dict of DICMFeatureCodec arguments or None, '
                            f'got {codec!r}')
        self.stem = resnet.stem
        self.stage_names = tuple(resnet.stage_names)
        for name in self.stage_names:
            self.add_module(name, getattr(resnet, name))
        self._out_features = list(resnet._out_features)
        self._out_feature_channels = dict(resnet._out_feature_channels)
        self._out_feature_strides = dict(resnet._out_feature_strides)
        self.split_at = split_at
        self.head_stages = self.stage_names[:self.stage_names.index(split_at) + 1]
        self.tail_stages = self.stage_names[len(self.head_stages):]
        _add_batch_counters(self)

        channels = self._out_feature_channels[split_at]
        stride = self._out_feature_strides[split_at]
        if codec is not None:
            for key, expected in (('in_channels', channels), ('input_stride', stride)):
                if key in codec and codec[key] != expected:
                    raise ValueError(f'codec.{key}={codec[key]} does not match the ResNet split '
                                     f'after {split_at} ({key}={expected})')
            self.codec = DICMFeatureCodec(**{**codec, 'in_channels': channels,
                                             'input_stride': stride})
            self.pad_multiple = max(stride * self.codec.stride, self._last_stride())
            # the head decides the bits: the fingerprint hashes it under mmdet's names
            self.codec.upstream_modules = tuple(
                _MMDetNamedState(self, p)
                for p in ('stem.conv1.weight', 'stem.conv1.norm.') +
                tuple(f'{s}.' for s in self.head_stages))
        else:
            self.codec = None
            self.pad_multiple = self._last_stride()
        self.frozen_parts = frozen_parts
        self.real_coding = real_coding
        self.last_likelihoods: Dict[str, torch.Tensor] = {}
        self.last_num_pixels = 0
        self.last_bitstreams: List[bytes] = []
        self._freeze_parts()

    def _last_stride(self) -> int:
        return self._out_feature_strides[self.stage_names[-1]]

    # ------------------------------------------------------------------ parts and freezing
    def part_modules(self, part: str) -> List[nn.Module]:
        """Modules of a part of :data:`PARTS` or a group of :data:`PART_GROUPS`."""
        if part in PART_GROUPS:
            return [m for p in PART_GROUPS[part] for m in self.part_modules(p)]
        if part not in PARTS:
            raise ValueError(f'part must be one of {PARTS + tuple(PART_GROUPS)}, got {part!r}')
        if part == 'head':
            return [self.stem] + [getattr(self, n) for n in self.head_stages]
        if part == 'tail':
            return [getattr(self, n) for n in self.tail_stages]
        if self.codec is None:
            return []
        if part == 're':
            return [] if self.codec.re is None else [self.codec.re]
        net = self.codec.net
        return [] if net is None else [getattr(net, n) for n in _NET_PARTS[part]
                                       if hasattr(net, n)]

    def _freeze_parts(self) -> None:
        for part in self.frozen_parts:
            for m in self.part_modules(part):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True) -> 'DICMResNet':
        super().train(mode)
        self._freeze_parts()
        return self

    # ------------------------------------------------------------------ forward
    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {name: ShapeSpec(channels=self._out_feature_channels[name],
                                stride=self._out_feature_strides[name])
                for name in self._out_features}

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.pad_multiple
        ph, pw = (-x.shape[-2]) % m, (-x.shape[-1]) % m
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x

    def _crop(self, x: torch.Tensor, image_size: Tuple[int, int], name: str) -> torch.Tensor:
        s = self._out_feature_strides[name]
        return x[..., :math.ceil(image_size[0] / s), :math.ceil(image_size[1] / s)]

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Edge side up to the split: images (padded here) -> f1."""
        x = self.stem(self._pad(x))
        for name in self.head_stages:
            x = getattr(self, name)(x)
        return x

    def forward_tail(self, x: torch.Tensor, image_size: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        """Receiver side: split features (padded, e.g. f3) -> the ``out_features`` dict,
        cropped to what the ResNet gives on an ``image_size`` input."""
        outs = {}
        if self.split_at in self._out_features:
            outs[self.split_at] = self._crop(x, image_size, self.split_at)
        for name in self.tail_stages:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outs[name] = self._crop(x, image_size, name)
        return outs

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Images (B, C, H, W), any H and W -> dict of the ``out_features``."""
        image_size = (x.shape[-2], x.shape[-1])
        f1 = self.forward_head(x)
        self.last_num_pixels = x.shape[0] * image_size[0] * image_size[1]
        if self.codec is None:
            f3 = f1
        elif self.real_coding and not self.training:
            self.last_bitstreams = self.codec.encode(f1, [image_size] * x.shape[0])
            f3 = self.codec.decode(self.last_bitstreams)[0]
            self.last_likelihoods = {}
        else:
            out = self.codec(f1)
            f3 = out['f3']
            self.last_likelihoods = out['likelihoods']
        return self.forward_tail(f3, image_size)

    # ------------------------------------------------------------------ real bitstreams
    def _require_codec(self) -> DICMFeatureCodec:
        if self.codec is None:
            raise RuntimeError('this DICMResNet has no codec (codec=None)')
        return self.codec

    @torch.no_grad()
    def compress(self, images: torch.Tensor) -> List[bytes]:
        """Edge device: normalised images (B, C, H, W) -> one container per image.
        Call :meth:`update` after training or loading first."""
        codec = self._require_codec()
        image_size = (images.shape[-2], images.shape[-1])
        return codec.encode(self.forward_head(images), [image_size] * images.shape[0])

    @torch.no_grad()
    def decompress(self, data: Union[bytes, Sequence[Union[bytes, DICMBitstream]]]
                   ) -> Dict[str, torch.Tensor]:
        """Receiver: containers (of images of one size) -> the ``out_features`` dict."""
        f3, streams = self._require_codec().decode(data)
        sizes = {s.image_size for s in streams}
        if len(sizes) != 1:
            raise ValueError(f'containers of one call must share an image size, got {sizes}')
        return self.forward_tail(f3, sizes.pop())

    def update(self, force: bool = False) -> bool:
        """Refresh the entropy tables (before real coding, evaluation and saving)."""
        return False if self.codec is None else self.codec.update(force=force)

    def edge_fingerprint(self) -> bytes:
        """The 16-byte digest every container of this model carries (head, RE, g_a, h_a, h_s,
        entropy models): the same as mmdicm's ``DICMResNet`` with the same weights."""
        return self._require_codec().fingerprint()


def _add_batch_counters(module: nn.Module) -> None:
    """Give every FrozenBatchNorm2d a ``num_batches_tracked`` buffer (BatchNorm's counter,
    unused by the forward). mmdicm's BatchNorm head has one, its value is hashed into the edge
    fingerprint, and with it an mmdicm checkpoint maps key for key (nothing unexpected)."""
    for m in module.modules():
        if isinstance(m, FrozenBatchNorm2d) and 'num_batches_tracked' not in m._buffers:
            m.register_buffer('num_batches_tracked', torch.tensor(0, dtype=torch.long))


@BACKBONE_REGISTRY.register()
def build_dicm_resnet_backbone(cfg, input_shape: ShapeSpec) -> DICMResNet:
    """detectron2's ``build_resnet_backbone`` split by DICM (``cfg.MODEL.DICM``; add it with
    :func:`~mmdicm.integrations.detectron2.add_dicm_config`)."""
    codec = codec_kwargs(cfg)  # first: says so if add_dicm_config was not called
    if cfg.MODEL.RESNETS.DEPTH >= 50 and cfg.MODEL.RESNETS.STRIDE_IN_1X1:
        raise ValueError('MODEL.RESNETS.STRIDE_IN_1X1 must be False for DICM: mmdicm\'s ResNets '
                         'are pytorch style (stride in the 3x3 conv), so are their checkpoints')
    dicm = cfg.MODEL.DICM
    return DICMResNet(build_resnet_backbone(cfg, input_shape), codec=codec,
                      split_at=dicm.SPLIT_AT, frozen_parts=tuple(dicm.FROZEN_PARTS),
                      real_coding=bool(dicm.REAL_CODING))


@BACKBONE_REGISTRY.register()
def build_dicm_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """detectron2's ``build_resnet_fpn_backbone`` with :class:`DICMResNet` as its bottom-up."""
    bottom_up = build_dicm_resnet_backbone(cfg, input_shape)
    return FPN(bottom_up=bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES,
               out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM,
               top_block=LastLevelMaxPool(), fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


@BACKBONE_REGISTRY.register()
def build_dicm_retinanet_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """detectron2's ``build_retinanet_resnet_fpn_backbone`` (P3-P7) on :class:`DICMResNet`."""
    bottom_up = build_dicm_resnet_backbone(cfg, input_shape)
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    in_channels_p6p7 = bottom_up.output_shape()['res5'].channels
    return FPN(bottom_up=bottom_up, in_features=cfg.MODEL.FPN.IN_FEATURES,
               out_channels=out_channels, norm=cfg.MODEL.FPN.NORM,
               top_block=LastLevelP6P7(in_channels_p6p7, out_channels),
               fuse_type=cfg.MODEL.FPN.FUSE_TYPE)
