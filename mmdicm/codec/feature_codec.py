"""``DICMFeatureCodec``: RE module + compression network, and real bitstreams of features.

Framework-free (torch, CompressAI, timm): the OpenMMLab backbone and neck wrap it, and it can
be used on its own around any feature extractor::

    f1 ─► RE (edge) ─► f2 ─► g_a ─► y, z ─► rANS ─► container bytes      (encode)
    container bytes ─► rANS ─► y_hat ─► g_s ─► f3                         (decode)
"""
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .bitstream import BitstreamError, DICMBitstream, model_fingerprint, pack, unpack
from .fingerprint import is_bytes_like
from ..utils import check_int
from .compression_net import DICMCompressionNet
from .compression_net import _check_layout_on_load as check_net_layout
from .re_module import REModule
from .re_module import _check_layout_on_load as check_re_layout

__all__ = ['DICMFeatureCodec', 'DEFAULT_MAX_PIXELS', 'CODEC_PRESETS', 'CODEC_PRESET_REVISIONS',
           'DEFAULT_PRESET']

#: ``DICMFeatureCodec(preset=...)``: defaults of the RE module's and the compression
#: network's arguments, under the ``re`` / ``net`` dicts (whose keys win).
#: ``'release'`` (the default since Dec 2026): the released widths with the authors' code's
#: blocks, except where the paper's text says otherwise (RE blocks stay ConvFormer, g_s
#: mirrors g_a by width, the mixture has 3 components); the table: ``docs/components.md``.
#: ``'mmdicm-v1'`` (the default before, named ``'default'`` then): the same widths with the
#: cheaper blocks (hyperprior, 2-block g_s and hyper-coder, no norm in RE); what checkpoints
#: and containers written before the switch need. ``'s'`` (DICM-S): the edge-sized codec,
#: the paper's kinds of block at smaller widths, RE starting with its first down-scaling, no
#: full-resolution HorNet block on either side and 3x3 full-resolution (de)convs, and (since
#: 2026-12-04) the release's LeakyReLU on the latent and drop path: 20.6 edge / 7.2 receiver
#: GFLOPs at 512x512 against mmdicm-v1's 68.1 / 17.8 (the width search: ``docs/dicm-s.md``).
CODEC_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'mmdicm-v1': dict(re={}, net={}),
    'release': dict(
        re=dict(down_kernel_size=3, norm='layernorm', straight_through=True),
        net=dict(synthesis_full_res_block=True, mlp_ratios=(4.0, 4.0, 4.0),
                 drop_path=(0.0, 0.25, 0.5), latent_leaky_relu=True, hyper_coder='release',
                 entropy_model='context_mixture')),
    's': dict(
        re=dict(hidden_channels=64, latent_channels=128, depths=(0, 1, 2)),
        net=dict(mid_channels=96, latent_channels=160, hyper_channels=128, hyper_dim=192,
                 hyper_heads=3, mlp_ratios=(0.5, 2.0, 2.0), analysis_full_res_block=False,
                 outer_kernel_size=3, latent_leaky_relu=True, drop_path=(0.0, 0.25, 0.5))),
}

#: presets whose definition changed after work had been cached under their name: the
#: revision joins the rate sweep's config digests (``config_digest``), so points cached
#: under the old definition are measured again rather than reported as the new one's. 's'
#: took the release's two blocks that cost no FLOPs (LeakyReLU on the latent, drop path) on
#: 2026-12-04: BD-rate vs the release preset +51.4 % -> +7.1 % (``docs/dicm-s.md``). Their
#: weights have the same shapes, so an 's' checkpoint trained before loads without error
#: into the new 's' and runs with other activations: build it with
#: ``net=dict(latent_leaky_relu=False, drop_path=(0.0, 0.0, 0.0))``. Its containers are
#: refused (the fingerprint holds both options).
CODEC_PRESET_REVISIONS: Dict[str, str] = {
    's': '2026-12-04: latent_leaky_relu=True, drop_path=(0.0, 0.25, 0.5)'}

#: the preset a codec gets when its config names none: the release's blocks, measured
#: BD-rate -61 % against mmdicm-v1 on the COCO-like sweep at CPU scale (``docs/components.md``)
DEFAULT_PRESET = 'release'

#: presets that were renamed: old name -> (new name, when)
_RENAMED_PRESETS = {'default': ('mmdicm-v1', 'Dec 2026')}


def check_preset(preset: Any) -> str:
    """``preset`` if it is a key of :data:`CODEC_PRESETS`; else a ValueError naming the
    keys (and, for a renamed preset, its new name)."""
    if isinstance(preset, str) and preset in _RENAMED_PRESETS:
        new, when = _RENAMED_PRESETS[preset]
        raise ValueError(f'codec preset {preset!r} was renamed {new!r} in {when} (the default '
                         f'is now {DEFAULT_PRESET!r}): set model.backbone.codec.preset='
                         f'{new!r} for checkpoints and containers written before')
    if not isinstance(preset, str) or preset not in CODEC_PRESETS:
        raise ValueError(f'codec preset must be one of {sorted(CODEC_PRESETS)}, got '
                         f'{preset!r}')
    return preset


def check_presets(presets: Any) -> Tuple[str, ...]:
    """``presets`` as a tuple if they are distinct keys of :data:`CODEC_PRESETS` (the
    benchmarks' ``--presets``); else a ValueError naming the wrong one (a renamed preset:
    its new name)."""
    presets = (presets, ) if isinstance(presets, str) else tuple(presets)
    if not presets or len(set(presets)) != len(presets):
        raise ValueError(f'presets must be distinct keys of {sorted(CODEC_PRESETS)}, got '
                         f'{list(presets)}')
    for preset in presets:
        try:
            check_preset(preset)
        except ValueError as e:
            raise ValueError(f'presets: {e}') from None
    return presets


#: the load error's hint for checkpoints of the old default
_OLD_CHECKPOINTS = "checkpoints written before Dec 2026 are preset 'mmdicm-v1'"

#: entropy-model buffers whose shapes follow the trained distribution, not the architecture
#: (resized on load by :func:`~mmdicm.codec.entropy.resize_entropy_buffers_on_load`)
_TABLE_BUFFERS = ('_quantized_cdf', '_offset', '_cdf_length', 'scale_table')


def _check_shapes_on_load(codec: 'DICMFeatureCodec', state_dict: dict, prefix: str,
                          *args: Any) -> None:
    """Refuse, in one line naming the preset, a codec checkpoint whose weights have other
    shapes than this codec's (another preset or other widths): loaded with ``strict=False``
    (mmengine's default) the mismatching tensors would be skipped with a warning and the
    codec left half random. The parts' own layout checks run first: their messages name the
    option (entropy model, hyper-coder, RE norm, ...) where one option is the difference."""
    for name, check in (('re', check_re_layout), ('net', check_net_layout)):
        if getattr(codec, name) is not None:
            try:
                check(getattr(codec, name), state_dict, f'{prefix}{name}.')
            except ValueError as e:
                raise ValueError(f'{e} (this codec: preset {codec.preset!r}, one of '
                                 f'{sorted(CODEC_PRESETS)}; {_OLD_CHECKPOINTS})') from None
    own = codec.state_dict()
    for key, mine in own.items():
        theirs = state_dict.get(prefix + key)
        if theirs is None or key.endswith(_TABLE_BUFFERS) or not hasattr(theirs, 'shape'):
            continue
        if tuple(theirs.shape) != tuple(mine.shape):
            raise ValueError(
                f'checkpoint\'s codec does not fit this one (codec preset {codec.preset!r}): '
                f'{prefix}{key} is {tuple(theirs.shape)} there, {tuple(mine.shape)} here; '
                'build the codec with the preset and widths it was trained with '
                f'(model.backbone.codec.preset, one of {sorted(CODEC_PRESETS)}; '
                f'{_OLD_CHECKPOINTS})')

#: Largest padded image (height x width) a codec encodes or a container may declare for
#: :meth:`decode`: 2048 x 2048 (1080p, and COCO/VOC/ImageNet at their test scales, fit).
#: Decoding memory grows with it: ~0.8 GB above the model at the released widths
#: (``docs/bitstream.md``); raise it on both sides with ``max_pixels=`` for larger images.
DEFAULT_MAX_PIXELS = 2048 * 2048


class DICMFeatureCodec(nn.Module):
    """The part of DICM between the backbone head and tail.

    Args:
        re (dict, optional): :class:`REModule` arguments; None bypasses the RE module
            (``f2 = f1``). Defaults to ``{}`` (the released defaults).
        net (dict, optional): :class:`DICMCompressionNet` arguments; None bypasses the
            compression network (``f3 = f2``, nothing to entropy-code). Defaults to ``{}``.
        in_channels (int): Channels of f1; passed to both parts. Defaults to 256.
        input_stride (int): Stride of f1 relative to the image (4 after ResNet's layer1); used
            to store image sizes in containers and to check latent shapes. Defaults to 4.
        max_pixels (int): Largest padded image area (height x width) a container may declare;
            larger ones are refused by :meth:`parse` before anything is allocated, so a crafted
            header cannot make the receiver allocate without limit. Defaults to
            :data:`DEFAULT_MAX_PIXELS` (2048 x 2048). :meth:`encode` refuses larger inputs too,
            so an edge never writes files its receivers refuse.
        channels_last (bool): Run the RE module and the compression network on channels-last
            (NHWC) tensors; outputs are contiguous NCHW either way, and values, gradients and
            bitstreams are the same up to float rounding. On CPU this is measured faster:
            depthwise convs, LayerNorm2d and the HorNet MLP need no layout copies
            (``tools/benchmark_pipeline.py --threads 1``, 512x512: RE 619 -> 481 ms, g_a 439
            -> 356 ms, g_s 213 -> 175 ms; a codec training step 6-15 % faster).
            Defaults to True.
        preset (str): A key of :data:`CODEC_PRESETS`: the defaults under ``re`` and ``net``
            (``'release'``: the authors' code's blocks; ``'mmdicm-v1'``: the cheaper blocks
            of mmdicm before Dec 2026; ``'s'``: DICM-S, the edge-sized codec; see there). A
            checkpoint of one preset is refused by a codec of another with a one-line error
            naming the preset or the option that differs. Defaults to
            :data:`DEFAULT_PRESET` (``'release'``).

    Example:
        >>> import torch
        >>> codec = DICMFeatureCodec(
        ...     re=dict(hidden_channels=16, latent_channels=16),
        ...     net=dict(mid_channels=16, latent_channels=16, hyper_channels=16,
        ...              hyper_dim=32, hyper_heads=2), in_channels=32).eval()
        >>> _ = codec.update(force=True)
        >>> f1 = torch.rand(1, 32, 16, 16)
        >>> data = codec.encode(f1, image_sizes=[(60, 62)])   # one container per image
        >>> f3, streams = codec.decode(data)
        >>> f3.shape, streams[0].image_size
        (torch.Size([1, 32, 16, 16]), (60, 62))
    """

    def __init__(self,
                 re: Optional[Dict[str, Any]] = {},  # noqa: B006 (never mutated)
                 net: Optional[Dict[str, Any]] = {},  # noqa: B006
                 in_channels: int = 256,
                 input_stride: int = 4,
                 channels_last: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS,
                 preset: str = DEFAULT_PRESET) -> None:
        super().__init__()
        check_int('max_pixels', max_pixels)
        check_preset(preset)
        if not isinstance(channels_last, bool):
            raise TypeError(f'channels_last must be True or False, got {channels_last!r}')
        if re is not None and not isinstance(re, dict):
            raise TypeError(f're must be a dict of REModule arguments or None, got {re!r}')
        if net is not None and not isinstance(net, dict):
            raise TypeError(
                f'net must be a dict of DICMCompressionNet arguments or None, got {net!r}')
        for name, cfg in (('re', re), ('net', net)):
            if cfg and cfg.get('in_channels', in_channels) != in_channels:
                raise ValueError(f'{name}.in_channels={cfg["in_channels"]} does not match the '
                                 f'feature channels in_channels={in_channels}')
        if re is not None:
            re = {**CODEC_PRESETS[preset]['re'], **re}
        if net is not None:
            net = {**CODEC_PRESETS[preset]['net'], **net}
        self.preset = preset
        self.in_channels = in_channels
        self.input_stride = input_stride
        self.channels_last = channels_last
        self.max_pixels = max_pixels
        self.re = None if re is None else REModule(**{**re, 'in_channels': in_channels})
        self.net = None if net is None else DICMCompressionNet(
            **{**net, 'in_channels': in_channels})
        strides = [m.stride for m in (self.re, self.net) if m is not None] or [1]
        #: f1's height and width must be multiples of this (the backbone pads)
        self.stride = max(strides)  # both are powers of two
        self._fingerprint_cache: Tuple[Any, bytes] = (None, b'')
        #: modules before f1 whose weights decide the bits (set by a backbone: its head);
        #: a plain tuple, not submodules, so they are hashed, not owned
        self.upstream_modules: Tuple[nn.Module, ...] = ()
        self.register_load_state_dict_pre_hook(_check_shapes_on_load)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the memory layout the RE module and the compression network run in."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # ------------------------------------------------------------------ training / estimation
    def forward(self, f1: torch.Tensor) -> Dict[str, Any]:
        """RE then compression network, with likelihoods for the rate terms.

        Returns:
            dict: ``f2``, ``f3`` and ``likelihoods`` (``re``, ``y``, ``z`` as present).
        """
        likelihoods: Dict[str, torch.Tensor] = {}
        x = self._layout(f1)
        f2 = f1
        if self.re is not None:
            out = self.re(x)
            x, f2 = out['f2'], out['f2'].contiguous()
            likelihoods.update(out['likelihoods'])
        f3 = f2
        if self.net is not None:
            out = self.net(x)
            f3 = out['x_hat'].contiguous()
            likelihoods.update(out['likelihoods'])
        return dict(f2=f2, f3=f3, likelihoods=likelihoods)

    def aux_loss(self) -> torch.Tensor:
        """Sum of the entropy bottlenecks' quantile losses (train them with their own lr)."""
        losses = [m.entropy_bottleneck.loss() for m in (self.re, self.net) if m is not None]
        return sum(losses) if losses else torch.zeros(())

    def update(self, force: bool = False) -> bool:
        """Refresh every entropy model's CDF tables (needed before real coding)."""
        updated = False
        if self.re is not None:
            updated |= self.re.entropy_bottleneck.update(force=force)
        if self.net is not None:
            updated |= self.net.update(force=force)
        return updated

    # ------------------------------------------------------------------ real bitstreams
    def _require_net(self) -> DICMCompressionNet:
        if self.net is None:
            raise RuntimeError('the compression network is bypassed (net=None): there is no '
                               'latent to entropy-code')
        models = [getattr(self.net, n, None) for n in ('entropy_bottleneck',
                                                       'gaussian_conditional')]
        if any(m._quantized_cdf.numel() == 0 for m in models if m is not None):
            raise RuntimeError('entropy tables are empty: call update(force=True) after '
                               'training or loading weights, before real coding (in a '
                               "config, keep dict(type='EntropyUpdateHook') in custom_hooks: "
                               'it does that before validation, testing and checkpoint '
                               'saving)')
        return self.net

    def fingerprint(self) -> bytes:
        """16-byte digest of everything that decides the bits: the architecture, the weights
        of :attr:`upstream_modules` (the backbone head, when a backbone sets them), RE, g_a,
        h_a, h_s, and every parameter and buffer of the entropy models (CDF tables, z's
        quantiles, whose medians dequantise z, and the context model and parameter network
        of ``entropy_model='context_mixture'``). Every container carries it and a receiver
        decodes only containers that match its own, so a file from another model, λ or edge
        is refused; models that share these parts (task models trained on one frozen edge)
        share it. g_s is not in it: receivers may fine-tune their decoder."""
        net = self._require_net()
        tensors: Dict[str, torch.Tensor] = {}
        parts = [(f'upstream.{i}', m) for i, m in enumerate(self.upstream_modules)]
        parts += [('re', self.re), ('g_a', net.g_a), ('h_a', net.h_a), ('h_s', net.h_s),
                  ('eb', net.entropy_bottleneck),
                  ('gc', getattr(net, 'gaussian_conditional', None)),
                  ('cm', getattr(net, 'context_mixture', None))]
        for prefix, module in parts:
            if module is not None:
                for name, tensor in module.state_dict(keep_vars=True).items():
                    tensors[f'{prefix}.{name}'] = tensor
        # tensor._version changes with every in-place update (optimizer step, load, update()).
        key = tuple((k, t.data_ptr(), t._version, tuple(t.shape)) for k, t in tensors.items())
        if self._fingerprint_cache[0] != key:
            # RE's architecture shows in its tensors' names and shapes, which are hashed too
            config = dict(net=net.config, input_stride=self.input_stride)
            state = [('config', json.dumps(config, sort_keys=True))]
            state += [(k, t.detach().cpu().contiguous().numpy()) for k, t in tensors.items()]
            self._fingerprint_cache = (key, model_fingerprint(state))
        return self._fingerprint_cache[1]

    def _edge_features(self, f1: torch.Tensor) -> torch.Tensor:
        """f2 as the edge device computes it (RE latent rounded, as in eval)."""
        f1 = self._layout(f1)
        if self.re is None:
            return f1
        return self.re.decoder(
            self.re.entropy_bottleneck.quantize(self.re.encoder(f1), 'dequantize',
                                                self.re.entropy_bottleneck._get_medians()))

    @torch.no_grad()
    def encode(self, f1: torch.Tensor, image_sizes: Sequence[Sequence[int]]) -> List[bytes]:
        """Features f1 of a batch -> one self-describing container per image.

        Args:
            f1 (Tensor): (B, in_channels, h, w), h and w multiples of :attr:`stride`.
            image_sizes (Sequence[(H, W)]): original image size of each batch item (before the
                padding that made the input a multiple of the total stride).

        Returns:
            list[bytes]: containers (see :mod:`mmdicm.codec.bitstream`).
        """
        net = self._require_net()
        if len(image_sizes) != f1.shape[0]:
            raise ValueError(f'got {len(image_sizes)} image sizes for a batch of {f1.shape[0]}')
        padded = (f1.shape[-2] * self.input_stride, f1.shape[-1] * self.input_stride)
        if padded[0] * padded[1] > self.max_pixels:
            raise ValueError(f'padded size {padded[0]}x{padded[1]} exceeds max_pixels='
                             f'{self.max_pixels}; raise it on the edge and the receivers '
                             '(DICMFeatureCodec(max_pixels=...)) or code smaller images')
        bad = ~torch.isfinite(f1)
        if bool(bad.any()):
            raise ValueError(f'f1 has {int(bad.sum())} non-finite values (NaN/Inf): the input '
                             'image or the backbone head is broken; refusing to encode it')
        out = net.compress(self._edge_features(f1))
        fp = self.fingerprint()
        z_shape = tuple(int(s) for s in out['shape'])
        return [
            pack(fp, image_size=tuple(size), latent_shapes=[z_shape],
                 sections=[[strings[i]] for strings in out['strings']], padded_size=padded)
            for i, size in enumerate(image_sizes)
        ]

    def parse(self, data: Union[bytes, DICMBitstream]) -> DICMBitstream:
        """Unpack and validate one container against this model (raises BitstreamError)."""
        fp = self.fingerprint()
        stream = data if isinstance(data, DICMBitstream) else unpack(data,
                                                                     expected_fingerprint=fp)
        if stream.fingerprint != fp:  # an already-parsed DICMBitstream
            raise BitstreamError('model fingerprint mismatch: the bitstream was written by '
                                 'another model or entropy table')
        names = self._require_net().string_names
        if len(stream.sections) != len(names) or any(len(s) != 1 for s in stream.sections):
            layout = ', '.join(f'[{n}]' for n in names)
            raise BitstreamError(f'expected sections [{layout}], got {len(stream.sections)} '
                                 'sections of ' + str([len(s) for s in stream.sections]))
        if len(stream.latent_shapes) != 1 or len(stream.latent_shapes[0]) != 2:
            raise BitstreamError(f'expected one 2-D z shape, got {stream.latent_shapes}')
        total = self.input_stride * self._require_net().stride
        ph, pw = stream.padded_size
        if ph * pw > self.max_pixels:
            raise BitstreamError(f'padded size {ph}x{pw} exceeds this receiver\'s limit of '
                                 f'{self.max_pixels} pixels (raise it with max_pixels=)')
        if ph % total or pw % total or stream.latent_shapes[0] != (ph // total, pw // total):
            raise BitstreamError(f'z shape {stream.latent_shapes[0]} does not match padded size '
                                 f'{stream.padded_size} at total stride {total}')
        h, w = stream.image_size
        if not (0 < ph - h + 1 <= total and 0 < pw - w + 1 <= total):
            raise BitstreamError(f'image size {stream.image_size} is inconsistent with padded '
                                 f'size {stream.padded_size}')
        return stream

    @torch.no_grad()
    def decode(self, data: Union[bytes, Sequence[Union[bytes, DICMBitstream]]]
               ) -> Tuple[torch.Tensor, List[DICMBitstream]]:
        """Containers -> decoded features f3 (batched; all must share one padded size).

        Returns:
            tuple: f3 of shape (B, in_channels, H_pad / input_stride, W_pad / input_stride) and
            the parsed containers (image sizes for cropping predictions back).
        """
        net = self._require_net()
        items = [data] if is_bytes_like(data) else list(data)
        if not items:
            raise ValueError('decode() needs at least one container')
        streams = [self.parse(d) for d in items]
        if len({s.padded_size for s in streams}) != 1:
            raise ValueError('containers in one decode() call must share a padded size, got '
                             f'{sorted({s.padded_size for s in streams})}')
        strings = [[s.sections[k][0] for s in streams] for k in range(len(net.string_names))]
        y_hat = net.decompress_latent(strings, streams[0].latent_shapes[0])
        f3 = net.g_s(self._layout(y_hat))  # = net.decompress(...)['x_hat']
        return f3.contiguous(), streams
