"""The rate sweep: DICM at several λ against pixel codecs, in one task pipeline, with BD-rate.

What ``tools/rate_sweep.py`` runs. One task model, trained once on *uncompressed* features,
evaluates every point, so only the codec differs between curves (the protocol of
``../shared/DESIGN.md`` §5)::

    embedded data ─► task model (ResNet, no codec)  ─► ckpt T           ── 'uncompressed' line
                     │
                     ├─ per codec, per quality: test pipeline + PixelCodecRoundtrip
                     │    image ─ resize ─ encode ─ bytes ─ decode ─ T ─► (bpp, metric)
                     │
                     └─ per λ: compression network (no RE) trained under frozen T
                          (rate λ + feature distortion to f1, T's head/tail frozen) ─► ckpt C_λ
                          [warm start: all C_λ fine-tuned from one codec trained at min λ]
                          T + C_λ merged ─► real coding: image ─ bytes ─ features ─ T's tail
                                                                        ─► (bpp, metric)

    curves ─► BD-rate / BD-accuracy of DICM against every baseline (bjontegaard, pchip)
           ─► curves.csv, bd.json, rate_accuracy.png, results.md

bpp is bits per model-input pixel for every curve (after the test pipeline's resize; DICM:
whole container files, pixel codecs: whole coded files). Every point also records its
``payload_bpp`` (entropy-coded bytes alone: no headers, tables, parameter sets or container,
see :mod:`~mmdicm.evaluation.payload`); ``rate='payload'`` draws the curves and BD table over
it instead, into ``<work_dir>/payload/`` -- a diagnostic for small images, where each format's
fixed bytes decide a whole-file comparison. Points are cached in
``<work_dir>/sweep.json`` as they are measured: a stopped sweep resumes where it stopped, and
a sweep with other settings in the same folder is refused (nothing is overwritten).

At CPU scale (the default tasks, on the embedded data) this is a smoke-scale comparison: a
from-scratch ResNet-18 and a codec trained for minutes (README, "Rate–accuracy", has the
measured result and how to read it). The full-scale equivalents are the
same functions with other configs (:class:`SweepTask`).
"""
import copy
import functools
import gc
import hashlib
import inspect
import json
import math
import os
import os.path as osp
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import TRANSFORMS

from ..datasets import generate_embedded_dataset
from ..engine.checkpoint import load_trusted_checkpoint
from ..engine.launch import build_runner, check_config, prepare_config
from ..engine.ssl_pipeline import CONFIG_ROOT, last_checkpoint
from ..evaluation.bd_metrics import BDOverlapWarning, Curve, compare, write_results
from ..evaluation.pixel_codecs import PIXEL_CODECS, get_pixel_codec

__all__ = ['DEFAULT_LAMBDAS', 'DEFAULT_QUALITIES', 'RATES', 'SWEEP_TASKS', 'SweepError',
           'SweepResult', 'SweepTask', 'format_sweep_markdown', 'format_sweep_summary',
           'merge_codec_checkpoint', 'run_rate_sweep', 'with_pixel_codec']

#: λ of the DICM points (weight of bpp in the codec's loss), lowest rate last
DEFAULT_LAMBDAS = (0.1, 0.3, 1.0, 3.0)
#: Qualities of the pixel-codec points at CPU scale, low to high rate. They reach far lower
#: than a codec's usual sweep: on the embedded data's large, high-contrast shapes the detector
#: loses nothing measurable above ~0.1 bpp with any of them (measured), and BD needs the part
#: of each curve where accuracy moves.
DEFAULT_QUALITIES = {'jpeg': (1, 2, 3, 5, 10, 20, 40, 75),
                     'webp': (0, 1, 2, 5, 15, 35, 60, 85),
                     'avif': (0, 3, 6, 10, 25, 40, 60, 80),
                     'hevc': (51, 49, 47, 42, 37, 32, 27),
                     'vvc': (60, 55, 51, 47, 42, 37, 32, 27)}

STATE_FILE = 'sweep.json'
STATE_VERSION = 1


class SweepError(ValueError):
    """A sweep cannot start or continue (bad settings, another sweep's folder, bad files)."""


def _config(rel: str) -> str:
    return osp.join(CONFIG_ROOT, rel)


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
}


# ---------------------------------------------------------------------------- config surgery
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
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    metrics = [m for m in metrics if m.get('type') != 'DICMBppMetric']
    cfg.test_evaluator = metrics + [dict(type='PixelCodecBppMetric')]
    return cfg


# ---------------------------------------------------------------------------- checkpoints
def merge_codec_checkpoint(task_checkpoint: str, codec_checkpoint: str, out: str,
                           prefix: str = 'backbone.') -> str:
    """The task model's checkpoint with the codec of a codec-training run, as one file.

    The codec run trained ``<prefix>codec.*`` under the task model's frozen head and tail;
    the merged file is what ``dicm_config`` tests (and what ``tools/compress.py`` /
    ``tools/analyze.py`` deploy). The head and tail of both files must be equal bit for bit
    (the codec was trained under *this* task model); otherwise :class:`SweepError`.

    Args:
        task_checkpoint (str): Checkpoint of the task model (no codec keys needed).
        codec_checkpoint (str): Checkpoint of the codec run (a ``DICMMoCoV2`` or any model
            whose backbone is ``<prefix>``).
        out (str): Path of the merged checkpoint (its folder is created).
        prefix (str): Backbone key prefix in both. Defaults to ``'backbone.'``.

    Returns:
        str: ``out``.
    """
    task = load_trusted_checkpoint(task_checkpoint)
    codec = load_trusted_checkpoint(codec_checkpoint)
    task_sd, codec_sd = task.get('state_dict', task), codec.get('state_dict', codec)
    codec_prefix = prefix + 'codec.'
    codec_keys = {k: v for k, v in codec_sd.items() if k.startswith(codec_prefix)}
    if not codec_keys:
        raise SweepError(f'{codec_checkpoint} has no {codec_prefix}* keys: not a codec run')
    shared = [k for k in task_sd if k.startswith(prefix) and not k.startswith(codec_prefix)]
    missing = [k for k in shared if k not in codec_sd]
    differ = [k for k in shared if k in codec_sd and not torch.equal(task_sd[k], codec_sd[k])]
    if missing or differ:
        bad = (missing + differ)[:3]
        raise SweepError(f'{codec_checkpoint} was not trained under the task model '
                         f'{task_checkpoint}: backbone keys {"missing" if missing else "differ"}'
                         f' (e.g. {bad})')
    merged = {k: v for k, v in task_sd.items() if not k.startswith(codec_prefix)}
    merged.update(codec_keys)
    meta = dict(task.get('meta') or {})
    meta.update(task_checkpoint=osp.abspath(task_checkpoint),
                codec_checkpoint=osp.abspath(codec_checkpoint))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(state_dict=merged, meta=meta), out)
    return out


# ---------------------------------------------------------------------------- runs
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


def _prepare(task: SweepTask, config: str, data_root: str, work_dir: str,
             options: Dict[str, Any]) -> Config:
    """``config`` pointed at ``data_root``, then ``options`` (which win), in ``work_dir``."""
    cfg = prepare_config(config, work_dir=work_dir)
    cfg.merge_from_dict(dict(_data_options(task, data_root, cfg), **options))
    cfg.work_dir = work_dir
    return cfg


def _no_val(cfg: Config) -> None:
    """Training only: the sweep evaluates with the test loop, once."""
    cfg.val_dataloader, cfg.val_cfg, cfg.val_evaluator = None, None, None
    if 'val_interval' in cfg.train_cfg:
        cfg.train_cfg.val_interval = 10 ** 9


def _check_covered(runner: Any, checkpoint: str) -> None:
    """Every weight of the model is in ``checkpoint`` (mmengine loads non-strictly, so a
    missing part would be tested at its random init, silently)."""
    sd = load_trusted_checkpoint(checkpoint)
    sd = sd.get('state_dict', sd)
    missing = [k for k in runner.model.state_dict() if k not in sd
               and not k.startswith('data_preprocessor.')]
    if missing:
        raise SweepError(f'{checkpoint} lacks {len(missing)} weights of the model it is tested '
                         f'with (e.g. {missing[:3]}): the test and codec configs disagree')


def _test(cfg: Config, val_images: Optional[int], merged: bool = False) -> Dict[str, float]:
    """Test ``cfg.load_from``; a ``merged`` checkpoint must cover the whole model."""
    if val_images is not None:
        cfg.test_dataloader.dataset.indices = val_images
    check_config(cfg, 'test')
    runner = build_runner(cfg)
    try:
        if merged:  # the task checkpoint tests its own config: nothing to check there
            _check_covered(runner, cfg.load_from)
        return {k: float(v) for k, v in runner.test().items()}
    finally:
        del runner
        gc.collect()


def _train(cfg: Config) -> str:
    check_config(cfg, 'train')
    runner = build_runner(cfg)
    try:
        runner.train()
    finally:
        del runner
        gc.collect()
    return last_checkpoint(cfg.work_dir)


def _codec_config(codec_base: Config, spec: 'SweepTask', lam: float, work_dir: str) -> Config:
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


def _set_epochs(cfg: Config, epochs: int) -> None:
    """Train ``epochs`` epochs; a by-epoch cosine schedule is stretched to match."""
    cfg.train_cfg.max_epochs = epochs
    for sched in cfg.get('param_scheduler') or []:
        if sched.get('type') == 'CosineAnnealingLR':
            sched.update(T_max=epochs, end=epochs)


def _check_preprocessors(task_cfg: Config, codec_cfg: Config) -> None:
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


# ---------------------------------------------------------------------------- state
def _config_digest(cfg: Config) -> str:
    """sha256 of a resolved config, minus where it writes and what it loads."""
    cfg = copy.deepcopy(cfg)
    for key in ('work_dir', 'load_from', 'experiment_name'):
        cfg.pop(key, None)
    return hashlib.sha256(cfg.pretty_text.encode('utf-8')).hexdigest()[:16]


def _load_state(path: str, settings: Dict[str, Any]) -> Dict[str, Any]:
    if not osp.isfile(path):
        return dict(version=STATE_VERSION, settings=settings, points={})
    try:
        with open(path, encoding='utf-8') as f:
            state = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise SweepError(f'{path} is not a readable sweep state ({e}); move it away to start '
                         'over') from None
    if not isinstance(state, dict) or state.get('version') != STATE_VERSION:
        raise SweepError(f'{path} was written by another version of the sweep; use another '
                         '--work-dir')
    if state.get('settings') != settings:
        old = state.get('settings') or {}
        diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        raise SweepError(f'{osp.dirname(path)} holds a sweep with other settings ({", ".join(diff)}'
                         f' differ): use another --work-dir, or the same settings to resume')
    return state


def _save_state(path: str, state: Dict[str, Any]) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def _lambda_tag(lam: float) -> str:
    return f'lambda{lam:g}'


@dataclass
class SweepResult:
    """What :func:`run_rate_sweep` measured and wrote.

    Attributes:
        task (str): Task name.
        metric_name (str): The plotted metric.
        reference (float): The task model's metric on uncompressed images.
        curves (list[Curve]): One per codec, DICM last.
        table (list[dict]): BD rows, DICM against each baseline (see ``compare``).
        points (dict): Every measured point, by name (``jpeg@5``, ``dicm@lambda2``, ...).
        files (dict): Paths of the written files (csv, json, png, md).
        seconds (float): Wall time of this call.
        skipped (list[str]): Pixel codecs left out because they are unavailable here.
        rate (str): What the curves' rates count: ``'file'`` (bpp of whole files) or
            ``'payload'`` (payload bpp).
    """
    task: str
    metric_name: str
    reference: float
    curves: List[Curve]
    table: List[Dict[str, Any]]
    points: Dict[str, Dict[str, Any]]
    files: Dict[str, str]
    seconds: float = 0.
    skipped: List[str] = field(default_factory=list)
    rate: str = 'file'


#: ``rate`` of :func:`run_rate_sweep` -> (point key, label)
RATES = {'file': ('bpp', 'bpp (whole files)'),
         'payload': ('payload_bpp', 'payload bpp (entropy-coded bytes only)')}


def run_rate_sweep(task: str = 'detection',
                   work_dir: str = 'work_dirs/rate_sweep',
                   data_root: str = 'data/embedded',
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS,
                   codecs: Sequence[str] = tuple(DEFAULT_QUALITIES),
                   qualities: Optional[Dict[str, Sequence[int]]] = None,
                   task_iters: Optional[int] = None,
                   codec_epochs: Optional[int] = None,
                   warm_start_epochs: Optional[int] = None,
                   val_images: Optional[int] = None,
                   num_train: int = 400,
                   num_val: int = 100,
                   image_size: int = 256,
                   seed: int = 0,
                   tasks: Optional[Dict[str, SweepTask]] = None,
                   cfg_options: Optional[Dict[str, Dict[str, Any]]] = None,
                   rate: str = 'file',
                   log: Optional[Callable[[str], None]] = None) -> SweepResult:
    """Train the task model, measure every baseline and DICM point, write the BD results.

    Args:
        task (str): A key of ``tasks``: ``'detection'`` (default; the demo Mask R-CNN) or
            ``'classification'`` (64-px object crops: cheaper per point, but whole-file bpp
            at that size is dominated by each format's fixed overhead; see the README).
        work_dir (str): Everything goes here (``task/``, ``lambda<λ>/``, ``baselines/``, the
            results files); ``sweep.json`` records the points as they are measured.
        data_root (str): The embedded dataset (generated if missing).
        lambdas (Sequence[float]): λ of the DICM points (> 0). Defaults to
            :data:`DEFAULT_LAMBDAS`.
        codecs (Sequence[str]): Pixel codecs to compare with; unavailable ones are skipped
            with a message. Defaults to all five.
        qualities (dict, optional): ``{codec: [quality, ...]}``; missing codecs use
            :data:`DEFAULT_QUALITIES`.
        task_iters (int, optional): Training iterations of the task model (config default).
        codec_epochs (int, optional): Training epochs of each codec (config default).
        warm_start_epochs (int, optional): First train one codec at the highest rate (the
            smallest λ) for this many epochs, then start every λ's codec from it and train it
            ``codec_epochs`` more (the usual way to train a family of learned codecs: the
            expensive part, learning to reconstruct, is shared). None (default): every codec
            starts from scratch.
        val_images (int, optional): Evaluate on the first N test images only (all by default).
        num_train, num_val, image_size (int): Embedded dataset size (as ``make demo``).
        seed (int): Seed of every run. Defaults to 0.
        tasks (dict, optional): Task table. Defaults to :data:`SWEEP_TASKS`.
        cfg_options (dict, optional): ``--cfg-options``-style overrides per config:
            ``{'task': {...}, 'codec': {...}, 'dicm': {...}}`` (e.g. batch sizes, workers).
            Recorded in the sweep's settings. Defaults to None.
        rate (str): ``'file'`` (default): curves and BD over whole-file bpp, results in
            ``work_dir``; ``'payload'``: over payload bpp, results in ``work_dir/payload``.
            Points keep both, so switching measures nothing again (points cached before
            payload bytes were recorded are tested again; DICM's from its checkpoint).
        log (callable, optional): Progress messages. Defaults to flushed ``print``.

    Returns:
        SweepResult: curves, BD table, points and file paths.
    """
    t_start = time.perf_counter()
    if log is None:
        log = functools.partial(print, flush=True)
    tasks = SWEEP_TASKS if tasks is None else tasks
    if task not in tasks:
        raise SweepError(f'unknown task {task!r}; known: {sorted(tasks)}')
    spec = tasks[task]
    if rate not in RATES:
        raise SweepError(f'rate must be one of {sorted(RATES)}, got {rate!r}')
    lambdas = _check_lambdas(lambdas)
    plan = _check_codecs(codecs, qualities)
    for name, value in (('task_iters', task_iters), ('codec_epochs', codec_epochs),
                        ('warm_start_epochs', warm_start_epochs), ('val_images', val_images)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise SweepError(f'{name} must be an int >= 1 or None, got {value!r}')
    cfg_options = {k: dict(v) for k, v in (cfg_options or {}).items()}
    unknown = sorted(set(cfg_options) - {'task', 'codec', 'dicm'})
    if unknown:
        raise SweepError(f"cfg_options keys must be 'task', 'codec' or 'dicm', got {unknown}")
    for path in (spec.task_config, spec.dicm_config, spec.codec_config):
        if not osp.isfile(path):
            raise SweepError(f'config of task {task!r} not found: {path}')

    common = {'randomness': dict(seed=seed)}
    task_dir = osp.join(work_dir, 'task')
    task_cfg = _prepare(spec, spec.task_config, data_root, task_dir,
                        dict(common, **cfg_options.get('task', {})))
    if task_iters is not None:
        task_cfg.train_cfg.max_iters = task_iters
        task_cfg.default_hooks.checkpoint.interval = task_iters
    codec_base = _prepare(spec, spec.codec_config, data_root, work_dir,
                          dict(common, **cfg_options.get('codec', {})))
    _check_preprocessors(task_cfg, codec_base)
    if codec_epochs is not None:
        _set_epochs(codec_base, codec_epochs)
    warm_cfg = None
    if warm_start_epochs is not None:
        warm_cfg = _codec_config(codec_base, spec, min(lambdas), osp.join(work_dir, 'warm_start'))
        _set_epochs(warm_cfg, warm_start_epochs)
    # the DICM points depend on the codec and test configs and the warm start (not on the
    # task model's or the baselines' settings): only they are recomputed when those change
    dicm_base = _prepare(spec, spec.dicm_config, data_root, work_dir,
                         dict(common, **spec.dicm_options, **cfg_options.get('dicm', {})))
    warm_digest = _config_digest(warm_cfg) if warm_cfg is not None else ''
    dicm_digest = _config_digest(codec_base) + _config_digest(dicm_base) + warm_digest

    os.makedirs(work_dir, exist_ok=True)
    settings = dict(task=task, task_config=osp.basename(spec.task_config),
                    task_config_digest=_config_digest(task_cfg), task_iters=task_iters,
                    val_images=val_images, num_train=num_train, num_val=num_val,
                    image_size=image_size, seed=seed, data_root=osp.abspath(data_root),
                    cfg_options=json.loads(json.dumps(cfg_options, default=repr)))
    state_path = osp.join(work_dir, STATE_FILE)
    state = _load_state(state_path, settings)
    points: Dict[str, Dict[str, Any]] = state['points']

    def record(name: str, point: Dict[str, Any]) -> None:
        points[name] = point
        _save_state(state_path, state)

    generate_embedded_dataset(data_root, num_train=num_train, num_val=num_val,
                              image_size=image_size, seed=0)
    total = 1 + sum(len(q) for _, q in plan) + len(lambdas) + (warm_cfg is not None)
    step = 0

    # 1. the task model, uncompressed
    step += 1
    if 'uncompressed' not in points:
        log(f'[sweep] {step}/{total} training the task model ({osp.basename(spec.task_config)})')
        t0 = time.perf_counter()
        _no_val(task_cfg)
        task_ckpt = _train(copy.deepcopy(task_cfg))
        test_cfg = copy.deepcopy(task_cfg)
        test_cfg.load_from = task_ckpt
        metrics = _test(test_cfg, val_images)
        record('uncompressed', dict(method='uncompressed', checkpoint=task_ckpt,
                                    metric=metrics[spec.metric_key], metrics=metrics,
                                    seconds=time.perf_counter() - t0))
    task_ckpt = points['uncompressed']['checkpoint']
    if not osp.isfile(task_ckpt):
        raise SweepError(f'the task checkpoint {task_ckpt} of {state_path} is gone; use '
                         'another --work-dir')
    reference = points['uncompressed']['metric']
    log(f'[sweep] task model: {spec.metric_name} {reference:.3f} uncompressed ({task_ckpt})')

    # 2. pixel codecs on decoded images, same task model
    skipped = []
    for codec, codec_qualities in plan:
        ok, reason = get_pixel_codec(codec).available()
        if not ok:
            log(f'[sweep] skipping {codec}: {reason}')
            skipped.append(codec)
            step += len(codec_qualities)
            continue
        for quality in codec_qualities:
            step += 1
            name = f'{codec}@{quality}'
            if name in points and points[name].get('payload_bpp') is not None:
                continue
            t0 = time.perf_counter()
            cfg = with_pixel_codec(task_cfg, codec, quality)
            cfg.work_dir = osp.join(work_dir, 'baselines', f'{codec}_{quality}')
            cfg.load_from = task_ckpt
            metrics = _test(cfg, val_images)
            record(name, dict(method=codec, quality=quality, bpp=metrics['codec/bpp'],
                              payload_bpp=metrics['codec/payload_bpp'],
                              metric=metrics[spec.metric_key], metrics=metrics,
                              seconds=time.perf_counter() - t0))
            log(f'[sweep] {step}/{total} {codec} {get_pixel_codec(codec).quality_name} '
                f'{quality}: {spec.metric_name} {points[name]["metric"]:.3f} at '
                f'{points[name]["bpp"]:.3f} bpp ({points[name]["seconds"]:.0f} s)')

    # 3. DICM per λ: codec trained under the frozen task model, then real coding
    codec_init = task_ckpt
    if warm_cfg is not None:
        step += 1
        warm = state.get('warm_start') or {}
        if warm.get('config_digest') != warm_digest or not osp.isfile(warm.get('checkpoint', '')):
            log(f'[sweep] {step}/{total} DICM warm start: training the codec at λ='
                f'{min(lambdas):g} for {warm_start_epochs} epochs (every λ starts from it)')
            t0 = time.perf_counter()
            warm_cfg.load_from = task_ckpt
            state['warm_start'] = dict(checkpoint=_train(copy.deepcopy(warm_cfg)),
                                       lambda_rate=min(lambdas), epochs=warm_start_epochs,
                                       config_digest=warm_digest,
                                       seconds=time.perf_counter() - t0)
            _save_state(state_path, state)
        codec_init = state['warm_start']['checkpoint']
    for lam in lambdas:
        step += 1
        name = f'dicm@{_lambda_tag(lam)}'
        lam_dir = osp.join(work_dir, _lambda_tag(lam))
        old = points.get(name)
        merged = None
        if old is not None:
            if old.get('config_digest') == dicm_digest:
                if old.get('payload_bpp') is not None:
                    continue
                if osp.isfile(old.get('checkpoint') or ''):
                    log(f'[sweep] {step}/{total} DICM λ={lam:g} was measured before payload '
                        'bytes were recorded: testing its checkpoint again (no training)')
                    merged = old['checkpoint']
            else:
                log(f'[sweep] the codec or DICM test config changed since λ={lam:g} was '
                    'measured: measuring it again')
        t0 = time.perf_counter()
        if merged is None:
            cfg = _codec_config(codec_base, spec, lam, osp.join(lam_dir, 'codec'))
            cfg.load_from = codec_init
            log(f'[sweep] {step}/{total} DICM λ={lam:g}: training the codec under the frozen '
                'task model' + (' from the warm start' if warm_cfg is not None else ''))
            codec_ckpt = _train(cfg)
            merged = merge_codec_checkpoint(task_ckpt, codec_ckpt,
                                            osp.join(lam_dir, 'dicm.pth'))
        test_cfg = copy.deepcopy(dicm_base)
        test_cfg.work_dir, test_cfg.load_from = osp.join(lam_dir, 'test'), merged
        metrics = _test(test_cfg, val_images, merged=True)
        seconds = time.perf_counter() - t0 + (old['seconds'] if old and
                                              old.get('checkpoint') == merged else 0.)
        record(name, dict(method='dicm', lambda_rate=lam, bpp=metrics['dicm/bpp'],
                          payload_bpp=metrics['dicm/payload_bpp'],
                          metric=metrics[spec.metric_key], metrics=metrics, checkpoint=merged,
                          config_digest=dicm_digest, seconds=seconds))
        log(f'[sweep] {step}/{total} DICM λ={lam:g}: {spec.metric_name} '
            f'{points[name]["metric"]:.3f} at {points[name]["bpp"]:.3f} bpp (real bytes, '
            f'{points[name]["seconds"]:.0f} s)')

    # 4. curves, BD table, files
    out_dir = work_dir if rate == 'file' else osp.join(work_dir, 'payload')
    curves, table = _curves_and_table(spec, points, [c for c, _ in plan if c not in skipped],
                                      lambdas, plan, log, RATES[rate][0])
    files = write_results(curves, table, out_dir, reference=('uncompressed', reference))
    wanted = ['uncompressed'] + [f'{c}@{q}' for c, qs in plan if c not in skipped for q in qs] \
        + [f'dicm@{_lambda_tag(lam)}' for lam in lambdas]
    result = SweepResult(task=task, metric_name=spec.metric_name, reference=reference,
                         curves=curves, table=table,
                         points={k: points[k] for k in wanted}, files=files,
                         seconds=time.perf_counter() - t_start, skipped=skipped, rate=rate)
    md = osp.join(out_dir, 'results.md')
    with open(md, 'w', encoding='utf-8') as f:
        f.write(format_sweep_markdown(result) + '\n')
    files['md'] = md
    return result


def _check_lambdas(lambdas: Any) -> Tuple[float, ...]:
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


def _check_codecs(codecs: Any, qualities: Optional[Dict[str, Sequence[int]]]
                  ) -> List[Tuple[str, Tuple[int, ...]]]:
    if isinstance(codecs, str) or not isinstance(codecs, Sequence):
        raise SweepError(f'codecs must be a list of names, got {codecs!r}')
    unknown = [c for c in codecs if c not in PIXEL_CODECS]
    if unknown:
        raise SweepError(f'unknown pixel codecs {unknown}; known: {sorted(PIXEL_CODECS)}')
    qualities = dict(qualities or {})
    extra = sorted(set(qualities) - set(codecs))
    if extra:
        raise SweepError(f'qualities given for codecs that are not swept: {extra}')
    plan = []
    for name in codecs:
        chosen = tuple(qualities.get(name, DEFAULT_QUALITIES.get(name, PIXEL_CODECS[name]
                                                                 .qualities)))
        codec = get_pixel_codec(name)
        try:
            plan.append((name, tuple(codec.check_quality(q) for q in chosen)))
        except (TypeError, ValueError) as e:
            raise SweepError(str(e)) from None
    return plan


def _curves_and_table(spec: SweepTask, points: Dict[str, Dict[str, Any]], codecs: List[str],
                      lambdas: Sequence[float], plan: Sequence[Tuple[str, Tuple[int, ...]]],
                      log: Callable[[str], None], rate_key: str = 'bpp'
                      ) -> Tuple[List[Curve], List[Dict[str, Any]]]:
    qualities = dict(plan)
    curves = []
    for codec in codecs:
        pts = [points[f'{codec}@{q}'] for q in qualities[codec]]
        curves.append(Curve(codec, rates=[p[rate_key] for p in pts],
                            metrics=[p['metric'] for p in pts], metric_name=spec.metric_name))
    dicm_pts = [points[f'dicm@{_lambda_tag(lam)}'] for lam in lambdas]
    dicm = Curve('dicm', rates=[p[rate_key] for p in dicm_pts],
                 metrics=[p['metric'] for p in dicm_pts], metric_name=spec.metric_name)
    table: List[Dict[str, Any]] = []
    for anchor in curves:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', BDOverlapWarning)
            rows = compare(anchor, [dicm], non_monotonic='pareto', on_error='record')
        for w in caught:
            log(f'[sweep] warning: {w.message}')
        if caught:
            rows[0]['warning'] = '; '.join(str(w.message) for w in caught)
        table.extend(rows)
    return curves + [dicm], table


# ---------------------------------------------------------------------------- summaries
def _fmt(value: Optional[float], spec: str) -> str:
    return 'n/a' if value is None else format(value, spec)


def format_sweep_markdown(result: SweepResult) -> str:
    """The results as Markdown: the BD table, then every point (what the README shows)."""
    lines = [f'Task: {result.task}; metric: {result.metric_name}; uncompressed: '
             f'{result.reference:.3f}; rates: {RATES[result.rate][1]}.', '',
             '| anchor | BD-rate of DICM (%) | BD-' + result.metric_name + ' of DICM | '
             'note |', '| --- | ---: | ---: | --- |']
    for row in result.table:
        note = '; '.join(n for n in (row.get('warning'), row.get('error')) if n)
        lines.append(f"| {row['anchor']} | {_fmt(row['bd_rate_pct'], '+.1f')} | "
                     f"{_fmt(row['bd_metric'], '+.3f')} | {' '.join(note.split())} |")
    lines += ['', '| codec | setting | bpp | payload bpp | ' + result.metric_name + ' |',
              '| --- | --- | ---: | ---: | ---: |']
    for name, p in result.points.items():
        if name == 'uncompressed':
            continue
        setting = (f"λ={p['lambda_rate']:g}" if p['method'] == 'dicm'
                   else f"{get_pixel_codec(p['method']).quality_name} {p['quality']}")
        lines.append(f"| {p['method']} | {setting} | {p['bpp']:.3f} | "
                     f"{_fmt(p.get('payload_bpp'), '.3f')} | {p['metric']:.3f} |")
    return '\n'.join(lines)


def format_sweep_summary(result: SweepResult) -> str:
    """What ``tools/rate_sweep.py`` prints at the end."""
    lines = [f'Rate sweep ({result.task}): {len(result.points) - 1} points, '
             f'{result.seconds / 60:.1f} min in this call.', '',
             format_sweep_markdown(result), '']
    if result.skipped:
        lines.append(f'skipped (unavailable here): {", ".join(result.skipped)}')
    lines += [f'{k:<5} {v}' for k, v in result.files.items()]
    return '\n'.join(lines)
