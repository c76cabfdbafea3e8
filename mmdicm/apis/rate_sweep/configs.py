"""Config surgery of the sweep: data roots, the pixel-codec test pass, per-λ codec runs."""
import copy
import hashlib
import inspect
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import TRANSFORMS

from ..launch import prepare_config
from ...codec import CODEC_PRESET_REVISIONS, DEFAULT_PRESET
from ...baselines import get_pixel_codec
from .tasks import SweepError, SweepTask

__all__ = ['check_preprocessors', 'codec_config', 'config_digest', 'no_val', 'prepare',
           'set_epochs', 'set_iters', 'with_pixel_codec']


def _pack_transform(pipeline: List[dict], what: str) -> Tuple[int, dict]:
    for i in range(len(pipeline) - 1, -1, -1):
        if str(pipeline[i].get('type', '')).startswith('Pack'):
            return i, pipeline[i]
    raise SweepError(f'{what}: no Pack transform (PackInputs / PackDetInputs) in the test '
                     'pipeline to put the pixel codec in front of')


def _default_meta_keys(pack: dict, scope: Optional[str]) -> Tuple[str, ...]:
    with TRANSFORMS.switch_scope_and_registry(scope) as registry:
        cls = registry.get(pack['type'])
    if cls is None:
        raise SweepError(f"transform {pack['type']!r} is not registered in scope {scope!r}")
    default = inspect.signature(cls).parameters['meta_keys'].default
    return tuple(default)


def _use_codec_bpp_metric(cfg: Config) -> None:
    """Replace any ``DICMBppMetric`` of the test evaluator by ``PixelCodecBppMetric``."""
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    metrics = [m for m in metrics if m.get('type') != 'DICMBppMetric']
    cfg.test_evaluator = metrics + [dict(type='PixelCodecBppMetric')]


def with_pixel_codec(cfg: Config, codec: str, quality: int,
                     codec_kwargs: Optional[dict] = None) -> Config:
    """A copy of a task config whose test pass evaluates a pixel codec at one quality.

    Inserts ``PixelCodecRoundtrip`` before the test pipeline's Pack transform, adds
    ``codec_bits`` and ``codec_payload_bits`` to that transform's ``meta_keys``, and replaces
    any ``DICMBppMetric`` of the test evaluator by ``PixelCodecBppMetric`` (appended if there
    was none).

    Args:
        cfg (Config): A task config (mmdet or mmpretrain).
        codec (str): A name of :data:`~mmdicm.evaluation.PIXEL_CODECS`.
        quality (int): The codec's quality parameter.
        codec_kwargs (dict, optional): Options of the codec wrapper. Defaults to None.

    Returns:
        Config: The modified copy (``cfg`` is left as it was).
    """
    cfg = copy.deepcopy(cfg)
    get_pixel_codec(codec).check_quality(quality)  # a bad name/quality fails here, clearly
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    pipeline = list(dataset.pipeline)
    index, pack = _pack_transform(pipeline, cfg.filename or 'config')
    pack = copy.deepcopy(pack)
    meta_keys = tuple(pack.get('meta_keys') or _default_meta_keys(pack, cfg.get('default_scope')))
    pack['meta_keys'] = meta_keys + tuple(k for k in ('codec_bits', 'codec_payload_bits')
                                          if k not in meta_keys)
    step = dict(type='PixelCodecRoundtrip', codec=codec, quality=int(quality))
    if codec_kwargs:
        step['codec_kwargs'] = dict(codec_kwargs)
    dataset.pipeline = pipeline[:index] + [step, pack] + pipeline[index + 1:]
    _use_codec_bpp_metric(cfg)
    return cfg


def with_feature_codec(cfg: Config, codec: str, quality: int,
                       codec_kwargs: Optional[dict] = None,
                       module: Optional[str] = None) -> Config:
    """A copy of a task config whose test pass codes the split features (``module``'s
    output; by default the codec's ``coded_module``: DICM's split after layer1 for ``'fcm-vvc'``,
    the FPN levels for ``'fcm-vvc-fpn'``) with a feature codec at one quality.

    Adds ``FeatureCodecRoundtripHook`` to ``custom_hooks`` and, as :func:`with_pixel_codec`,
    replaces any ``DICMBppMetric`` of the test evaluator by ``PixelCodecBppMetric`` (bpp over
    the same pixels as the pixel codecs'). The model must have no codec of its own there.
    """
    from ...baselines import get_feature_codec
    cfg = copy.deepcopy(cfg)
    get_feature_codec(codec).check_quality(quality)
    backbone = cfg.model.get('backbone') or {}
    if backbone.get('codec') is not None:
        raise SweepError(f'{codec} codes the split features of the uncompressed task model; '
                         'this model has a codec of its own (model.backbone.codec)')
    hook = dict(type='FeatureCodecRoundtripHook', codec=codec, quality=int(quality),
                module=get_feature_codec(codec).coded_module if module is None else module)
    if codec_kwargs:
        hook['codec_kwargs'] = dict(codec_kwargs)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
    _use_codec_bpp_metric(cfg)
    return cfg


def _data_options(task: SweepTask, data_root: str, cfg: Config) -> Dict[str, Any]:
    root = data_root.rstrip('/') + '/' + task.data
    opts: Dict[str, Any] = {}
    for split in ('train', 'val', 'test'):
        if cfg.get(f'{split}_dataloader'):
            opts[f'{split}_dataloader.dataset.data_root'] = root
    if task.coco_evaluator:
        ann = root + 'annotations/instances_val.json'
        for split in ('val', 'test'):
            if cfg.get(f'{split}_evaluator'):  # the codec runs have none
                opts[f'{split}_evaluator.0.ann_file'] = ann
    return opts


def prepare(task: SweepTask, config: str, data_root: str, work_dir: str,
             options: Dict[str, Any]) -> Config:
    """``config`` pointed at ``data_root``, then ``options`` (which win), in ``work_dir``."""
    cfg = prepare_config(config, work_dir=work_dir)
    cfg.merge_from_dict(dict(_data_options(task, data_root, cfg), **options))
    cfg.work_dir = work_dir
    codec = cfg.get('model', {}).get('backbone', {}).get('codec')
    if isinstance(codec, dict) and 'preset' not in codec:
        # the preset the codec is built with, named: the cache's digests then change with
        # the default preset (Dec 2026: 'release'), and no point of another is reused
        codec['preset'] = DEFAULT_PRESET
    return cfg


def no_val(cfg: Config) -> None:
    """Training only: the sweep evaluates with the test loop, once."""
    cfg.val_dataloader, cfg.val_cfg, cfg.val_evaluator = None, None, None
    if 'val_interval' in cfg.train_cfg:
        cfg.train_cfg.val_interval = 10 ** 9


def codec_config(codec_base: Config, spec: SweepTask, lam: float, work_dir: str) -> Config:
    """The codec training config of one λ (rate weight set in its RateDistortionLossHook)."""
    cfg = copy.deepcopy(codec_base)
    cfg.work_dir = work_dir
    hook = (cfg.get('custom_hooks') or [{}])[0]
    if hook.get('type') != 'RateDistortionLossHook':
        raise SweepError(f'{spec.codec_config}: custom_hooks[0] must be '
                         f'RateDistortionLossHook, got {hook.get("type")!r}')
    hook['lambda_rate'] = float(lam)
    if hook.get('lambda_re', 0):
        hook['lambda_re'] = float(lam)
    return cfg


def set_epochs(cfg: Config, epochs: int) -> None:
    """Train ``epochs`` epochs; a by-epoch cosine schedule is stretched to match."""
    cfg.train_cfg.max_epochs = epochs
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('type') == 'CosineAnnealingLR':
            sched.update(T_max=epochs, end=epochs)


def set_iters(cfg: Config, iters: int) -> None:
    """Train ``iters`` iterations; the iteration-based schedulers are scaled to match (each
    ``begin`` / ``end`` and a multi-step's ``milestones`` by ``iters / max_iters``, a
    cosine's ``T_max`` spanning its new stretch): the same shape of schedule, warm-up
    included (the iteration twin of :func:`set_epochs`). A config that checkpoints at its end
    alone does so at the new end; one that checkpoints every N iterations keeps N, so a long
    run stopped with the session resumes from its last N-iteration checkpoint rather than
    from scratch. A validation interval shorter than the schedule (a learning curve) scales
    too, so the curve keeps its number of points and one falls at 3/4 of the schedule where
    the plateau check starts (:func:`~.curve.plateau`)."""
    old = int(cfg.train_cfg.max_iters)

    def scale(step: int) -> int:  # to the new schedule, rounded half up
        return int(int(step) * iters / old + 0.5)

    cfg.train_cfg.max_iters = iters
    val_interval = cfg.train_cfg.get('val_interval')
    if isinstance(val_interval, int) and val_interval < old:
        cfg.train_cfg.val_interval = max(1, scale(val_interval))
    interval = int(cfg.default_hooks.checkpoint.get('interval', old))
    if interval >= old or interval > iters:
        cfg.default_hooks.checkpoint.interval = iters
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('by_epoch', True) or not isinstance(sched.get('end'), int) or \
                sched['end'] > old:
            continue  # epoch-based, or open-ended: nothing to scale
        begin = scale(sched.get('begin', 0))
        end = max(begin + 1, scale(sched['end']))
        sched.update(begin=begin, end=end)
        if sched.get('milestones'):  # steps counted from ``begin``, so they scale alike
            sched['milestones'] = [scale(m) for m in sched['milestones']]
        if sched.get('type') == 'CosineAnnealingLR':
            sched['T_max'] = end - begin


def check_preprocessors(task_cfg: Config, codec_cfg: Config) -> None:
    """The codec must be trained on inputs normalised as the task model's."""
    def norm(cfg: Config) -> Tuple:
        p = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
        rgb = bool(p.get('to_rgb', p.get('bgr_to_rgb', False)))
        return (tuple(float(v) for v in p.get('mean', ())),
                tuple(float(v) for v in p.get('std', ())), rgb)
    a, b = norm(task_cfg), norm(codec_cfg)
    if a != b:
        raise SweepError(f'the codec config normalises inputs differently from the task model '
                         f'(mean, std, to RGB): {b} vs {a}; the codec would be trained on '
                         'other features than it is tested on')


def _revised_presets(node: Any) -> List[str]:
    """The codec presets a config names whose definition was revised (the revisions)."""
    found = []
    if isinstance(node, dict):
        preset = node.get('preset')
        if isinstance(preset, str) and preset in CODEC_PRESET_REVISIONS:
            found.append(f'codec preset {preset!r} revised {CODEC_PRESET_REVISIONS[preset]}')
        for value in node.values():
            found += _revised_presets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found += _revised_presets(value)
    return found


def config_digest(cfg: Config) -> str:
    """sha256 of a resolved config, minus where it writes and what it loads; a codec preset
    whose definition was revised (``CODEC_PRESET_REVISIONS``) adds its revision, so what was
    cached under its old definition is not taken for the new one's."""
    cfg = copy.deepcopy(cfg)
    for key in ('work_dir', 'load_from', 'experiment_name'):
        cfg.pop(key, None)
    text = cfg.pretty_text
    for revision in sorted(set(_revised_presets(cfg.to_dict()))):
        text += '\n# ' + revision
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]
