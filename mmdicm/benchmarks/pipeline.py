"""End-to-end latency: bitstream -> predictions (receiver) and image -> bytes (edge), CPU::

    receiver (bytes -> predictions)
    DICM     container ─ parse ─ rANS ─ h_s ─ g_s ─►f3─ layer2..4 ─ FPN ─ RPN ─ RoI bbox/mask
    JPEG     bytes ─ cv2.imdecode ─ preprocessor ─ ResNet-50 (stem..layer4) ─ FPN ─ RPN ─ RoI
    mbt2018  strings ─ MeanScaleHyperprior.decompress ─ x_hat ─ preprocessor ─ ResNet-50 ─ ...
    cheng20  strings ─ Cheng2020Anchor.decompress (autoregressive) ─ x_hat ─ ...

The same stock Mask R-CNN R-50-FPN (random weights) behind every codec, interleaved per
repeat; every RoI head gets one common proposal set. Models, same-head-work rules, timing
and threads: ``docs/benchmarks.md``. ``tools/benchmark_pipeline.py`` runs it.
"""
import contextlib
import functools
import os
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import predict_on_features
from ..utils import check_int
from .detection import (DICM_DETECTOR_CONFIG, STOCK_DETECTOR_CONFIG, build_detector,
                        count_workload, detection_sample, fix_detection_workload,
                        fixed_proposals, instrument_detector, record_proposals)
from .utils import (Probe, Run, check_threads, cpu_model, load_average, median_run,
                    parse_size, photo, torch_threads, with_other)

__all__ = ['PIPELINE_TARGETS', 'PIPELINES', 'NESTED_STAGES', 'PIPELINE_PRESET_LIMITS',
           'build_pixel_codec', 'pipeline_targets', 'run_pipeline_benchmark',
           'run_preset_comparison']

Targets = Tuple[Tuple[str, str, float, Optional[float]], ...]

#: The issue's targets: (key, description, threshold, anchor the issue measured on this CPU
#: with a conv proxy of the DICM decoder, or None). Every value is a DICM / other time ratio.
PIPELINE_TARGETS: Targets = (
    ('receiver_vs_jpeg', 'receiver: DICM / (JPEG decode + Mask R-CNN)', 1.05, 1.09),
    ('receiver_vs_mbt2018_mean', 'receiver: DICM / (mbt2018-mean decode + Mask R-CNN)',
     0.90, 0.97),
    ('receiver_vs_cheng2020_anchor', 'receiver: DICM / (cheng2020-anchor decode + Mask R-CNN)',
     0.40, 0.41),
    ('edge_vs_mbt2018_mean', 'edge: DICM compress / mbt2018-mean compress', 1.5, None),
)

#: A codec preset's own limits where they differ from :data:`PIPELINE_TARGETS`' (the same
#: form as the codec benchmark's ``BENCHMARK_PRESET_LIMITS``): DICM-S (issue 18) is
#: edge-sized, so it must not be slower than decoding a JPEG and must compress within 1.3x
#: of mbt2018-mean.
PIPELINE_PRESET_LIMITS: Dict[str, Dict[str, float]] = {
    's': dict(receiver_vs_jpeg=1.00, receiver_vs_mbt2018_mean=0.85,
              receiver_vs_cheng2020_anchor=0.40, edge_vs_mbt2018_mean=1.3),
}


def pipeline_targets(preset: Optional[str]) -> Targets:
    """The targets the DICM detector of codec preset ``preset`` is judged by:
    :data:`PIPELINE_TARGETS` with the preset's own limits (their anchors, measured for the
    released widths, dropped)."""
    limits = PIPELINE_PRESET_LIMITS.get(preset, {})
    return tuple((key, desc, limits[key], None) if key in limits else (key, desc, limit, anchor)
                 for key, desc, limit, anchor in PIPELINE_TARGETS)


#: Pipelines in timing order; the three pixel codecs feed the stock detector.
PIPELINES = ('dicm', 'jpeg', 'mbt2018_mean', 'cheng2020_anchor')
_ZOO_NAMES = {'mbt2018_mean': 'mbt2018-mean', 'cheng2020_anchor': 'cheng2020-anchor'}

#: Stages nested in another stage (not summed into "other").
NESTED_STAGES = ('rans', 'bbox_post', 'mask_post')
#: Every side's timed runs, per pipeline.
Runs = Dict[str, Dict[str, List[Run]]]


# ---------------------------------------------------------------------------------- models
def build_pixel_codec(name: str, quality: int = 3,
                      channels: Optional[Sequence[int]] = None) -> nn.Module:
    """A CompressAI pixel codec with random weights and entropy tables, in eval mode.

    Built from the classes directly (``compressai.zoo`` would download weights), with the
    zoo's widths for ``quality``.

    Args:
        name (str): ``'mbt2018_mean'`` (``MeanScaleHyperprior``) or ``'cheng2020_anchor'``
            (``Cheng2020Anchor``).
        quality (int): Zoo quality whose widths to use (mbt2018-mean 1-8: N, M = 128, 192
            up to q4; cheng2020-anchor 1-6: N = 128 up to q3). Defaults to 3.
        channels (Sequence[int], optional): Explicit widths instead: ``(N, M)`` for
            mbt2018-mean, ``(N,)`` for cheng2020-anchor (e.g. tiny ones for tests).

    Returns:
        nn.Module: The codec, ``update(force=True)`` done.
    """
    from compressai.models import Cheng2020Anchor, MeanScaleHyperprior
    from compressai.zoo.image import cfgs

    classes = {'mbt2018_mean': MeanScaleHyperprior, 'cheng2020_anchor': Cheng2020Anchor}
    if name not in classes:
        raise ValueError(f'name must be one of {sorted(classes)}, got {name!r}')
    widths = cfgs[_ZOO_NAMES[name]]
    if channels is None:
        if quality not in widths:
            raise ValueError(f'{_ZOO_NAMES[name]} quality must be one of {sorted(widths)}, '
                             f'got {quality!r}')
        channels = widths[quality]
    channels = tuple(int(c) for c in channels)
    expected = len(next(iter(widths.values())))
    if len(channels) != expected:
        raise ValueError(f'{_ZOO_NAMES[name]} takes {expected} width(s), got {channels}')
    codec = classes[name](*channels).eval()
    codec.update(force=True)
    return codec


def _build_models(dicm_config: str, stock_config: str, dicm_cfg_options: Optional[dict],
                  stock_cfg_options: Optional[dict], test_cfg: Optional[dict],
                  codec_widths: Dict[str, Tuple[int, Optional[Sequence[int]]]],
                  seed: int) -> Tuple[nn.Module, nn.Module, Dict[str, nn.Module]]:
    """Both detectors (same seed; stock test_cfg unless overridden), their RoI workload fixed,
    and the CompressAI codecs of ``codec_widths`` (name: (quality, channels))."""
    common = dict(test_cfg=test_cfg) if test_cfg else {}
    dicm = build_detector(dicm_config, {**(dicm_cfg_options or {}), **common}, seed)
    stock = build_detector(stock_config, {**(stock_cfg_options or {}), **common}, seed)
    for det in (dicm, stock):
        fix_detection_workload(det)
    codecs = {}
    for name, (quality, channels) in codec_widths.items():
        torch.manual_seed(seed)
        codecs[name] = build_pixel_codec(name, quality, channels)
    backbone = dicm.backbone
    if getattr(backbone, 'codec', None) is None or not hasattr(backbone, 'decompress'):
        raise ValueError(f'{dicm_config}: the backbone must be a DICMResNet with a codec')
    return dicm, stock, codecs


# ---------------------------------------------------------------------------------- pipelines
class _Pipelines:
    """Every pipeline's edge (image -> bytes) and receiver (bytes -> predictions) on one image.

    ``dicm_probe`` and ``stock_probe`` time the stages (the pixel receivers add their decode
    time to ``stock_probe``); :meth:`instrument` attaches them.
    """

    def __init__(self, dicm: nn.Module, stock: nn.Module, codecs: Dict[str, nn.Module],
                 picture: Any, size: Tuple[int, int], jpeg_quality: int) -> None:
        import cv2

        self.cv2, self.dicm, self.stock, self.codecs = cv2, dicm, stock, codecs
        self.backbone = dicm.backbone
        # the image, as every sender holds it: uint8 HxWx3 (BGR for OpenCV/mmdet)
        self.rgb = np.array(picture, dtype=np.uint8)  # writable, contiguous
        self.bgr = np.ascontiguousarray(self.rgb[..., ::-1])
        self.size, self.jpeg_quality = size, jpeg_quality
        self.coded_size: Optional[Tuple[int, int]] = None  # set once DICM coded the image
        self.dicm_probe, self.stock_probe = Probe(), Probe()
        self.edges: Dict[str, Callable[[], Any]] = dict(dicm=self.dicm_edge,
                                                        jpeg=self.jpeg_edge)
        self.receivers: Dict[str, Callable[[Any], List[Any]]] = dict(
            dicm=self.dicm_receiver, jpeg=self.jpeg_receiver)
        for name, codec in codecs.items():
            self.edges[name] = functools.partial(self.pixel_edge, codec)
            self.receivers[name] = functools.partial(self.pixel_receiver, codec)

    # ---- edge: image -> bytes
    def dicm_edge(self) -> bytes:
        img = torch.from_numpy(self.bgr).permute(2, 0, 1).contiguous()
        data = self.dicm.data_preprocessor(
            dict(inputs=[img], data_samples=[detection_sample(self.size)]), False)
        return self.backbone.compress(data['inputs'])[0]

    def jpeg_edge(self) -> bytes:
        cv2 = self.cv2
        ok, buf = cv2.imencode('.jpg', self.bgr,
                               [int(cv2.IMWRITE_JPEG_QUALITY), self.jpeg_quality])
        if not ok:
            raise RuntimeError('cv2.imencode failed')
        return buf.tobytes()

    def pixel_edge(self, codec: nn.Module) -> Dict[str, Any]:
        x = torch.from_numpy(self.rgb).permute(2, 0, 1)[None].float().div_(255.0)
        # both CompressAI models have a total stride of 64: zero-pad bottom/right
        ph, pw = -self.size[0] % 64, -self.size[1] % 64
        return codec.compress(F.pad(x, (0, pw, 0, ph)) if ph or pw else x)

    # ---- receiver: bytes -> predictions
    def dicm_receiver(self, payload: bytes) -> List[Any]:
        feats = self.backbone.decompress(payload)
        return predict_on_features(self.dicm, feats,
                                   [detection_sample(self.size, self.coded_size)],
                                   self.coded_size)

    def stock_predict(self, img: torch.Tensor) -> List[Any]:
        return self.stock.test_step(dict(inputs=[img],
                                         data_samples=[detection_sample(self.size)]))

    def jpeg_receiver(self, payload: bytes) -> List[Any]:
        start = time.perf_counter()
        img = self.cv2.imdecode(np.frombuffer(payload, np.uint8), self.cv2.IMREAD_COLOR)
        img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        self.stock_probe.seconds['decode'] += time.perf_counter() - start
        return self.stock_predict(img)

    def pixel_receiver(self, codec: nn.Module, payload: Dict[str, Any]) -> List[Any]:
        start = time.perf_counter()
        x_hat = codec.decompress(payload['strings'], payload['shape'])['x_hat']
        # the decoded picture as an image file loader would give it: uint8 BGR CHW
        img = x_hat[0, :, :self.size[0], :self.size[1]].clamp(0, 1).mul(255).round()
        img = img.to(torch.uint8).flip(0).contiguous()
        self.stock_probe.seconds['decode'] += time.perf_counter() - start
        return self.stock_predict(img)

    def instrument(self) -> None:
        """Attach the stage timers (after the untimed workload pass)."""
        backbone, probe = self.backbone, self.dicm_probe
        net = backbone.codec.net
        instrument_detector(probe, self.dicm, backbone_key=None)
        probe.wrap(backbone, 'forward_head', 'head')
        probe.wrap(backbone.codec, '_edge_features', 're')
        probe.wrap(backbone.codec, 'parse', 'parse')
        probe.hook(net.g_a, 'g_a')
        probe.hook(net.h_a, 'h_a')
        probe.dicm_hyper_decoder(net)
        probe.hook(net.g_s, 'g_s')
        probe.dicm_entropy_models(net)
        if net.entropy_model == 'hyperprior':
            # CompressAI's scale -> table-index loop (~3 small ops per table entry): cheap
            # on an idle CPU, a visible cost when threads are preempted
            probe.wrap(net.gaussian_conditional, 'build_indexes', 'indexes')
        for name in backbone.res_layers[backbone.split_stage + 1:]:
            probe.hook(getattr(backbone, name), 'tail')
        instrument_detector(self.stock_probe, self.stock, backbone_key='backbone')
        for codec in self.codecs.values():
            self.stock_probe.wrap(codec, 'compress', 'encode')

    def close(self) -> None:
        self.dicm_probe.close()
        self.stock_probe.close()


# ---------------------------------------------------------------------------------- phases
def _pin_workload(pipes: _Pipelines, payloads: Dict[str, Any], pipelines: Sequence[str],
                  stack: contextlib.ExitStack) -> Dict[str, Dict[str, Any]]:
    """One proposal set for every pipeline (the stock detector's on the JPEG image), pinned
    for the rest of ``stack``; returns what each pipeline's heads then do (one untimed run)."""
    pipes.coded_size = tuple(pipes.backbone.codec.parse(payloads['dicm']).image_size)
    proposals = record_proposals(pipes.stock, lambda: pipes.jpeg_receiver(payloads['jpeg']))
    stack.enter_context(fixed_proposals(pipes.dicm, proposals))
    stack.enter_context(fixed_proposals(pipes.stock, proposals))
    return {name: count_workload(pipes.dicm if name == 'dicm' else pipes.stock,
                                 lambda: pipes.receivers[name](payloads[name]))
            for name in pipelines}


def _time_runs(pipes: _Pipelines, payloads: Dict[str, Any], pipelines: Sequence[str],
               warmup: int, repeats: int) -> Runs:
    """Every pipeline's receiver and edge, interleaved per repeat, with stage times."""
    probes = {name: pipes.dicm_probe if name == 'dicm' else pipes.stock_probe
              for name in pipelines}
    runs: Runs = {'receiver': defaultdict(list), 'edge': defaultdict(list)}
    pipes.instrument()
    try:
        for i in range(warmup + repeats):
            for side in ('receiver', 'edge'):
                for name in pipelines:
                    probe = probes[name]
                    probe.take()
                    if side == 'receiver':
                        payload = payloads[name]
                        start = time.perf_counter()
                        pipes.receivers[name](payload)
                    else:
                        start = time.perf_counter()
                        pipes.edges[name]()
                    total = time.perf_counter() - start
                    parts = probe.take()
                    if i >= warmup:
                        runs[side][name].append((total, parts))
    finally:
        pipes.close()
    return runs


def _summarize(runs: Runs, payloads: Dict[str, Any], pipelines: Sequence[str],
               pixels: int, targets: Targets) -> Dict[str, Any]:
    """``receiver`` and ``edge`` entries per pipeline, ``ratios``, ``paired_ratios``,
    ``targets`` (those of ``targets`` that were measured)."""
    def nbytes(payload: Any) -> int:
        if isinstance(payload, bytes):
            return len(payload)
        return sum(len(s[0]) for s in payload['strings'])

    result: Dict[str, Any] = dict(receiver={}, edge={})
    for side in ('receiver', 'edge'):
        for name in pipelines:
            total, parts = median_run(runs[side][name])
            every = [with_other(t, p, NESTED_STAGES) for t, p in runs[side][name]]
            entry = dict(total_s=total, parts_s=with_other(total, parts, NESTED_STAGES),
                         parts_median_s={k: float(np.median([p.get(k, 0.0) for p in every]))
                                         for k in every[0]},
                         runs_s=[t for t, _ in runs[side][name]])
            if side == 'edge':
                entry.update(bytes=nbytes(payloads[name]),
                             bpp=8.0 * nbytes(payloads[name]) / pixels)
            result[side][name] = entry
    ratios: Dict[str, float] = {}
    paired: Dict[str, float] = {}
    for side in ('receiver', 'edge'):
        dicm_runs = result[side]['dicm']['runs_s']
        for name in pipelines[1:]:
            key = f'{side}_vs_{name}'
            ratios[key] = result[side]['dicm']['total_s'] / result[side][name]['total_s']
            per_run = [a / b for a, b in zip(dicm_runs, result[side][name]['runs_s'])]
            paired[key] = float(np.median(per_run))
    result['ratios'] = ratios
    result['paired_ratios'] = paired
    result['targets'] = [
        dict(key=key, description=desc, value=ratios[key], paired_value=paired[key],
             target=limit, anchor=anchor, passed=bool(ratios[key] <= limit))
        for key, desc, limit, anchor in targets if key in ratios]
    return result


def _check_args(size: Union[int, str, Tuple[int, int]], repeats: int, warmup: int,
                threads: Optional[int], jpeg_quality: int) -> Tuple[int, int]:
    """Every argument checked; the size as ``(H, W)``."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    elif isinstance(size, str):
        size = (int(size),) * 2 if size.isdigit() else parse_size(size)
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'size must be N, "HxW" or (H, W) with positive sides, got {size!r}')
    check_int('repeats', repeats)
    check_int('warmup', warmup, 0)
    check_threads(threads)
    if not 0 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in [0, 100], got {jpeg_quality!r}')
    return size


def _widths(codec: Optional[nn.Module], *names: str) -> Optional[List[int]]:
    return None if codec is None else [int(getattr(codec, n)) for n in names]


def _plain(value: Any) -> Any:
    """mmengine ConfigDicts / tuples -> plain json-able dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _environment(pipes: _Pipelines, repeats: int, warmup: int, seed: int, image: str,
                 mbt_quality: int, cheng_quality: int, dicm_config: str,
                 stock_config: str) -> Dict[str, Any]:
    """Versions, machine, settings and the load average before timing."""
    import compressai
    import cv2
    import mmdet

    codecs = pipes.codecs
    return dict(torch=torch.__version__, compressai=compressai.__version__,
                mmdet=mmdet.__version__, opencv=cv2.__version__,
                threads=torch.get_num_threads(), opencv_threads=cv2.getNumThreads(),
                cpu=cpu_model(), cpu_count=os.cpu_count(), repeats=repeats,
                warmup=warmup, seed=seed, image=image, jpeg_quality=pipes.jpeg_quality,
                mbt_channels=_widths(codecs.get('mbt2018_mean'), 'N', 'M'),
                cheng_channels=_widths(codecs.get('cheng2020_anchor'), 'N'),
                mbt_quality=mbt_quality, cheng_quality=cheng_quality,
                dicm_config=dicm_config, stock_config=stock_config,
                codec_preset=pipes.backbone.codec.preset,
                codec_net=_plain(pipes.backbone.codec.net.config),
                coded_size=list(pipes.coded_size),
                test_cfg=_plain(pipes.stock.test_cfg), load_before=load_average())


# ---------------------------------------------------------------------------------- benchmark
def run_pipeline_benchmark(size: Union[int, str, Tuple[int, int]] = 512,
                           repeats: int = 5,
                           warmup: int = 1,
                           threads: Optional[int] = None,
                           cheng2020: bool = True,
                           dicm_config: str = DICM_DETECTOR_CONFIG,
                           stock_config: str = STOCK_DETECTOR_CONFIG,
                           dicm_cfg_options: Optional[Dict[str, Any]] = None,
                           stock_cfg_options: Optional[Dict[str, Any]] = None,
                           test_cfg: Optional[Dict[str, Any]] = None,
                           mbt_quality: int = 3,
                           cheng_quality: int = 3,
                           mbt_channels: Optional[Sequence[int]] = None,
                           cheng_channels: Optional[Sequence[int]] = None,
                           jpeg_quality: int = 90,
                           image: str = 'astronaut',
                           seed: int = 0) -> Dict[str, Any]:
    """Time bitstream -> predictions and image -> bytes for DICM and three pixel codecs.

    Args:
        size (int | str | tuple): Image size: ``512``, ``'512x512'`` or ``(H, W)``. Every
            pipeline sees this very image (no test-pipeline resize). Defaults to 512.
        repeats (int): Timed runs per pipeline; the median run is reported. Defaults to 5.
        warmup (int): Untimed runs first. Defaults to 1.
        threads (int, optional): ``torch.set_num_threads`` for the run (restored afterwards).
            Defaults to None (torch's own setting).
        cheng2020 (bool): Include cheng2020-anchor (its autoregressive coding is slow).
            Defaults to True.
        dicm_config (str): DICM detector config. Defaults to ``configs/mask-rcnn_dicm.py``.
        stock_config (str): Stock detector config. Defaults to mmdet's Mask R-CNN R-50-FPN.
        dicm_cfg_options (dict, optional): Nested ``model`` overrides of the DICM detector.
        stock_cfg_options (dict, optional): Nested ``model`` overrides of the stock detector.
        test_cfg (dict, optional): Nested ``model.test_cfg`` overrides applied to *both*
            detectors (default: the stock test_cfg).
        mbt_quality (int): Zoo quality for mbt2018-mean's widths. Defaults to 3.
        cheng_quality (int): Zoo quality for cheng2020-anchor's widths. Defaults to 3.
        mbt_channels (Sequence[int], optional): ``(N, M)`` instead of the quality's widths.
        cheng_channels (Sequence[int], optional): ``(N,)`` instead of the quality's width.
        jpeg_quality (int): OpenCV JPEG quality. Defaults to 90.
        image (str): ``skimage.data`` photo, resized (bicubic) to ``size``. Defaults to
            ``'astronaut'``.
        seed (int): Seed of the random weights. Defaults to 0.

    Returns:
        dict: ``env`` (versions, threads, CPU, load averages, settings), ``size``,
        ``workload`` (proposals / detections per pipeline), ``receiver`` and ``edge`` (per
        pipeline: ``total_s`` of the median run, its ``parts_s``, every run's ``runs_s``;
        edge also ``bytes``, ``bpp``), ``ratios`` (DICM / other, of the medians),
        ``paired_ratios`` (median of per-repeat ratios) and ``targets`` (``key``,
        ``description``, ``value``, ``paired_value``, ``target``, ``anchor``, ``passed``;
        the codec preset's own, :func:`pipeline_targets`). Times in seconds.
    """
    size = _check_args(size, repeats, warmup, threads, jpeg_quality)
    pipelines = [p for p in PIPELINES if cheng2020 or p != 'cheng2020_anchor']
    widths = dict(mbt2018_mean=(mbt_quality, mbt_channels),
                  cheng2020_anchor=(cheng_quality, cheng_channels))
    with torch_threads(threads):
        dicm, stock, codecs = _build_models(
            dicm_config, stock_config, dicm_cfg_options, stock_cfg_options, test_cfg,
            {p: widths[p] for p in pipelines if p in widths}, seed)
        pipes = _Pipelines(dicm, stock, codecs, photo(image, size), size, jpeg_quality)
        with torch.inference_mode(), contextlib.ExitStack() as stack:
            payloads = {name: pipes.edges[name]() for name in pipelines}
            workload = _pin_workload(pipes, payloads, pipelines, stack)
            env = _environment(pipes, repeats, warmup, seed, image, mbt_quality,
                               cheng_quality, dicm_config, stock_config)
            runs = _time_runs(pipes, payloads, pipelines, warmup, repeats)
            env['load_after'] = load_average()
    return dict(env=env, size=list(size), workload=workload,
                **_summarize(runs, payloads, pipelines, size[0] * size[1],
                             pipeline_targets(env['codec_preset'])))


def run_preset_comparison(presets: Sequence[str] = ('release', 's'),
                          **kwargs: Any) -> Dict[str, Any]:
    """:func:`run_pipeline_benchmark` once per codec preset, in one process: the DICM
    detector's ``model.backbone.codec.preset`` set to each (over ``dicm_cfg_options``), every
    pixel-codec pipeline timed again beside it, so each preset's ratios have baselines from
    the same minutes.

    Args:
        presets (Sequence[str]): :data:`~mmdicm.codec.CODEC_PRESETS` keys, distinct.
            Defaults to ``('release', 's')`` (the default preset and DICM-S).
        **kwargs: :func:`run_pipeline_benchmark` arguments, the same for every preset.

    Returns:
        dict: ``presets``: each preset's :func:`run_pipeline_benchmark` result.
    """
    from ..codec.feature_codec import check_presets

    presets = check_presets(presets)
    base = dict(kwargs.pop('dicm_cfg_options', None) or {})
    results = {}
    for preset in presets:
        backbone = dict(base.get('backbone', {}))
        backbone['codec'] = {**backbone.get('codec', {}), 'preset': preset}
        results[preset] = run_pipeline_benchmark(
            dicm_cfg_options={**base, 'backbone': backbone}, **kwargs)
    return dict(presets=results)
