"""End-to-end latency: bitstream -> predictions (receiver) and image -> bytes (edge), CPU.

DICM sends *features*; a pixel codec sends an image that the receiver decodes and then runs
the whole detector on. This benchmark times both deployments of the same Mask R-CNN R-50-FPN
(mmdet's stock config, same neck and heads) in one run, interleaved per repeat so a busy
machine slows every pipeline alike::

    receiver (bytes -> predictions)
    DICM     container ─ parse ─ rANS ─ h_s ─ g_s ─►f3─ layer2..4 ─ FPN ─ RPN ─ RoI bbox/mask
    JPEG     bytes ─ cv2.imdecode ─ preprocessor ─ ResNet-50 (stem..layer4) ─ FPN ─ RPN ─ RoI
    mbt2018  strings ─ MeanScaleHyperprior.decompress ─ x_hat ─ preprocessor ─ ResNet-50 ─ ...
    cheng20  strings ─ Cheng2020Anchor.decompress (autoregressive) ─ x_hat ─ ...

    edge (image -> bytes)
    DICM     uint8 image ─ preprocessor ─ stem+layer1 ─ RE ─ g_a ─ h_a ─ h_s ─ rANS ─ container
    JPEG     uint8 image ─ cv2.imencode (quality 90)
    mbt2018  uint8 image ─ /255 ─ MeanScaleHyperprior.compress
    cheng20  uint8 image ─ /255 ─ Cheng2020Anchor.compress

**Models.** Random weights everywhere (nothing pretrained exists offline, and no hub access):
the DICM detector from ``configs/mask-rcnn_dicm.py`` (``real_coding=True``), the stock one
from ``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py``, both with ``init_cfg=None``;
CompressAI's ``MeanScaleHyperprior`` (the ``mbt2018-mean`` architecture) and
``Cheng2020Anchor`` built directly with the zoo's widths for the chosen quality (q=3:
N=128, M=192 and N=128), ``update()`` called. Times are those of the real architectures;
byte counts are not those of trained models.

**Receiver path of DICM** is the one ``tools/analyze.py`` runs: ``backbone.decompress`` (parse
+ CRC, entropy decode, codec decoder, ResNet tail), then the detector's *unchanged*
``predict`` (neck, RPN, RoI heads, post-processing) on a zero-memory placeholder input while
the backbone's forward returns the decoded features (:func:`backbone_returns`). The pixel
pipelines call the stock ``test_step`` (data preprocessor included) on the decoded image as
a uint8 BGR CHW tensor, what ``PackDetInputs`` hands the model.

**Same head work.** RoI-head cost depends on the boxes (how many reach NMS and the mask head,
and their sizes: mmdet's RoIAlign samples adaptively, ``sampling_ratio=0``), and random weights
give each detector its own boxes: at 512x512 on one thread, the same 1000-proposal bbox head
took 1.16 s on one pipeline's proposals and 1.66 s on another's (0.9-1.0 s on the common set
below). And with random weights the stock
``test_cfg`` (score_thr 0.05) gives no detections at all (no mask work), while score_thr 0
sends 1000 x 80 boxes through per-class NMS (seconds no trained model spends). So the
test_cfg stays stock (RPN nms_pre 1000, max_per_img 1000, NMS 0.7; RoI score_thr 0.05,
NMS 0.5, max_per_img 100), and

- :func:`fix_detection_workload` makes each detector's random box head feature-independent:
  classifier weights zero with a bias favouring one class (every proposal scores ~1 for it,
  ~0 for the others: one NMS candidate per proposal) and box regression zero (detections are
  proposals);
- :class:`fixed_proposals`: the RPN of every pipeline runs in full (head convs, decoding, NMS),
  then hands the RoI heads one common proposal set: the stock detector's own proposals on the
  JPEG-decoded image.

Every pipeline thus runs RoIAlign, the box head, multiclass NMS, the mask head and mask
pasting on the very same boxes (``max_per_img`` detections when at least that many survive
NMS). The counts and the mean detection box area of every pipeline are measured and reported.

**Timing.** The wall time of the median run of ``repeats`` after ``warmup`` untimed runs
(the lower median for an even count, so its stage times add up to its total), eval mode,
``torch.inference_mode()``, one thread setting for all. Ratios are of those medians; the
median of the per-repeat (paired) ratios is reported next to them as a load-robust check.
Stage times come from forward hooks and wrapped calls (:class:`~.benchmark._Probe`); each
stage's median over the repeats is reported next to the median run's own stages.

**Threads on a shared machine.** With as many torch threads as cores and other jobs running,
every small parallel op can wait a scheduler time slice for its preempted partner thread
(CompressAI's ``build_indexes`` loop went from 10 ms to 2-3 s that way, whole runs of one
pipeline from 5 s to 13 s): ``threads=1`` gives stable ratios there; compare a ``threads=2``
run only on an idle machine.
"""
import contextlib
import os
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .benchmark import _load_average, _photo, _Probe, cpu_model, parse_size

__all__ = ['PIPELINE_TARGETS', 'DICM_DETECTOR_CONFIG', 'STOCK_DETECTOR_CONFIG',
           'PIPELINES', 'backbone_returns', 'build_detector', 'build_pixel_codec',
           'fix_detection_workload', 'fixed_proposals', 'run_pipeline_benchmark',
           'format_pipeline_benchmark']

#: The issue's targets: (key, description, threshold, anchor the issue measured on this CPU
#: with a conv proxy of the DICM decoder, or None). Every value is a DICM / other time ratio.
PIPELINE_TARGETS: Tuple[Tuple[str, str, float, Optional[float]], ...] = (
    ('receiver_vs_jpeg', 'receiver: DICM / (JPEG decode + Mask R-CNN)', 1.05, 1.09),
    ('receiver_vs_mbt2018_mean', 'receiver: DICM / (mbt2018-mean decode + Mask R-CNN)',
     0.90, 0.97),
    ('receiver_vs_cheng2020_anchor', 'receiver: DICM / (cheng2020-anchor decode + Mask R-CNN)',
     0.40, 0.41),
    ('edge_vs_mbt2018_mean', 'edge: DICM compress / mbt2018-mean compress', 1.5, None),
)

DICM_DETECTOR_CONFIG = 'mmdicm::dicm/mask-rcnn_dicm.py'
STOCK_DETECTOR_CONFIG = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

#: Pipelines in timing order; the three pixel codecs feed the stock detector.
PIPELINES = ('dicm', 'jpeg', 'mbt2018_mean', 'cheng2020_anchor')
_LABELS = {'dicm': 'DICM', 'jpeg': 'JPEG', 'mbt2018_mean': 'mbt2018-mean',
           'cheng2020_anchor': 'cheng2020-anchor'}
_ZOO_NAMES = {'mbt2018_mean': 'mbt2018-mean', 'cheng2020_anchor': 'cheng2020-anchor'}

# Stages nested in another stage (not summed into "other").
_NESTED = ('rans', 'bbox_post', 'mask_post')


# ---------------------------------------------------------------------------------- models
def _load_config(path: str) -> Any:
    """A config file, or a package-scoped one (``mmdet::...``, ``mmdicm::dicm/...``)."""
    from mmengine.config import Config
    if '::' in path:
        from mmengine.hub import get_config
        return get_config(path)
    return Config.fromfile(path)


def build_detector(config: str, cfg_options: Optional[Dict[str, Any]] = None,
                   seed: int = 0) -> nn.Module:
    """Build an mmdet detector of ``config`` with random weights, in eval mode.

    ``model.backbone.init_cfg`` is set to None (no pretrained weights are fetched; weights are
    not initialised beyond the modules' own constructors either). A DICM backbone gets its
    entropy tables with ``update(force=True)``.

    Args:
        config (str): Config file or package-scoped path (``mmdet::...``,
            ``mmdicm::dicm/...``; ``import mmdicm`` makes the latter resolvable).
        cfg_options (dict, optional): Nested overrides merged into the config's ``model``
            (e.g. ``dict(backbone=dict(depth=18))``). Defaults to None.
        seed (int): ``torch.manual_seed`` before building. Defaults to 0.

    Returns:
        nn.Module: The detector, in eval mode.
    """
    from mmengine.registry import MODELS, DefaultScope

    if cfg_options is not None and not isinstance(cfg_options, dict):
        raise TypeError(f'cfg_options must be a dict of model overrides, got {cfg_options!r}')
    cfg = _load_config(config)
    cfg.merge_from_dict(dict(model=dict(backbone=dict(init_cfg=None))))
    if cfg_options:
        cfg.merge_from_dict(dict(model=cfg_options))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    model.eval()
    if hasattr(model.backbone, 'update') and getattr(model.backbone, 'codec', None) is not None:
        model.backbone.update(force=True)
    return model


def fix_detection_workload(detector: nn.Module, class_index: int = 0,
                           logit: float = 20.0) -> None:
    """Make a random-weight two-stage detector do a fixed amount of RoI-head work.

    Sets the box classifier (``roi_head.bbox_head.fc_cls``) to zero weights and a bias of
    ``logit`` for ``class_index`` (0 elsewhere): every proposal scores ~1 for that class and
    ~``exp(-logit)`` for the others, independent of the features. Box regression
    (``fc_reg``) becomes zero: detections are the proposals themselves. With the stock
    test_cfg, multiclass NMS then sees one candidate per proposal and keeps up to
    ``max_per_img``; the mask head runs on exactly those boxes.

    Args:
        detector (nn.Module): An mmdet two-stage detector with a ``roi_head.bbox_head``
            holding an ``fc_cls`` linear layer (Mask / Faster R-CNN).
        class_index (int): The class every proposal is given. Defaults to 0.
        logit (float): Its logit; the softmax of the others is ``~exp(-logit)``, far below
            any score threshold. Defaults to 20.
    """
    head = getattr(getattr(detector, 'roi_head', None), 'bbox_head', None)
    fc_cls = getattr(head, 'fc_cls', None)
    if not isinstance(fc_cls, nn.Linear):
        raise TypeError(f'{type(detector).__name__} has no roi_head.bbox_head.fc_cls linear '
                        'classifier (a two-stage detector such as Mask R-CNN is expected)')
    if not 0 <= class_index < fc_cls.out_features - 1:  # the last output is background
        raise ValueError(f'class_index must be in [0, {fc_cls.out_features - 2}], '
                         f'got {class_index!r}')
    with torch.no_grad():
        fc_cls.weight.zero_()
        fc_cls.bias.zero_()
        fc_cls.bias[class_index] = float(logit)
        fc_reg = getattr(head, 'fc_reg', None)
        if isinstance(fc_reg, nn.Linear):
            fc_reg.weight.zero_()
            fc_reg.bias.zero_()


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


# ---------------------------------------------------------------------------------- helpers
class backbone_returns:  # noqa: N801  (a context manager, used like a function)
    """Within the block, ``backbone(x)`` returns ``features`` instead of computing them.

    Lets a stock detector run its unchanged ``predict`` on features decoded from a bitstream
    (the mechanism of :func:`mmdicm.apis.deploy.inject_backbone_features`): an instance-level
    ``forward`` override, removed on exit, also on error. Forward hooks on the backbone
    still fire.

    Args:
        backbone (nn.Module): The detector's backbone.
        features (tuple[Tensor]): What its forward returns (e.g. ``backbone.decompress(...)``).
    """

    def __init__(self, backbone: nn.Module, features: Tuple[torch.Tensor, ...]) -> None:
        self.backbone = backbone
        self.features = tuple(features)

    def __enter__(self) -> None:
        if 'forward' in vars(self.backbone):
            raise RuntimeError('the backbone already has an instance-level forward override')
        features = self.features
        batch = features[0].shape[0]

        def forward(x: torch.Tensor, *args: Any, **kwargs: Any) -> Tuple[torch.Tensor, ...]:
            if x.shape[0] != batch:
                raise RuntimeError(f'the features are for a batch of {batch}, the model '
                                   f'asked for {x.shape[0]}')
            return features

        self.backbone.forward = forward

    def __exit__(self, *exc: Any) -> None:
        del self.backbone.forward


class fixed_proposals:  # noqa: N801  (a context manager, used like a function)
    """Within the block, the detector's RPN runs in full but returns ``proposals``.

    Wraps ``rpn_head.predict_by_feat`` (box decoding + NMS: its cost is kept) by an instance
    attribute, removed on exit; every call returns fresh copies of ``proposals``, so every
    pipeline's RoI heads work on the same boxes.

    Args:
        detector (nn.Module): A two-stage mmdet detector (``rpn_head``).
        proposals (list[InstanceData]): One per image, with ``bboxes`` (and ``scores``).
    """

    def __init__(self, detector: nn.Module, proposals: Sequence[Any]) -> None:
        self.head = detector.rpn_head
        self.proposals = list(proposals)

    def __enter__(self) -> None:
        if 'predict_by_feat' in vars(self.head):
            raise RuntimeError('rpn_head.predict_by_feat is already overridden')
        original = self.head.predict_by_feat
        proposals = self.proposals

        def predict_by_feat(*args: Any, **kwargs: Any) -> List[Any]:
            out = original(*args, **kwargs)
            if len(out) != len(proposals):
                raise RuntimeError(f'fixed proposals are for {len(proposals)} images, the '
                                   f'RPN predicted {len(out)}')
            return [_copy_instances(p) for p in proposals]

        self.head.predict_by_feat = predict_by_feat

    def __exit__(self, *exc: Any) -> None:
        del self.head.predict_by_feat


def _copy_instances(instances: Any) -> Any:
    copy = instances.new()
    for key, value in instances.items():
        copy[key] = value.clone() if torch.is_tensor(value) else value
    return copy


def _sample(size: Tuple[int, int], padded: Optional[Tuple[int, int]] = None) -> Any:
    """A data sample for a ``size`` image at scale 1; ``padded`` also sets what the data
    preprocessor would (``batch_input_shape``, ``pad_shape``), for the DICM receiver."""
    from mmdet.structures import DetDataSample

    meta = dict(img_shape=tuple(size), ori_shape=tuple(size), scale_factor=(1.0, 1.0))
    if padded is not None:
        meta.update(batch_input_shape=tuple(padded), pad_shape=tuple(padded))
    return DetDataSample(metainfo=meta)


def _median_run(runs: List[Tuple[float, Dict[str, float]]]) -> Tuple[float, Dict[str, float]]:
    """The median run (the lower one of two for an even count): its stage times add up to its
    total, which per-stage medians would not."""
    ordered = sorted(runs, key=lambda run: run[0])
    return ordered[(len(ordered) - 1) // 2]


def _with_other(total: float, parts: Dict[str, float]) -> Dict[str, float]:
    parts = dict(parts)
    parts['other'] = total - sum(v for k, v in parts.items() if k not in _NESTED)
    return parts


def _instrument_detector(probe: _Probe, model: nn.Module, backbone_key: Optional[str]) -> None:
    """Stage timers on a detector: preprocessor, backbone, neck, RPN, RoI bbox and mask
    (each with its post-processing: NMS, mask pasting)."""
    probe.hook(model.data_preprocessor, 'preprocess')
    if backbone_key is not None:
        probe.hook(model.backbone, backbone_key)
    probe.hook(model.neck, 'neck')
    probe.wrap(model.rpn_head, 'predict', 'rpn')
    probe.wrap(model.roi_head, 'predict_bbox', 'roi_bbox')
    probe.wrap(model.roi_head.bbox_head, 'predict_by_feat', 'bbox_post')
    if getattr(model.roi_head, 'with_mask', False):
        probe.wrap(model.roi_head, 'predict_mask', 'roi_mask')
        probe.wrap(model.roi_head.mask_head, 'predict_by_feat', 'mask_post')


def _capture_proposals(model: nn.Module, run: Callable[[], Any]) -> List[Any]:
    """The RPN's proposals (``rpn_head.predict_by_feat`` output) of one untimed run."""
    captured: List[Any] = []
    original = model.rpn_head.predict_by_feat

    def predict_by_feat(*args: Any, **kwargs: Any) -> List[Any]:
        out = original(*args, **kwargs)
        captured[:] = [_copy_instances(p) for p in out]
        return out

    model.rpn_head.predict_by_feat = predict_by_feat
    try:
        run()
    finally:
        del model.rpn_head.predict_by_feat
    return captured


def _count_workload(model: nn.Module, run: Callable[[], Any]) -> Dict[str, Any]:
    """Proposals (RPN output), detections, masks and the detections' mean box area (pixels)
    of one untimed run."""
    counts: Dict[str, Any] = {}
    original = model.rpn_head.predict

    def predict(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        counts['proposals'] = int(sum(len(r) for r in out))
        return out

    model.rpn_head.predict = predict
    try:
        samples = run()
    finally:
        del model.rpn_head.predict
    counts['detections'] = int(sum(len(s.pred_instances) for s in samples))
    if 'masks' in samples[0].pred_instances:
        counts['masks'] = int(sum(len(s.pred_instances.masks) for s in samples))
    boxes = torch.cat([s.pred_instances.bboxes for s in samples])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    counts['mean_box_area'] = round(float(areas.mean()), 1) if len(areas) else 0.0
    return counts


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
        ``description``, ``value``, ``paired_value``, ``target``, ``anchor``, ``passed``).
        Times in seconds.
    """
    import compressai
    import cv2
    import mmdet

    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    elif isinstance(size, str):
        size = (int(size),) * 2 if size.isdigit() else parse_size(size)
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'size must be N, "HxW" or (H, W) with positive sides, got {size!r}')
    for name, value, low in (('repeats', repeats, 1), ('warmup', warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f'threads must be an int >= 1 or None, got {threads!r}')
    if not 0 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality must be in [0, 100], got {jpeg_quality!r}')
    pipelines = [p for p in PIPELINES if cheng2020 or p != 'cheng2020_anchor']
    pixel_codecs = [p for p in pipelines if p in _ZOO_NAMES]

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        # ---- models (same seed for both detectors; stock test_cfg unless overridden)
        common = dict(test_cfg=test_cfg) if test_cfg else {}
        dicm = build_detector(dicm_config, {**(dicm_cfg_options or {}), **common}, seed)
        stock = build_detector(stock_config, {**(stock_cfg_options or {}), **common}, seed)
        for det in (dicm, stock):
            fix_detection_workload(det)
        codecs = {}
        for name in pixel_codecs:
            torch.manual_seed(seed)
            quality = mbt_quality if name == 'mbt2018_mean' else cheng_quality
            chans = mbt_channels if name == 'mbt2018_mean' else cheng_channels
            codecs[name] = build_pixel_codec(name, quality, chans)
        backbone = dicm.backbone
        if getattr(backbone, 'codec', None) is None or not hasattr(backbone, 'decompress'):
            raise ValueError(f'{dicm_config}: the backbone must be a DICMResNet with a codec')

        # ---- the image, as every sender holds it: uint8 HxWx3 (BGR for OpenCV/mmdet)
        rgb = np.array(_photo(image, size), dtype=np.uint8)  # writable, contiguous
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        pixels = size[0] * size[1]

        # ---- edge: image -> bytes
        def dicm_edge() -> bytes:
            img = torch.from_numpy(bgr).permute(2, 0, 1).contiguous()
            data = dicm.data_preprocessor(dict(inputs=[img], data_samples=[_sample(size)]),
                                          False)
            return backbone.compress(data['inputs'])[0]

        def jpeg_edge() -> bytes:
            ok, buf = cv2.imencode('.jpg', bgr, [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality])
            if not ok:
                raise RuntimeError('cv2.imencode failed')
            return buf.tobytes()

        def pixel_edge(codec: nn.Module) -> Callable[[], Dict[str, Any]]:
            def run() -> Dict[str, Any]:
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255.0)
                # both CompressAI models have a total stride of 64: zero-pad bottom/right
                ph, pw = -size[0] % 64, -size[1] % 64
                return codec.compress(F.pad(x, (0, pw, 0, ph)) if ph or pw else x)
            return run

        # ---- receiver: bytes -> predictions
        def dicm_receiver(payload: bytes) -> List[Any]:
            feats = backbone.decompress(payload)
            h, w = coded_size
            placeholder = feats[0].new_zeros(1, 3, 1, 1).expand(1, 3, h, w)  # no pixels
            with backbone_returns(backbone, feats):
                return dicm(placeholder, [_sample(size, coded_size)], mode='predict')

        def stock_predict(img: torch.Tensor) -> List[Any]:
            return stock.test_step(dict(inputs=[img], data_samples=[_sample(size)]))

        def jpeg_receiver(payload: bytes) -> List[Any]:
            start = time.perf_counter()
            img = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
            img = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
            stock_probe.seconds['decode'] += time.perf_counter() - start
            return stock_predict(img)

        def pixel_receiver(codec: nn.Module) -> Callable[[Dict[str, Any]], List[Any]]:
            def run(payload: Dict[str, Any]) -> List[Any]:
                start = time.perf_counter()
                x_hat = codec.decompress(payload['strings'], payload['shape'])['x_hat']
                # the decoded picture as an image file loader would give it: uint8 BGR CHW
                img = x_hat[0, :, :size[0], :size[1]].clamp(0, 1).mul(255).round()
                img = img.to(torch.uint8).flip(0).contiguous()
                stock_probe.seconds['decode'] += time.perf_counter() - start
                return stock_predict(img)
            return run

        edges: Dict[str, Callable[[], Any]] = dict(dicm=dicm_edge, jpeg=jpeg_edge)
        receivers: Dict[str, Callable[[Any], List[Any]]] = dict(dicm=dicm_receiver,
                                                                jpeg=jpeg_receiver)
        for name, codec in codecs.items():
            edges[name] = pixel_edge(codec)
            receivers[name] = pixel_receiver(codec)

        def nbytes(payload: Any) -> int:
            if isinstance(payload, bytes):
                return len(payload)
            return sum(len(s[0]) for s in payload['strings'])

        # stage timers (the receivers add their decode time to them); attached after the
        # untimed workload pass below
        dicm_probe, stock_probe = _Probe(), _Probe()

        with torch.inference_mode(), contextlib.ExitStack() as stack:
            payloads = {name: edges[name]() for name in pipelines}
            coded_size = tuple(backbone.codec.parse(payloads['dicm']).image_size)
            # one proposal set for every pipeline: the stock detector's on the JPEG image
            proposals = _capture_proposals(stock, lambda: jpeg_receiver(payloads['jpeg']))
            stack.enter_context(fixed_proposals(dicm, proposals))
            stack.enter_context(fixed_proposals(stock, proposals))
            workload = {name: _count_workload(dicm if name == 'dicm' else stock,
                                              lambda: receivers[name](payloads[name]))
                        for name in pipelines}

            env = dict(torch=torch.__version__, compressai=compressai.__version__,
                       mmdet=mmdet.__version__, opencv=cv2.__version__,
                       threads=torch.get_num_threads(), opencv_threads=cv2.getNumThreads(),
                       cpu=cpu_model(), cpu_count=os.cpu_count(), repeats=repeats,
                       warmup=warmup, seed=seed, image=image, jpeg_quality=jpeg_quality,
                       mbt_channels=_widths(codecs.get('mbt2018_mean'), 'N', 'M'),
                       cheng_channels=_widths(codecs.get('cheng2020_anchor'), 'N'),
                       mbt_quality=mbt_quality, cheng_quality=cheng_quality,
                       dicm_config=dicm_config, stock_config=stock_config,
                       coded_size=list(coded_size),
                       test_cfg=_plain(stock.test_cfg), load_before=_load_average())

            # ---- stage timers
            net = backbone.codec.net
            _instrument_detector(dicm_probe, dicm, backbone_key=None)
            dicm_probe.wrap(backbone, 'forward_head', 'head')
            dicm_probe.wrap(backbone.codec, '_edge_features', 're')
            dicm_probe.wrap(backbone.codec, 'parse', 'parse')
            dicm_probe.hook(net.g_a, 'g_a')
            dicm_probe.hook(net.h_a, 'h_a')
            dicm_probe.wrap(net, 'gaussian_params', 'h_s')
            dicm_probe.hook(net.g_s, 'g_s')
            dicm_probe.entropy_models(net)
            # CompressAI's scale -> table-index loop (~3 small ops per table entry): cheap on
            # an idle CPU, a visible cost when threads are preempted
            dicm_probe.wrap(net.gaussian_conditional, 'build_indexes', 'indexes')
            for name in backbone.res_layers[backbone.split_stage + 1:]:
                dicm_probe.hook(getattr(backbone, name), 'tail')
            _instrument_detector(stock_probe, stock, backbone_key='backbone')
            for codec in codecs.values():
                stock_probe.wrap(codec, 'compress', 'encode')
            probes = {name: dicm_probe if name == 'dicm' else stock_probe
                      for name in pipelines}

            runs: Dict[str, Dict[str, List[Tuple[float, Dict[str, float]]]]] = {
                'receiver': defaultdict(list), 'edge': defaultdict(list)}
            try:
                for i in range(warmup + repeats):
                    for side in ('receiver', 'edge'):
                        for name in pipelines:
                            probe = probes[name]
                            probe.take()
                            if side == 'receiver':
                                payload = payloads[name]
                                start = time.perf_counter()
                                receivers[name](payload)
                            else:
                                start = time.perf_counter()
                                edges[name]()
                            total = time.perf_counter() - start
                            parts = probe.take()
                            if i >= warmup:
                                runs[side][name].append((total, parts))
            finally:
                dicm_probe.close()
                stock_probe.close()
            env['load_after'] = _load_average()
    finally:
        torch.set_num_threads(old_threads)

    result: Dict[str, Any] = dict(env=env, size=list(size), workload=workload,
                                  receiver={}, edge={})
    for side in ('receiver', 'edge'):
        for name in pipelines:
            total, parts = _median_run(runs[side][name])
            every = [_with_other(t, p) for t, p in runs[side][name]]
            entry = dict(total_s=total, parts_s=_with_other(total, parts),
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
        for key, desc, limit, anchor in PIPELINE_TARGETS if key in ratios]
    return result


def _widths(codec: Optional[nn.Module], *names: str) -> Optional[List[int]]:
    return None if codec is None else [int(getattr(codec, n)) for n in names]


def _plain(value: Any) -> Any:
    """mmengine ConfigDicts / tuples -> plain json-able dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------- report
_RECEIVER_STAGES = {
    'dicm': (('parse', 'container parse + CRC'), ('entropy', 'entropy decode (EB+GC)'),
             ('rans', '  of which rANS coder calls'), ('h_s', 'codec decoder: h_s (float64)'),
             ('indexes', 'GC build_indexes (scale table)'),
             ('g_s', 'codec decoder: g_s'), ('tail', 'ResNet tail (layer2..4)')),
    'pixel': (('decode', 'image decode (+ to uint8 tensor)'), ('preprocess', 'data preprocessor'),
              ('backbone', 'ResNet backbone (stem..layer4)')),
}
_HEAD_STAGES = (('neck', 'FPN'), ('rpn', 'RPN (incl. proposal NMS)'),
                ('roi_bbox', 'RoI bbox head (incl. NMS)'), ('bbox_post', '  of which post-proc'),
                ('roi_mask', 'RoI mask head (incl. paste)'),
                ('mask_post', '  of which post-proc'), ('other', 'other (glue)'))
_EDGE_STAGES = {
    'dicm': (('preprocess', 'data preprocessor'), ('head', 'ResNet stem + layer1'),
             ('re', 'RE (encoder_RE, Q, decoder_RE)'), ('g_a', 'g_a'), ('h_a', 'h_a'),
             ('h_s', 'h_s (float64)'), ('indexes', 'GC build_indexes (scale table)'),
             ('entropy', 'entropy (EB+GC)'),
             ('rans', '  of which rANS coder calls'), ('other', 'other (container, glue)')),
}


def format_pipeline_benchmark(result: Dict[str, Any]) -> str:
    """Render :func:`run_pipeline_benchmark`'s result: totals, ratios vs targets, stages."""
    env = result['env']
    h, w = result['size']
    names = list(result['receiver'])

    def ms(v: float) -> str:
        return f'{1e3 * v:.1f}'

    lines = [
        f'DICM pipeline latency benchmark at {h}x{w} (random weights: the architectures\' '
        'times; bytes are not trained models\')',
        f'CPU: {env["cpu"]} ({env["cpu_count"]} logical)   torch threads: {env["threads"]}   '
        f'OpenCV threads: {env["opencv_threads"]}   torch {env["torch"]}   mmdet '
        f'{env["mmdet"]}   compressai {env["compressai"]}',
        f'repeats: {env["repeats"]} (+{env["warmup"]} warm-up, median run)   '
        f'load average (1/5/15 min) before: {env["load_before"]}   after: '
        f'{env.get("load_after")}',
        f'mbt2018-mean N,M={env["mbt_channels"]}   cheng2020-anchor N={env["cheng_channels"]}'
        f'   JPEG quality {env["jpeg_quality"]} (OpenCV)   image: skimage {env["image"]}',
        'Heads: stock Mask R-CNN test_cfg; every RPN runs, then all RoI heads get one common '
        'proposal set; random box head made',
        'feature-independent (one class, no regression): same RoI/NMS/mask work for all '
        '(see the module docstring).',
        '', 'Work per pipeline (one untimed run):',
    ]
    for name, d in result['workload'].items():
        lines.append(f'  {_LABELS[name]:<17} {d["proposals"]} proposals, {d["detections"]} '
                     f'detections, mean detection box area {d["mean_box_area"]:.1f} px')
    row = '{:<44} {:>10} {:>8} {:>10} {:>8} {:>9}'
    lines += ['', row.format('pipeline', 'receiver', 'ratio', 'edge', 'ratio', 'bytes'),
              row.format('', 'ms', 'DICM/x', 'ms', 'DICM/x', '(bpp)')]
    for name in names:
        rx, ed = result['receiver'][name], result['edge'][name]
        if name == 'dicm':
            r_ratio = e_ratio = ''
        else:
            r_ratio = f'{result["ratios"][f"receiver_vs_{name}"]:.3f}'
            e_ratio = f'{result["ratios"][f"edge_vs_{name}"]:.3f}'
        label = {'dicm': 'DICM (features; decoder + tail + heads)',
                 'jpeg': 'JPEG + stock Mask R-CNN',
                 'mbt2018_mean': 'mbt2018-mean + stock Mask R-CNN',
                 'cheng2020_anchor': 'cheng2020-anchor + stock Mask R-CNN'}[name]
        lines.append(row.format(
            label, ms(rx['total_s']), r_ratio, ms(ed['total_s']), e_ratio,
            f'{ed["bytes"]} ({ed["bpp"]:.2f})'))

    lines += ['', 'Targets (ratio of medians; paired = median of per-repeat ratios)',
              '{:<58} {:>7} {:>7} {:>8} {:>7}  {}'.format(
                  'metric', 'value', 'paired', 'target', 'anchor', 'verdict')]
    for t in result['targets']:
        lines.append('{:<58} {:>7.3f} {:>7.3f} {:>8} {:>7}  {}'.format(
            t['description'], t['value'], t['paired_value'], f'<= {t["target"]:g}',
            '' if t['anchor'] is None else f'{t["anchor"]:g}',
            'PASS' if t['passed'] else 'FAIL'))
    skipped = [k for k, *_ in PIPELINE_TARGETS if k not in result['ratios']]
    if skipped:
        lines.append(f'(not measured: {", ".join(skipped)})')

    def stage_table(title: str, entry: Dict[str, Any],
                    stages: Sequence[Tuple[str, str]]) -> List[str]:
        total, parts, med = entry['total_s'], entry['parts_s'], entry['parts_median_s']
        med_total = sum(v for k, v in med.items() if k not in _NESTED)
        out = ['', '{:<42} {:>10} {:>6}  {:>10} {:>6}'.format(
            f'{title}', 'median run', '', 'per-stage', 'median'),
            '  {:<40} {:>10} {:>6}  {:>10} {:>6}'.format('total', ms(total), '',
                                                       ms(med_total), '')]
        for key, label in stages:
            if key in parts:
                out.append('  {:<40} {:>10} {:>5.1f}%  {:>10} {:>5.1f}%'.format(
                    label, ms(parts[key]), 100.0 * parts[key] / total, ms(med.get(key, 0.0)),
                    100.0 * med.get(key, 0.0) / med_total))
        return out

    lines += ['', 'Stages, ms: the median run\'s own stages (they add up to its total) and each '
              'stage\'s median over the repeats (robust to load; their sum is not a run)']
    lines += stage_table('DICM receiver', result['receiver']['dicm'],
                         _RECEIVER_STAGES['dicm'] + _HEAD_STAGES)
    for name in names[1:]:
        lines += stage_table(f'{_LABELS[name]} receiver', result['receiver'][name],
                             _RECEIVER_STAGES['pixel'] + _HEAD_STAGES)
    lines += stage_table('DICM edge', result['edge']['dicm'], _EDGE_STAGES['dicm'])
    return '\n'.join(lines)
