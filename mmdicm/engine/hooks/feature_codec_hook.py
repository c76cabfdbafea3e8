"""``FeatureCodecRoundtripHook``: a feature-domain baseline in the test pass of a task model;
``FeatureStatsHook``: the channel basis such a baseline reduces with, fitted in a test pass."""
import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .codec_hook import forward_mode, unwrap_model

__all__ = ['FeatureCodecRoundtripHook', 'FeatureStatsHook']


class _LayerOutputHook(Hook):
    """In the test pass, sees the output of ``module`` with each image's valid region (the
    rows and columns the image covers, not the batch padding); subclasses say what to do
    with it in :meth:`_on_output`."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._handles: List[Any] = []
        self._shapes: List[Tuple[int, int]] = []
        self._input_size: Optional[Tuple[int, int]] = None

    def before_test(self, runner) -> None:
        model = unwrap_model(runner.model)
        try:
            layer = model.get_submodule(self.module)
        except AttributeError:
            raise ValueError(f'{type(self).__name__}: the model has no module {self.module!r} '
                             '(set module= to the layer whose output to code)') from None
        self._handles = [
            model.register_forward_pre_hook(self._remember_shapes, with_kwargs=True),
            layer.register_forward_hook(self._on_output)] + self._more_handles(model)

    def _more_handles(self, model: nn.Module) -> List[Any]:
        return []

    def after_test(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _remember_shapes(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any]) -> None:
        inputs = kwargs.get('inputs', args[0] if args else None)
        samples = kwargs.get('data_samples', args[1] if len(args) > 1 else None) or []
        self._shapes = [tuple(s.metainfo['img_shape'][:2]) for s in samples]
        self._input_size = tuple(inputs.shape[-2:]) if torch.is_tensor(inputs) else None

    def _maps(self, output: Any) -> List[torch.Tensor]:
        """``output`` as a list of (B, C, H, W) maps (an FPN's levels, or one), checked
        against the batch the forward pre-hook saw."""
        maps = list(output) if isinstance(output, (tuple, list)) else [output]
        if not maps or not all(torch.is_tensor(m) and m.dim() == 4 for m in maps):
            raise RuntimeError(f'{type(self).__name__}: {self.module!r} returned '
                               f'{type(output).__name__}, not (B, C, H, W) feature maps')
        batch = maps[0].shape[0]
        if len(self._shapes) != batch or self._input_size is None:
            raise RuntimeError(f'{type(self).__name__}: {batch} feature maps but '
                               f'{len(self._shapes)} data samples in this forward')
        return maps

    def _valid(self, h: int, w: int, size: Tuple[int, int]) -> Tuple[int, int]:
        """The feature rows and columns an (h, w) image covers (not the batch padding):
        ``ceil(side / stride)``, the stride being the padded batch input's size over the
        feature map's."""
        sh, sw = self._input_size[0] / size[0], self._input_size[1] / size[1]
        return min(size[0], math.ceil(h / sh)), min(size[1], math.ceil(w / sw))

    def _on_output(self, layer: nn.Module, args: Tuple, output: Any) -> Any:
        raise NotImplementedError


@HOOKS.register_module()
class FeatureCodecRoundtripHook(_LayerOutputHook):
    """Code the features of one layer with a feature codec in the test pass, and tag each
    prediction with the bits it cost.

    The feature-domain anchor of MPEG FCM (:class:`~mmdicm.baselines.FeatureVVCCodec`): the
    output of ``module`` (e.g. ``backbone.layer1``, DICM's split) is replaced, image by image,
    by its decoded version -- the valid region only, as the edge would code the image, not the
    batch padding -- and the rest of the network runs on it. Each returned data sample gets
    ``codec_bits`` (8 x the file's bytes, side information included) and
    ``codec_payload_bits`` (the VVC bitstream alone) in its metainfo, which
    :class:`~mmdicm.evaluation.PixelCodecBppMetric` turns into bpp over the same pixels as the
    pixel codecs'. Test only; training and validation are untouched.

    Args:
        quality (int): The codec's quality (QP for ``'fcm-vvc'``).
        codec (str): A name of :data:`~mmdicm.baselines.FEATURE_CODECS`. Defaults to
            ``'fcm-vvc'``.
        module (str, optional): Dotted name of the layer whose output is coded, in the
            (unwrapped) model; a tuple of maps (an FPN's levels) is coded level by level,
            one file each, their bytes added. Defaults to the codec's ``coded_module``
            (``'backbone.layer1'``; ``'neck'`` for ``'fcm-vvc-fpn'``).
        codec_kwargs (dict, optional): Options of the codec (e.g. ``quant='channel'``).
    """

    def __init__(self, quality: int, codec: str = 'fcm-vvc', module: Optional[str] = None,
                 codec_kwargs: Optional[Dict[str, Any]] = None) -> None:
        from ...baselines import get_feature_codec
        self.codec = get_feature_codec(codec, **(codec_kwargs or {}))
        self.quality = self.codec.check_quality(quality)
        super().__init__(self.codec.coded_module if module is None else module)
        self._sizes: List[Tuple[int, int]] = []

    def before_test(self, runner) -> None:
        ok, reason = self.codec.available()
        if not ok:
            raise RuntimeError(reason)
        self.codec.check_ready()
        super().before_test(runner)

    def _more_handles(self, model: nn.Module) -> List[Any]:
        return [model.register_forward_hook(self._tag, with_kwargs=True)]

    def _remember_shapes(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any]) -> None:
        super()._remember_shapes(model, args, kwargs)
        self._sizes = []

    def _on_output(self, layer: nn.Module, args: Tuple, output: Any) -> Any:
        """Code ``output`` (one feature tensor, or a tuple / list of them: the levels of
        an FPN, each coded as its own file) image by image; the bytes of an image's files
        add up."""
        several = isinstance(output, (tuple, list))
        maps = self._maps(output)
        sizes = [[0, 0] for _ in range(maps[0].shape[0])]
        coded = []
        for fmap in maps:
            out = fmap.clone()
            for i, (h, w) in enumerate(self._shapes):
                fh, fw = self._valid(h, w, tuple(fmap.shape[-2:]))
                f = fmap[i, :, :fh, :fw].detach().cpu().numpy()
                data = self.codec.encode(f, self.quality)
                out[i, :, :fh, :fw] = torch.from_numpy(self.codec.decode(data)).to(fmap)
                sizes[i][0] += len(data)
                sizes[i][1] += len(data) - self.codec.side_info_bytes(data)
            coded.append(out)
        self._sizes.extend(tuple(s) for s in sizes)
        return type(output)(coded) if several else coded[0]

    def _tag(self, model: nn.Module, args: Tuple, kwargs: Dict[str, Any], output: Any) -> Any:
        if forward_mode(model, args, kwargs) != 'predict' or not self._sizes:
            return output
        if len(self._sizes) != len(output):
            raise RuntimeError(f'{type(self).__name__}: {len(self._sizes)} coded feature maps '
                               f'for {len(output)} predictions')
        for sample, (total, payload) in zip(output, self._sizes):
            sample.set_metainfo(dict(codec_bits=8 * total, codec_payload_bits=8 * payload))
        self._sizes = []
        return output


@HOOKS.register_module()
class FeatureStatsHook(_LayerOutputHook):
    """Fit the channel basis of ``fcm-vvc-pca`` in a test pass: the channel statistics of
    ``module``'s output over every image's valid region, then its ``components`` leading
    principal components, written to ``out_file`` (:meth:`ChannelPCA.save`) after the pass.
    The predictions are left as they are.

    Args:
        out_file (str): Where to write the basis (``.npz``).
        components (int): Principal components to keep. Defaults to 16.
        module (str): The layer whose output is coded. Defaults to ``'backbone.layer1'``
            (DICM's split).
    """

    def __init__(self, out_file: str, components: int = 16,
                 module: str = 'backbone.layer1') -> None:
        from ...baselines import ChannelStats
        super().__init__(module)
        self.out_file, self.components = out_file, int(components)
        self.stats = ChannelStats()

    def _on_output(self, layer: nn.Module, args: Tuple, output: Any) -> Any:
        for fmap in self._maps(output):
            for i, (h, w) in enumerate(self._shapes):
                fh, fw = self._valid(h, w, tuple(fmap.shape[-2:]))
                self.stats.update(fmap[i, :, :fh, :fw].detach().cpu().numpy())
        return output

    def after_test(self, runner) -> None:
        super().after_test(runner)
        basis = self.stats.fit(self.components)
        basis.save(self.out_file)
        runner.logger.info(f'{type(self).__name__}: {basis.k} of {basis.channels} channels '
                           f'hold {basis.explained:.1%} of the variance over '
                           f'{self.stats.count} positions; basis written to {self.out_file}')
