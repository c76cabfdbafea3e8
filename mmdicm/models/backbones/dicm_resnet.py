"""``DICMResNet``: a ResNet split by DICM's feature codec, for mmdet and mmpretrain alike.

Tang, Yi, Wang, "Towards Learned Image Compression for Multiple Semantic Analysis Tasks",
IEEE Transactions on Broadcasting, 2025::

    image ─ stem ─ layer1 ─►f1─ RE ─►f2─ g_a ─ y,z ═ rANS ═ g_s ─►f3─ layer2 ─ layer3 ─ layer4
            └────── head (edge device) ──────┘ bitstream └────── tail (receiver) ──────┘

The split is after ``split_stage`` (0 = layer1, the paper's). The outputs at ``out_indices``
are the tail's stage outputs; the output *at* the split stage is the decoded feature f3 (the
receiver never sees f1). Parameter names of stem and stages are ResNet's, so standard
torchvision/mmdet/mmpretrain checkpoints load unchanged; the codec lives under ``codec.``.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.backbones import ResNet
from mmengine.registry import MODELS

from ...codec import DICMBitstream, DICMFeatureCodec

__all__ = ['DICMResNet', 'DICMResNetV1d']

#: Parts of a DICMResNet, in data-flow order; 'net' is g_a + h_a + h_s + entropy + g_s.
PARTS = ('head', 're', 'g_a', 'h_a', 'h_s', 'entropy', 'g_s', 'net', 'tail')
#: Aliases: 'edge' is every part that decides the bits (what the edge device runs, plus the
#: hyper-decoder and entropy models both sides share); what a task stage freezes so that
#: every task model receives the same bitstream.
PART_GROUPS = {'edge': ('head', 're', 'g_a', 'h_a', 'h_s', 'entropy')}
#: 'entropy' is the entropy models of z and y: with ``entropy_model='context_mixture'`` the
#: latter is ``context_mixture`` (context model + parameter network, bit-deciding too)
_ENTROPY = ('entropy_bottleneck', 'gaussian_conditional', 'context_mixture')
_NET_PARTS = {'g_a': ('g_a', ), 'h_a': ('h_a', ), 'h_s': ('h_s', ), 'g_s': ('g_s', ),
              'entropy': _ENTROPY, 'net': ('g_a', 'h_a', 'h_s') + _ENTROPY + ('g_s', )}


@MODELS.register_module()
class DICMResNet(ResNet):
    """ResNet with DICM's RE module and compression network inserted after a stage.

    Registered in mmengine's root ``MODELS`` registry, so mmdet and mmpretrain configs both
    find it with ``custom_imports=dict(imports=['mmdicm'])``. All arguments of mmdet's
    :class:`~mmdet.models.backbones.ResNet` keep their meaning (``depth``, ``out_indices``,
    ``frozen_stages``, ``norm_eval``, ``init_cfg``, ...).

    Args:
        split_stage (int): Index of the stage after which the codec sits (0 = layer1).
            Defaults to 0.
        codec (dict, optional): :class:`~mmdicm.codec.DICMFeatureCodec` arguments (``re``,
            ``net``; ``re=None`` / ``net=None`` bypass a part). ``in_channels`` and
            ``input_stride`` follow from the split. None bypasses the whole codec (a plain
            ResNet, e.g. the uncompressed reference). Defaults to ``{}``.
        frozen_parts (Sequence[str]): Any of ``'head'`` (stem + stages up to the split),
            ``'re'``, the compression network's ``'g_a'``, ``'h_a'``, ``'h_s'``, ``'entropy'``
            (both entropy models, quantiles included, and the context model and parameter
            network of ``entropy_model='context_mixture'``), ``'g_s'`` or all of it (``'net'``),
            ``'tail'``, and ``'edge'`` (= head, re, g_a, h_a, h_s, entropy: every part that
            decides the bits, see :meth:`edge_fingerprint`): their parameters get
            ``requires_grad=False`` and they stay in eval mode. Defaults to ().
        real_coding (bool): In eval mode, run true rANS encode -> bytes -> decode, keeping the
            containers in :attr:`last_bitstreams` (accuracy on decoded features, size in real
            bytes). Defaults to False (eval uses the rounded-latent estimate, which decodes to
            the same features).
        **kwargs: mmdet ResNet arguments.

    Attributes:
        last_likelihoods (dict): Likelihoods (``re``, ``y``, ``z``) of the last forward that
            estimated them (training, or eval without real coding).
        keep_features (bool): When True (set by a loss hook that needs them, e.g.
            :class:`~mmdicm.engine.RateDistortionLossHook`), every forward without real
            coding keeps its intermediate features in :attr:`last_features`. Defaults to False.
        last_features (dict): With :attr:`keep_features`: ``f1`` (head output), ``f2`` (RE
            output), ``f3`` (codec output), each as computed on the padded input, ``tail``
            (every tail stage's output, cropped as the returned ones) and ``image_size``.
        last_num_pixels (int): B x H x W of the last input, for bits per pixel.
        last_bitstreams (list[bytes]): Containers of the last real-coding forward.

    Example:
        >>> import torch
        >>> from mmdicm.models import DICMResNet
        >>> model = DICMResNet(depth=18, out_indices=(0, 1, 2, 3), codec=dict(
        ...     re=dict(hidden_channels=16, latent_channels=16),
        ...     net=dict(mid_channels=16, latent_channels=32, hyper_channels=16,
        ...              hyper_dim=32, hyper_heads=2)))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 100, 70))]
        [(1, 64, 25, 18), (1, 128, 13, 9), (1, 256, 7, 5), (1, 512, 4, 3)]
    """

    def __init__(self,
                 depth: int,
                 split_stage: int = 0,
                 codec: Optional[Dict[str, Any]] = {},  # noqa: B006 (never mutated)
                 frozen_parts: Sequence[str] = (),
                 real_coding: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(depth, **kwargs)
        if isinstance(split_stage, bool) or not isinstance(split_stage, int) or not (
                0 <= split_stage < self.num_stages):
            raise ValueError(f'split_stage must be an int in [0, {self.num_stages - 1}] '
                             f'(num_stages={self.num_stages}), got {split_stage!r}')
        early = [i for i in self.out_indices if i < split_stage]
        if early:
            raise ValueError(f'out_indices {early} precede split_stage={split_stage}: the '
                             'receiver only has features from the split on')
        frozen_parts = tuple(frozen_parts)
        unknown = [p for p in frozen_parts if p not in PARTS and p not in PART_GROUPS]
        if unknown:
            raise ValueError(f'frozen_parts {unknown} unknown; choose from '
                             f'{PARTS + tuple(PART_GROUPS)}')
        if codec is not None and not isinstance(codec, dict):
            raise TypeError(f'codec must be a dict of DICMFeatureCodec arguments or None, '
                            f'got {codec!r}')

        self.split_stage = split_stage
        # stride of each stage's output: the stem (conv + max-pool) is 4
        self.stage_strides = [4 * math.prod(self.strides[:i + 1]) for i in range(self.num_stages)]
        channels = self.base_channels * 2**split_stage * self.block.expansion
        if codec is not None:
            for key, expected in (('in_channels', channels),
                                  ('input_stride', self.stage_strides[split_stage])):
                if key in codec and codec[key] != expected:
                    raise ValueError(f'codec.{key}={codec[key]} does not match the ResNet '
                                     f'split after stage {split_stage} ({key}={expected})')
            codec = {**codec, 'in_channels': channels,
                     'input_stride': self.stage_strides[split_stage]}
            self.codec = DICMFeatureCodec(**codec)
            self.pad_multiple = max(self.stage_strides[split_stage] * self.codec.stride,
                                    self.stage_strides[-1])
        else:
            self.codec = None
            self.pad_multiple = self.stage_strides[-1]
        self.frozen_parts = frozen_parts
        self.real_coding = real_coding
        self.last_likelihoods: Dict[str, torch.Tensor] = {}
        self.last_num_pixels = 0
        self.last_bitstreams: List[bytes] = []
        self.keep_features = False
        self.last_features: Dict[str, Any] = {}
        if self.codec is not None:  # the head decides the bits too: it is in the fingerprint
            self.codec.upstream_modules = tuple(self.part_modules('head'))
        self._freeze_parts()

    # ------------------------------------------------------------------ parts and freezing
    def part_modules(self, part: str) -> List[torch.nn.Module]:
        """Modules of a part of :data:`PARTS` or a group of :data:`PART_GROUPS` (empty if
        bypassed)."""
        if part in PART_GROUPS:
            return [m for p in PART_GROUPS[part] for m in self.part_modules(p)]
        if part not in PARTS:
            raise ValueError(f'part must be one of {PARTS + tuple(PART_GROUPS)}, got {part!r}')
        if part == 'head':
            stem = [self.stem] if self.deep_stem else [self.conv1, self.norm1]
            return stem + [getattr(self, n) for n in self.res_layers[:self.split_stage + 1]]
        if part == 'tail':
            return [getattr(self, n) for n in self.res_layers[self.split_stage + 1:]]
        if self.codec is None:
            return []
        if part == 're':
            return [] if self.codec.re is None else [self.codec.re]
        net = self.codec.net
        return [] if net is None else [getattr(net, name) for name in _NET_PARTS[part]
                                       if hasattr(net, name)]

    def edge_fingerprint(self) -> bytes:
        """16-byte digest of every weight that decides the bits (the ``'edge'`` parts: head,
        RE, g_a, h_a, h_s, entropy models) and of the codec's config: what every container
        this model writes carries, and what a receiver must match to decode it. Task models
        trained with ``frozen_parts=('edge', ...)`` on one edge share it."""
        return self._require_codec().fingerprint()

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
    def _stem_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.pad_multiple
        ph, pw = (-x.shape[-2]) % m, (-x.shape[-1]) % m
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x

    def _crop(self, x: torch.Tensor, image_size: Tuple[int, int], stage: int) -> torch.Tensor:
        """Crop a padded stage output to what the ResNet gives on the unpadded input."""
        s = self.stage_strides[stage]
        return x[..., :math.ceil(image_size[0] / s), :math.ceil(image_size[1] / s)]

    def forward_tail(self, x: torch.Tensor, image_size: Tuple[int, int]) -> List[torch.Tensor]:
        """Receiver side: split features (padded, e.g. f3) -> the output of *every* tail
        stage, cropped to what the ResNet gives on an ``image_size`` input."""
        outs = []
        for i in range(self.split_stage + 1, self.num_stages):
            x = getattr(self, self.res_layers[i])(x)
            outs.append(self._crop(x, image_size, i))
        return outs

    def _tail_forward(self, x: torch.Tensor, image_size: Tuple[int, int],
                      keep: bool = False) -> Tuple:
        outs = []
        if self.split_stage in self.out_indices:
            outs.append(self._crop(x, image_size, self.split_stage))
        stages = self.forward_tail(x, image_size)
        if keep:
            self.last_features['tail'] = stages
        outs += [s for i, s in enumerate(stages, self.split_stage + 1) if i in self.out_indices]
        return tuple(outs)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Edge side up to the split: the (padded) image -> f1."""
        x = self._stem_forward(self._pad(x))
        for name in self.res_layers[:self.split_stage + 1]:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Images (B, 3, H, W), any H and W -> tuple of stage outputs at ``out_indices``."""
        image_size = (x.shape[-2], x.shape[-1])
        f1 = self.forward_head(x)
        self.last_num_pixels = x.shape[0] * image_size[0] * image_size[1]
        self.last_features = {}
        if self.codec is None:
            f2 = f3 = f1
        elif self.real_coding and not self.training:
            self.last_bitstreams = self.codec.encode(f1, [image_size] * x.shape[0])
            f3 = self.codec.decode(self.last_bitstreams)[0]
            self.last_likelihoods = {}
            return self._tail_forward(f3, image_size)
        else:
            out = self.codec(f1)
            f2, f3 = out['f2'], out['f3']
            self.last_likelihoods = out['likelihoods']
        if self.keep_features:
            self.last_features = dict(f1=f1, f2=f2, f3=f3, image_size=image_size)
        return self._tail_forward(f3, image_size, keep=self.keep_features)

    # ------------------------------------------------------------------ real bitstreams
    def _require_codec(self) -> DICMFeatureCodec:
        if self.codec is None:
            raise RuntimeError('this DICMResNet has no codec (codec=None)')
        return self.codec

    @torch.no_grad()
    def compress(self, images: torch.Tensor) -> List[bytes]:
        """Edge device: images (B, 3, H, W) -> one container per image (no pixels kept).

        Call ``update(force=True)`` (or run the entropy-update hook) after training first.
        """
        codec = self._require_codec()
        image_size = (images.shape[-2], images.shape[-1])
        return codec.encode(self.forward_head(images), [image_size] * images.shape[0])

    @torch.no_grad()
    def decompress(self, data: Union[bytes, Sequence[Union[bytes, DICMBitstream]]]
                   ) -> Tuple[torch.Tensor, ...]:
        """Receiver: containers -> tail outputs at ``out_indices`` (no pixel reconstruction).

        All containers of one call must come from images of one size (a batch).
        """
        codec = self._require_codec()
        f3, streams = codec.decode(data)
        sizes = {s.image_size for s in streams}
        if len(sizes) != 1:
            raise ValueError(f'containers of one call must share an image size, got {sizes}')
        return self._tail_forward(f3, sizes.pop())

    def update(self, force: bool = False) -> bool:
        """Refresh the entropy tables (see :meth:`DICMFeatureCodec.update`)."""
        return False if self.codec is None else self.codec.update(force=force)


@MODELS.register_module()
class DICMResNetV1d(DICMResNet):
    """:class:`DICMResNet` with the ResNetV1d stem (three 3x3 convs) and average-pool
    down-sampling, as mmdet's ``ResNetV1d``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
