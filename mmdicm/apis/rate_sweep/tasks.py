"""What a sweep measures: its tasks (three configs each), λ and pixel-codec qualities."""
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..ssl_pipeline import CONFIG_ROOT
from ...baselines import FEATURE_CODECS, PIXEL_CODECS, get_feature_codec, get_pixel_codec
from ...datasets.embedded.coco_like import COCO_LIKE_DEFAULTS
from ...datasets.embedded.spec import DEFAULT_PRESET, PRESETS

__all__ = ['DEFAULT_LAMBDAS', 'DEFAULT_LEARNED_LAMBDAS', 'LEARNED_CODECS', 'DEFAULT_QUALITIES',
           'SWEEP_TASKS', 'SecondTask', 'SweepError', 'SweepTask', 'check_codecs',
           'check_lambdas', 'check_optional_counts', 'dataset_settings', 'get_baseline']

#: λ of the DICM points (weight of bpp in the codec's loss), lowest rate last
DEFAULT_LAMBDAS = (0.1, 0.3, 1.0, 3.0)
#: Learned pixel codecs the sweep can train (mmdicm.baselines.learned_training)
LEARNED_CODECS = ('mbt2018-mean', )
#: MSE λ of the learned pixel codecs trained by the sweep (CompressAI's zoo λ of its
#: qualities 1-4: 0.0018, 0.0035, 0.0067, 0.0130), lowest rate first
DEFAULT_LEARNED_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013)
#: Qualities of the pixel-codec points at CPU scale, low to high rate. They reach far lower
#: than a codec's usual sweep: on the embedded data's large, high-contrast shapes the detector
#: loses nothing measurable above ~0.1 bpp with any of them (measured), and BD needs the part
#: of each curve where accuracy moves.
DEFAULT_QUALITIES = {'jpeg': (1, 2, 3, 5, 10, 20, 40, 75),
                     'webp': (0, 1, 2, 5, 15, 35, 60, 85),
                     'avif': (0, 3, 6, 10, 25, 40, 60, 80),
                     'hevc': (51, 49, 47, 42, 37, 32, 27),
                     'vvc': (60, 55, 51, 47, 42, 37, 32, 27)}


class SweepError(ValueError):
    """A sweep cannot start or continue (bad settings, another sweep's folder, bad files)."""


def _config(rel: str) -> str:
    return osp.join(CONFIG_ROOT, rel)


@dataclass(frozen=True)
class SecondTask:
    """A second task model of one bitstream: it reads the containers DICM's edge wrote for
    the sweep's task (the paper's promise: one bitstream, many analyses).

    Attributes:
        name (str): e.g. ``'classification'``; its points are ``<name>/<point>`` and its
            results go to ``<work_dir>/<name>/``.
        task_config (str): The task model on uncompressed images (trained once; the pixel
            codecs' points test it on decoded images). Its backbone starts from the sweep's
            pre-training, as the main task model's.
        task_stage_config (str): The same with DICM's codec and ``frozen_parts=('edge',)``:
            per λ its task stage starts from the main task's edge (stem, layer1, codec) and
            this task model's receiver, then reads the main task's files.
        metric_key (str): The test-result key plotted, e.g. ``'accuracy/top1'``.
        metric_name (str): Its axis label.
        data (str): Sub-folder of the dataset it reads (``''``: the detection images).
        coco_evaluator (bool): Whether test evaluator 0 is mmdet's ``CocoMetric``.
    """
    name: str
    task_config: str
    task_stage_config: str
    metric_key: str = 'accuracy/top1'
    metric_name: str = 'top-1 (%)'
    data: str = ''
    coco_evaluator: bool = False


#: The sweep's codec: DICM's compression network on f1, no RE (see the codec configs)
_NO_RE = {'model.backbone.codec.re': None}


@dataclass(frozen=True)
class SweepTask:
    """One task of the sweep: its three configs and the metric its curves plot.

    Attributes:
        name (str): e.g. 'classification'.
        task_config (str): The task model without a codec (trained once).
        dicm_config (str): The same model with DICM's codec and real coding at test time
            (``DICMBppMetric`` in its test evaluator).
        codec_config (str): The per-λ codec training run (``RateDistortionLossHook`` first in
            ``custom_hooks``; loads the task checkpoint with ``load_from``).
        metric_key (str): The test-result key plotted, e.g. ``'accuracy/top1'``.
        metric_name (str): Its axis label, e.g. ``'top-1 (%)'``.
        data (str): Sub-folder of the embedded dataset the task reads
            (``'classification/'`` or ``''``).
        coco_evaluator (bool): Whether test evaluator 0 is mmdet's ``CocoMetric`` (its
            ``ann_file`` follows the data root).
        dicm_options (dict): Overrides of ``dicm_config`` that make its codec the one
            ``codec_config`` trains (e.g. ``{'model.backbone.codec.re': None}``).
        data_root (str): The embedded dataset the task reads by default (generated if
            missing).
        preset (str): Its generator preset (``'default'`` or ``'coco-like'``).
        learning_curve (bool): Validate while the task model trains (its config's
            ``val_interval``) and record the curve and whether it reached its plateau;
            otherwise the task model is only tested once, at the end.
        task_stage_config (str, optional): The paper's task stage per λ: the DICM config
            with ``frozen_parts=('edge',)``, trained from each λ's merged checkpoint (the
            ``dicm-task-stage`` curve). None: no such curve.
        learned_codecs (tuple[str]): Learned pixel codecs trained here, from scratch, on
            the task's training images (``'mbt2018-mean'``), then swept like the others.
        pretrain_config (str, optional): A classifier trained first on the dataset's object
            crops (``classification/``); the task model's backbone starts from it (what
            ImageNet is to a zoo detector). None: the task model starts from scratch.
        second_task (SecondTask, optional): A second task model reading the same DICM
            containers (its own task stage per λ on the same frozen edge) and tested on the
            pixel codecs' decoded images: a second set of curves. None: none.
    """
    name: str
    task_config: str
    dicm_config: str
    codec_config: str
    metric_key: str
    metric_name: str
    data: str = ''
    coco_evaluator: bool = False
    dicm_options: Dict[str, Any] = field(default_factory=dict)
    data_root: str = 'data/embedded'
    preset: str = 'default'
    learning_curve: bool = False
    task_stage_config: Optional[str] = None
    learned_codecs: Tuple[str, ...] = ()
    pretrain_config: Optional[str] = None
    second_task: Optional[SecondTask] = None


#: The CPU-scale tasks on the embedded data
SWEEP_TASKS: Dict[str, SweepTask] = {
    'classification': SweepTask(
        'classification', _config('sweep/resnet18_embedded_cls.py'),
        _config('sweep/resnet18_dicm_embedded_cls.py'), _config('sweep/codec_r18_embedded_cls.py'),
        metric_key='accuracy/top1', metric_name='top-1 (%)', data='classification/',
        dicm_options=_NO_RE),
    'detection': SweepTask(
        'detection', _config('sweep/mask-rcnn_r18_embedded.py'),
        _config('demo/mask-rcnn_dicm_r18_embedded.py'), _config('sweep/codec_r18_embedded_det.py'),
        metric_key='coco/bbox_mAP', metric_name='bbox mAP', coco_evaluator=True,
        dicm_options=_NO_RE),
    # the COCO-like split (docs/embedded_data.md): small objects, clutter, texture classes
    'detection-coco-like': SweepTask(
        'detection-coco-like', _config('sweep/faster-rcnn_r18_coco-like.py'),
        _config('sweep/faster-rcnn_dicm_r18_coco-like.py'),
        _config('sweep/codec_r18_coco-like_det.py'),
        metric_key='coco/bbox_mAP', metric_name='bbox mAP', coco_evaluator=True,
        dicm_options=_NO_RE, data_root='data/embedded-coco-like', preset='coco-like',
        learning_curve=True,
        task_stage_config=_config('sweep/faster-rcnn_dicm_r18_coco-like_task-stage.py'),
        learned_codecs=('mbt2018-mean', ),
        pretrain_config=_config('sweep/resnet18_coco-like_cls-pretrain.py'),
        # the classification curve of the same bitstream: a whole-image classifier (the
        # category of the largest object) reads the detector's files
        second_task=SecondTask(
            'classification', _config('sweep/resnet18_coco-like_image-cls.py'),
            _config('sweep/resnet18_dicm_coco-like_image-cls_task-stage.py'))),
}


def dataset_settings(preset: str, **sizes: Optional[int]) -> Dict[str, Any]:
    """The embedded dataset's generator arguments: ``sizes`` (num_train, num_val,
    image_size) with None filled from ``preset``'s defaults; ``preset`` itself only when it
    is not ``'default'`` (so the settings of sweeps cached before presets existed match)."""
    if preset not in PRESETS:
        raise SweepError(f'unknown dataset preset {preset!r}; known: {list(PRESETS)}')
    defaults = COCO_LIKE_DEFAULTS if preset == 'coco-like' else DEFAULT_PRESET
    out: Dict[str, Any] = {k: defaults[k] if v is None else v for k, v in sizes.items()}
    if preset != 'default':
        out['preset'] = preset
    return out


def check_lambdas(lambdas: Any) -> Tuple[float, ...]:
    """``lambdas`` as a tuple of distinct finite floats > 0, else :class:`SweepError`."""
    if isinstance(lambdas, (str, bytes)) or not isinstance(lambdas, Sequence) or not lambdas:
        raise SweepError(f'lambdas must be a non-empty list of numbers > 0, got {lambdas!r}')
    out = []
    for lam in lambdas:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or \
                not math.isfinite(lam) or lam <= 0:
            raise SweepError(f'every λ must be a finite number > 0, got {lam!r}')
        out.append(float(lam))
    if len(set(out)) != len(out):
        raise SweepError(f'lambdas must be distinct, got {out}')
    return tuple(out)


#: Qualities of the feature-domain baselines (opt-in: ``--codecs fcm-vvc``), low to high rate
FEATURE_QUALITIES = {'fcm-vvc': (55, 51, 47, 42, 37, 32),
                     'fcm-vvc-fpn': (55, 51, 47, 42, 37, 32),
                     'fcm-vvc-pca': (51, 47, 42, 37, 32, 27)}


def get_baseline(name: str) -> Any:
    """The pixel codec or feature codec (``'fcm-vvc'``) named ``name``."""
    return get_feature_codec(name) if name in FEATURE_CODECS else get_pixel_codec(name)


def check_codecs(codecs: Any, qualities: Optional[Dict[str, Sequence[int]]]
                 ) -> List[Tuple[str, Tuple[int, ...]]]:
    """``[(codec, qualities), ...]`` to sweep, checked against the codecs' own ranges."""
    if isinstance(codecs, str) or not isinstance(codecs, Sequence):
        raise SweepError(f'codecs must be a list of names, got {codecs!r}')
    known = {**PIXEL_CODECS, **FEATURE_CODECS}
    unknown = [c for c in codecs if c not in known]
    if unknown:
        raise SweepError(f'unknown codecs {unknown}; known: {sorted(known)}')
    qualities = dict(qualities or {})
    extra = sorted(set(qualities) - set(codecs))
    if extra:
        raise SweepError(f'qualities given for codecs that are not swept: {extra}')
    plan = []
    for name in codecs:
        defaults = {**DEFAULT_QUALITIES, **FEATURE_QUALITIES}.get(name, known[name].qualities)
        chosen = tuple(qualities.get(name, defaults))
        codec = get_baseline(name)
        try:
            plan.append((name, tuple(codec.check_quality(q) for q in chosen)))
        except (TypeError, ValueError) as e:
            raise SweepError(str(e)) from None
    return plan


def check_optional_counts(**counts: Optional[int]) -> None:
    """Each value None or an int >= 1 (iterations, epochs, images), else :class:`SweepError`."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise SweepError(f'{name} must be an int >= 1 or None, got {value!r}')
