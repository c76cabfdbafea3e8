"""DICM's compression network: a hyperprior VAE on ResNet features (a CompressAI model).

Tang, Yi, Wang, "Towards Learned Image Compression for Multiple Semantic Analysis Tasks",
IEEE Transactions on Broadcasting, 2025: HorNet (recursive gated convolution) analysis and
synthesis transforms, Transformer hyper-transforms, CompressAI's entropy coding. Two entropy
models of y, chosen by ``entropy_model``: ``'hyperprior'`` (a Gaussian from h_s) and
``'context_mixture'`` (the release's: a Gaussian mixture from h_s and a Transformer context
model, coded in two checkerboard passes; :mod:`~mmdicm.codec.context_mixture`). Outside
training every network that decides a CDF runs in float64 and its outputs are snapped to a
2**-8 grid, so encoder and decoder agree on every CPU and thread count (``docs/codec.md``).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.layers import subpel_conv3x3
from compressai.models import CompressionModel
from compressai.models.utils import conv, deconv
from timm.layers import LayerNorm2d
from torch.func import functional_call

from ..layers import HorBlock, RelPosTransformer, ViTBlock
from ..utils import check_int
from .context_mixture import PARAM_GRID_BITS, CheckerboardMixtureCodec, Float64Weights
from .entropy import EntropyBottleneck, GaussianConditional, resize_entropy_buffers_on_load

__all__ = ['DICMCompressionNet', 'ENTROPY_MODELS', 'HYPER_CODERS', 'SHAPE_FREE_OPTIONS']

#: values of ``DICMCompressionNet(entropy_model=...)``
ENTROPY_MODELS = ('hyperprior', 'context_mixture')
#: values of ``DICMCompressionNet(hyper_coder=...)``
HYPER_CODERS = ('vit', 'release')
#: the release's hyper-coder stages, at y's, y/2's and z's resolution: (position radius,
#: top-k keys); ``TransHyperScale``: buckets 7 / 5 / 5 wide, top-k 32 / 16 / 8
RELEASE_HYPER_STAGES = ((3, 32), (2, 16), (2, 8))


def _triple(name: str, value, cast) -> Tuple:
    value = tuple(value)
    if len(value) != 3:
        raise ValueError(f'{name} must have one entry per stage (3), got {value!r}')
    return tuple(cast(v) for v in value)


class _LeakyDeconv(nn.ConvTranspose2d):
    """A transposed conv followed by LeakyReLU, with the conv's parameter names."""

    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        return F.leaky_relu(super().forward(x, output_size), inplace=True)


#: Architecture options that change what the network computes but no parameter's name or
#: shape, in the order of the int64 buffer ``shape_free_options`` that carries them into
#: every checkpoint (``gnconv_scale`` in millionths); append only. Without it a checkpoint
#: trained at ``latent_stride=2`` loaded silently into a stride-4 network and coded garbage.
SHAPE_FREE_OPTIONS = ('latent_stride', 'hyper_heads', 'latent_leaky_relu', 'gnconv_scale')
#: how each option is stored as an int, and read back
_OPTION_CODING = dict(latent_leaky_relu=(int, bool),
                      gnconv_scale=(lambda v: round(v * 1e6), lambda v: v / 1e6))


def _shape_free_buffer(**options: Any) -> torch.Tensor:
    """The ``shape_free_options`` buffer of these option values."""
    return torch.tensor([_OPTION_CODING.get(k, (int, int))[0](options[k])
                         for k in SHAPE_FREE_OPTIONS], dtype=torch.int64)


def _shape_free_values(buffer: torch.Tensor) -> Dict[str, Any]:
    """``{option: value}`` of a ``shape_free_options`` buffer (as many as it holds)."""
    return {name: _OPTION_CODING.get(name, (int, int))[1](int(v))
            for name, v in zip(SHAPE_FREE_OPTIONS, buffer.flatten().tolist())}


def _check_shape_free_options(net: 'DICMCompressionNet', state_dict: dict, prefix: str) -> None:
    """Refuse a checkpoint whose ``shape_free_options`` differ from the network's; one from
    before the buffer existed (2026-12-05) is taken as built like this network, as then."""
    key = prefix + 'shape_free_options'
    mine = net.shape_free_options
    theirs = state_dict.get(key)
    if theirs is not None:
        if not isinstance(theirs, torch.Tensor) or theirs.dim() != 1 or \
                theirs.dtype.is_floating_point or theirs.is_complex():
            raise ValueError(f'checkpoint\'s {key} is not a 1-d integer tensor: {theirs!r}')
        ours = _shape_free_values(mine)
        for name, value in _shape_free_values(theirs).items():
            if value != ours[name]:
                raise ValueError(
                    f'checkpoint was trained with {name}={value!r} but the network was built '
                    f'with {name}={ours[name]!r}: the weights would load and compute '
                    f'something else; set {name}={value!r} in the codec config to load it')
    # ours, so a shorter buffer (from before an option was appended) or none loads
    state_dict[key] = mine.detach().clone()


def _check_layout_on_load(net: 'DICMCompressionNet', state_dict: dict, prefix: str,
                          *args: Any) -> None:
    """Refuse, in one line, a checkpoint of the other entropy model (or another K), or one
    built with other :data:`SHAPE_FREE_OPTIONS`: loaded with ``strict=False`` (mmengine's
    default) the first would silently leave the entropy model of y half random, and the
    second loads even with ``strict=True``."""
    if not any(k.startswith(prefix + 'g_a.') for k in state_dict):
        return  # nothing of this network in it (a plain ResNet checkpoint, a partial load)

    def has(part: str) -> bool:
        return any(k.startswith(prefix + part) for k in state_dict)

    layout = {}
    if has('h_a.'):
        layout['hyper_coder'] = 'release' if has('h_a.1.rel_emb') else 'vit'
    if has('g_s.'):
        layout['synthesis_full_res_block'] = has('g_s.6.')
    # g_a.0 is the full-resolution HorNet block, or (without it) the first conv
    layout['analysis_full_res_block'] = prefix + 'g_a.0.weight' not in state_dict
    built = dict(hyper_coder=net.config.get('hyper_coder', 'vit'),
                 synthesis_full_res_block=net.config['synthesis_full_res_block'],
                 analysis_full_res_block=net.config.get('analysis_full_res_block', True))
    for key, value in layout.items():
        if built[key] != value:
            raise ValueError(f'checkpoint has {key}={value!r} weights but the network was built '
                             f'with {key}={built[key]!r}; set {key}={value!r} in the codec '
                             "config (or the codec's preset that has it) to load it")
    theirs = ('context_mixture' if any(k.startswith(prefix + 'context_mixture.')
                                       for k in state_dict) else 'hyperprior')
    if theirs != net.entropy_model:
        raise ValueError(f'checkpoint has entropy_model={theirs!r} weights but the network was '
                         f'built with entropy_model={net.entropy_model!r}; set '
                         f'entropy_model={theirs!r} in the codec config to load it')
    key = prefix + 'context_mixture.param_net.2.weight'
    if key in state_dict:
        mine = net.context_mixture.param_net[2].weight.shape
        theirs_shape = tuple(state_dict[key].shape)
        if theirs_shape[0] != mine[0]:
            raise ValueError(f'checkpoint\'s mixture parameter network outputs '
                             f'{theirs_shape[0]} channels, this network {mine[0]}: '
                             'mixture_components (or latent_channels) differ')
        if theirs_shape[1:2] != tuple(mine[1:2]):
            raise ValueError(f'checkpoint\'s mixture parameter network (param_net) is '
                             f'{theirs_shape[1]} wide, this network {mine[1]}: set '
                             f'context.param_hidden={theirs_shape[1]} in the codec config')
    # last: a checkpoint of another layout is told as such, not by its options
    _check_shape_free_options(net, state_dict, prefix)


class DICMCompressionNet(CompressionModel):
    """Hyperprior compression network of DICM, a :class:`compressai.models.CompressionModel`.

    .. code-block:: none

        f2 ─ g_a ─► y ─ h_a ─► z ─ Q, EntropyBottleneck ─► z_hat ─ h_s ─► (scales, means)
                    └─ Q, GaussianConditional(scales, means) ─► y_hat ─ g_s ─► f3

    With ``entropy_model='context_mixture'`` h_s outputs features instead, and y is coded by
    :class:`~mmdicm.codec.context_mixture.CheckerboardMixtureCodec` (``context_mixture``):
    a Gaussian mixture from h_s and a Transformer context model, two checkerboard passes.
    Widths and blocks of each transform, and both entropy models: ``docs/codec.md``.

    Args:
        in_channels (int): Channels of the feature to compress (f2) and of the output (f3).
            Defaults to 256.
        mid_channels (int): Width after the first down-scaling. Defaults to 128.
        latent_channels (int): Channels of y (M). Defaults to 192.
        hyper_channels (int): Channels of z (N). Defaults to 192.
        orders (Sequence[int]): gnConv orders of the three HorNet stages (in, mid, latent
            width). Defaults to (2, 3, 4).
        global_local (Sequence[bool]): Use HorNet's global-local filter in each stage.
            Defaults to (False, False, True).
        mlp_ratios (Sequence[float]): HorNet block MLP ratios per stage. The full-resolution
            stage (H/4, 256 ch) dominates the decoder's cost (12 GFLOPs of 28 at 512x512 even
            with ratio 1), so it gets a bottleneck MLP. Defaults to (0.5, 4, 4).
        gl_size (Sequence[int]): Spectral size ``(h, w)`` of the global filters, matching the
            training crop (256 px -> 32x32 maps -> (32, 17)). Defaults to (32, 17).
        gnconv_scale (float): gnConv scale s. Defaults to 1/3.
        hyper_dim (int): Width of the hyper-transforms' Transformer blocks. Defaults to 384.
        hyper_heads (int): Attention heads. Defaults to 6.
        hyper_mlp_ratio (float): Transformer MLP ratio. Defaults to 4.0.
        synthesis_full_res_block (bool): End g_s with LeakyReLU + a HorNet block at full
            feature resolution, mirroring g_a exactly. That block is ~55 % of g_s's time
            (10 of 28 decoder GFLOPs at 512x512) and the backbone tail's layer2 follows
            directly, so by default g_s ends with its last up-scaling. Defaults to False.
        analysis_full_res_block (bool): Start g_a with a HorNet block at full feature
            resolution (the paper's and the release's g_a). Without it g_a starts with its
            first down-scaling and mirrors the default g_s block for block: that block is
            10.3 of g_a's 20 GFLOPs at 512x512 at the DICM-S widths (the ``'s'`` preset).
            Checkpoints with and without it do not load into each other. Defaults to True.
        outer_kernel_size (int): Kernel of g_a's first down-scaling and g_s's last
            up-scaling, the two convs at full feature resolution (5 in the paper's layout;
            3 costs 9/25 of 5: 5.0 -> 1.8 GFLOPs each at 512x512 and 96 mid channels).
            Defaults to 5.
        latent_stride (int): Down-scaling from the input feature to y: 4 (the paper's and
            the release's two stride-2 convs: y at 1/16 of the image after ResNet's
            layer1), or 2 (g_a's last conv and g_s's first up-scaling keep the resolution:
            y at 1/8 of the image, four times the positions; z follows at ``y / 4``). The
            parameters keep their names and shapes, but weights trained at one stride are
            not a codec at the other, so the value is part of the fingerprint. Defaults
            to 4.
        drop_path (Sequence[float]): Stochastic-depth rate of the HorNet blocks per stage
            (g_a's and, mirrored, g_s's); training only. The release: (0, 0.25, 0.5).
            Defaults to (0, 0, 0).
        latent_leaky_relu (bool): A LeakyReLU after g_a's last down-scaling (on y) and after
            g_s's first up-scaling, as the release's encoder and decoder have. Defaults to
            False.
        hyper_coder (str): ``'vit'``: two timm ViT blocks per side (at y/2 and z's
            resolution), no position information. ``'release'``: the release's
            ``TransHyperScale``, one Transformer block at each of y's, y/2's and z's
            resolution per side, with contextual relative position and top-k attention
            (:class:`~mmdicm.layers.RelPosTransformer`, :data:`RELEASE_HYPER_STAGES`),
            token projections in and out (h_a ends with LayerNorm + Linear). Checkpoints of
            one do not load into the other. Defaults to ``'vit'``.
        entropy_model (str): ``'hyperprior'`` (mean-scale Gaussian from h_s) or
            ``'context_mixture'`` (the release's mixture + context model). Checkpoints of
            one do not load into the other. Defaults to ``'hyperprior'``.
        mixture_components (int): K of ``'context_mixture'``. Defaults to 3 (the release's
            training script uses 1: ``--K 1 --num_parameter 2``).
        context (dict, optional): Context-model arguments of ``'context_mixture'``
            (:class:`~mmdicm.layers.MaskedContextTransformer`), and ``param_hidden``: the
            hidden width of the parameter network after it (default ``4 * hyper_dim``; at
            DICM-S's widths that network, not the context model, is most of the entropy
            model's GFLOPs: ``docs/dicm-s.md``). Defaults to the release's.
        context_mask_ratio (float): Fraction of y hidden from the context model in training
            (``'context_mixture'``). Defaults to 0.5.

    Example:
        >>> import torch
        >>> net = DICMCompressionNet(in_channels=32, mid_channels=16, latent_channels=16,
        ...                          hyper_channels=16, hyper_dim=32, hyper_heads=2)
        >>> out = net(torch.rand(1, 32, 64, 48))
        >>> out['x_hat'].shape, out['likelihoods']['y'].shape, out['likelihoods']['z'].shape
        (torch.Size([1, 32, 64, 48]), torch.Size([1, 16, 16, 12]), torch.Size([1, 16, 4, 3]))
    """

    #: total down-scaling from the input feature to z (``4 * latent_stride``)
    stride = 16

    def __init__(self,
                 in_channels: int = 256,
                 mid_channels: int = 128,
                 latent_channels: int = 192,
                 hyper_channels: int = 192,
                 orders: Sequence[int] = (2, 3, 4),
                 global_local: Sequence[bool] = (False, False, True),
                 mlp_ratios: Sequence[float] = (0.5, 4.0, 4.0),
                 gl_size: Sequence[int] = (32, 17),
                 gnconv_scale: float = 1.0 / 3.0,
                 hyper_dim: int = 384,
                 hyper_heads: int = 6,
                 hyper_mlp_ratio: float = 4.0,
                 synthesis_full_res_block: bool = False,
                 analysis_full_res_block: bool = True,
                 outer_kernel_size: int = 5,
                 latent_stride: int = 4,
                 drop_path: Sequence[float] = (0.0, 0.0, 0.0),
                 latent_leaky_relu: bool = False,
                 hyper_coder: str = 'vit',
                 entropy_model: str = 'hyperprior',
                 mixture_components: int = 3,
                 context: Optional[Dict[str, Any]] = None,
                 context_mask_ratio: float = 0.5) -> None:
        super().__init__()
        if entropy_model not in ENTROPY_MODELS:
            raise ValueError(f'entropy_model must be one of {ENTROPY_MODELS}, got '
                             f'{entropy_model!r}')
        if hyper_coder not in HYPER_CODERS:
            raise ValueError(f'hyper_coder must be one of {HYPER_CODERS}, got {hyper_coder!r}')
        self.entropy_model = entropy_model
        for name, value in (('in_channels', in_channels), ('mid_channels', mid_channels),
                            ('latent_channels', latent_channels),
                            ('hyper_channels', hyper_channels), ('hyper_dim', hyper_dim),
                            ('hyper_heads', hyper_heads)):
            check_int(name, value)
        orders = _triple('orders', orders, int)
        global_local = _triple('global_local', global_local, bool)
        mlp_ratios = _triple('mlp_ratios', mlp_ratios, float)
        drop_path = _triple('drop_path', drop_path, float)
        widths = (in_channels, mid_channels, latent_channels)
        M, N, D = latent_channels, hyper_channels, hyper_dim

        def hor(stage: int) -> HorBlock:
            return HorBlock(widths[stage], order=orders[stage], scale=gnconv_scale,
                            global_local=global_local[stage], gl_size=tuple(gl_size),
                            mlp_ratio=mlp_ratios[stage], drop_path=drop_path[stage])

        check_int('outer_kernel_size', outer_kernel_size)
        if not isinstance(analysis_full_res_block, bool):
            raise TypeError('analysis_full_res_block must be True or False, got '
                            f'{analysis_full_res_block!r}')
        k = outer_kernel_size
        if latent_stride not in (2, 4):
            raise ValueError(f'latent_stride must be 2 or 4, got {latent_stride!r}')
        last = latent_stride // 2  # stride of g_a's last conv and g_s's first up-scaling
        self.stride = 4 * latent_stride
        # the release's LeakyReLU on y (appended: g_a's indices stay) and after g_s's first
        # up-scaling (inside that layer: g_s's indices, so checkpoint keys, stay)
        g_a_end = [nn.LeakyReLU(inplace=True)] if latent_leaky_relu else []
        g_a_start = [hor(0)] if analysis_full_res_block else []
        self.g_a = nn.Sequential(
            *g_a_start, conv(in_channels, mid_channels, k, stride=2), nn.LeakyReLU(inplace=True),
            hor(1), conv(mid_channels, M, 3, stride=1),
            hor(2), conv(M, M, 5, stride=last), *g_a_end)
        first_up = _LeakyDeconv if latent_leaky_relu else nn.ConvTranspose2d
        g_s = [first_up(M, M, 5, stride=last, padding=2, output_padding=last - 1), hor(2),
               conv(M, mid_channels, 3, stride=1), hor(1),
               deconv(mid_channels, in_channels, k, stride=2)]
        if synthesis_full_res_block:
            g_s += [nn.LeakyReLU(inplace=True), hor(0)]
        self.g_s = nn.Sequential(*g_s)
        hyper_out = 2 * M if entropy_model == 'hyperprior' else D
        if hyper_coder == 'vit':
            self.h_a, self.h_s = self._vit_hyper_coder(M, N, D, hyper_heads, hyper_mlp_ratio,
                                                       hyper_out)
        else:
            self.h_a, self.h_s = self._release_hyper_coder(M, N, D, hyper_heads,
                                                           hyper_mlp_ratio, hyper_out,
                                                           entropy_model == 'hyperprior')

        self.entropy_bottleneck = EntropyBottleneck(N)
        self._build_y_model(M, D, mixture_components, context, context_mask_ratio)
        resize_entropy_buffers_on_load(self)
        self.register_buffer('shape_free_options', _shape_free_buffer(
            latent_stride=latent_stride, hyper_heads=hyper_heads,
            latent_leaky_relu=latent_leaky_relu, gnconv_scale=gnconv_scale))
        self.register_load_state_dict_pre_hook(_check_layout_on_load)
        #: float64 copies of h_s's tensors for the eval path, see _h_s_float64
        self._f64_h_s = Float64Weights()
        self.config = dict(in_channels=in_channels, mid_channels=mid_channels,
                           latent_channels=M, hyper_channels=N, orders=orders,
                           global_local=global_local, mlp_ratios=mlp_ratios,
                           gl_size=tuple(gl_size), gnconv_scale=float(gnconv_scale),
                           hyper_dim=D, hyper_heads=hyper_heads,
                           hyper_mlp_ratio=float(hyper_mlp_ratio),
                           synthesis_full_res_block=bool(synthesis_full_res_block))
        # options added later join the config (and so the fingerprint) only when set, so
        # the containers of models without them keep their fingerprints
        if hyper_coder != 'vit':
            self.config.update(hyper_coder=hyper_coder)
        if any(drop_path):
            self.config.update(drop_path=drop_path)
        if latent_leaky_relu:
            self.config.update(latent_leaky_relu=True)
        if not analysis_full_res_block:
            self.config.update(analysis_full_res_block=False)
        if outer_kernel_size != 5:
            self.config.update(outer_kernel_size=outer_kernel_size)
        if latent_stride != 4:
            self.config.update(latent_stride=latent_stride)
        if entropy_model != 'hyperprior':  # hyperprior configs (and fingerprints) unchanged
            self.config.update(entropy_model=entropy_model,
                               mixture_components=int(mixture_components),
                               context=dict(context or {}),
                               context_mask_ratio=float(context_mask_ratio))

    @staticmethod
    def _vit_hyper_coder(M: int, N: int, D: int, heads: int, mlp_ratio: float,
                         hyper_out: int) -> Tuple[nn.Module, nn.Module]:
        """h_a, h_s of ``hyper_coder='vit'``: a ViT block at y/2 and at z's resolution."""
        def vit() -> ViTBlock:
            return ViTBlock(D, num_heads=heads, mlp_ratio=mlp_ratio)

        h_a = nn.Sequential(
            conv(M, D, 3, stride=2), vit(), conv(D, D, 3, stride=2), vit(), nn.Conv2d(D, N, 1))
        # The last up-scaling is a 1x1 conv + PixelShuffle: a 3x3 sub-pixel conv there would
        # cost 2.7 GFLOPs at 512x512, more than the rest of h_s together. It outputs
        # (scales, means) of y, or D-channel features for the context-mixture model.
        h_s = nn.Sequential(
            nn.Conv2d(N, D, 1), vit(), subpel_conv3x3(D, D, 2), vit(),
            nn.Conv2d(D, hyper_out * 4, 1), nn.PixelShuffle(2))
        return h_a, h_s

    @staticmethod
    def _release_hyper_coder(M: int, N: int, D: int, heads: int, mlp_ratio: float,
                             hyper_out: int, head: bool) -> Tuple[nn.Module, nn.Module]:
        """h_a, h_s of ``hyper_coder='release'`` (``TransHyperScale``): a Transformer block
        at y's, y/2's and z's resolution each, 3x3 stride-2 convs down, 3x3 sub-pixel convs
        up. h_s outputs its D features (the context-mixture model's parameter network reads
        them) or, for the hyperprior model, LayerNorm + Linear to (scales, means)."""
        if D % heads:
            raise ValueError(f'hyper_dim={D} is not divisible by hyper_heads={heads}')

        def block(stage: int) -> RelPosTransformer:
            radius, topk = RELEASE_HYPER_STAGES[stage]
            return RelPosTransformer(D, num_heads=heads, head_dim=D // heads,
                                     mlp_ratio=mlp_ratio, radius=radius, topk=topk)

        h_a = nn.Sequential(
            nn.Conv2d(M, D, 1), block(0), conv(D, D, 3, stride=2), block(1),
            conv(D, D, 3, stride=2), block(2), LayerNorm2d(D), nn.Conv2d(D, N, 1))
        h_s = [nn.Conv2d(N, D, 1), block(2), subpel_conv3x3(D, D, 2), block(1),
               subpel_conv3x3(D, D, 2), block(0)]
        if head:
            h_s += [LayerNorm2d(D), nn.Conv2d(D, hyper_out, 1)]
        return h_a, nn.Sequential(*h_s)

    def _build_y_model(self, M: int, D: int, components: int,
                       context: Optional[Dict[str, Any]], mask_ratio: float) -> None:
        """The entropy model of y, and the names of the strings compress() returns (one
        container section each)."""
        if self.entropy_model == 'hyperprior':
            self.gaussian_conditional = GaussianConditional(None)
            self.string_names: Tuple[str, ...] = ('y', 'z')
        else:
            context = dict(context or {})
            param_hidden = context.pop('param_hidden', None)
            self.context_mixture = CheckerboardMixtureCodec(M, D, components, mask_ratio,
                                                            context, param_hidden)
            self.string_names = ('y anchors', 'y non-anchors', 'z')

    # ------------------------------------------------------------------ entropy parameters
    def gaussian_params(self, z_hat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(scales, means)`` of y from ``z_hat``; reproducible across machines outside
        training (docs/codec.md, "Cross-platform decoding")."""
        if self.entropy_model != 'hyperprior':
            raise RuntimeError(f'gaussian_params() is the hyperprior model\'s; this network '
                               f'codes y with entropy_model={self.entropy_model!r}')
        if self.training:
            return self.h_s(z_hat).chunk(2, 1)
        params = functional_call(self.h_s, self._h_s_float64(), (z_hat.double(), ))
        grid = float(2**PARAM_GRID_BITS)
        params = torch.round(params * grid) / grid
        scales, means = params.to(z_hat.dtype).chunk(2, 1)
        return scales, means

    def _h_s_float64(self) -> Dict[str, torch.Tensor]:
        """h_s's weights in float64, cast once per weight version (casting its ~10 M weights
        took ~20 % of the float64 h_s at 512x512, measured): the key changes with any
        in-place update (optimizer step, load_state_dict) or replaced tensor."""
        return self._f64_h_s(self.h_s)

    def hyper_features(self, z_hat: torch.Tensor) -> torch.Tensor:
        """h_s's features for the context-mixture model: float32 in training, float64
        outside (they feed the float64 parameter network)."""
        if self.training:
            return self.h_s(z_hat)
        return self._f64_h_s.run(self.h_s, z_hat.double())

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.config['in_channels']:
            raise ValueError(f'{type(self).__name__} expects (B, {self.config["in_channels"]}, '
                             f'H, W) features, got shape {tuple(x.shape)}')
        if x.shape[-2] % self.stride or x.shape[-1] % self.stride:
            raise ValueError(f'feature size {tuple(x.shape[-2:])} is not a multiple of the '
                             f'compression network stride {self.stride}; pad it first')

    # ------------------------------------------------------------------ CompressAI API
    def forward(self, x: torch.Tensor) -> Dict:
        """Training / estimation pass.

        Returns:
            dict: ``x_hat`` (reconstructed feature f3) and ``likelihoods`` ``{'y', 'z'}``.
        """
        self._check_input(x)
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.entropy_model == 'hyperprior':
            scales, means = self.gaussian_params(z_hat)
            y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        else:
            out = self.context_mixture(y, self.hyper_features(z_hat))
            y_hat, y_likelihoods = out['y_hat'], out['likelihoods']['y']
        return {'x_hat': self.g_s(y_hat), 'likelihoods': {'y': y_likelihoods, 'z': z_likelihoods}}

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> Dict:
        """Entropy-code features ``x`` with rANS (call :meth:`update` first).

        Returns:
            dict: ``strings`` = ``[y_strings, z_strings]`` (one bytes object per batch item
            each; ``'context_mixture'``: ``[y_anchor_strings, y_non_anchor_strings,
            z_strings]``, see :attr:`string_names`) and ``shape`` = z's spatial size.
        """
        self._check_input(x)
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
        if self.entropy_model != 'hyperprior':
            y_out = self.context_mixture.compress(y, self.hyper_features(z_hat))
            return {'strings': [*y_out['strings'], z_strings], 'shape': z.size()[-2:]}
        scales, means = self.gaussian_params(z_hat)
        indexes = self.gaussian_conditional.build_indexes(scales)
        y_strings = self.gaussian_conditional.compress(y, indexes, means=means)
        return {'strings': [y_strings, z_strings], 'shape': z.size()[-2:]}

    @torch.no_grad()
    def decompress_latent(self, strings: List[List[bytes]],
                          shape: Sequence[int]) -> torch.Tensor:
        """Decode the quantised latent ``y_hat`` from :meth:`compress`'s strings."""
        names = self.string_names
        if not isinstance(strings, (list, tuple)) or len(strings) != len(names):
            raise ValueError('strings must be [' + ', '.join(n.replace(' ', '_') + '_strings'
                                                           for n in names) + ']')
        z_hat = self.entropy_bottleneck.decompress(strings[-1], tuple(shape))
        if self.entropy_model != 'hyperprior':
            hyper = self.hyper_features(z_hat)
            return self.context_mixture.decompress(strings[:2], hyper.shape[-2:], hyper)['y_hat']
        scales, means = self.gaussian_params(z_hat)
        indexes = self.gaussian_conditional.build_indexes(scales)
        return self.gaussian_conditional.decompress(strings[0], indexes, means=means)

    @torch.no_grad()
    def decompress(self, strings: List[List[bytes]], shape: Sequence[int]) -> Dict:
        """Decode features from :meth:`compress`'s output.

        Returns:
            dict: ``x_hat`` = decoded feature f3 (no clamping: these are features, not pixels).
        """
        return {'x_hat': self.g_s(self.decompress_latent(strings, shape))}

    def quantised_latent(self, x: torch.Tensor) -> torch.Tensor:
        """The ``y_hat`` that :meth:`compress` transmits, computed without entropy coding."""
        self._check_input(x)
        y = self.g_a(x)
        if self.entropy_model != 'hyperprior':
            return torch.round(y)
        z_hat = self.entropy_bottleneck.quantize(
            self.h_a(y), 'dequantize', self.entropy_bottleneck._get_medians())
        _, means = self.gaussian_params(z_hat)
        return self.gaussian_conditional.quantize(y, 'dequantize', means)
