"""``run_rate_sweep``: the task model, every pixel-codec point, every DICM point, the results.

The settings are checked and the configs prepared first (:mod:`.plan`); each phase is one
function of :mod:`.phases` (taking another sweep's work: :mod:`.reuse`); the points are
cached in ``sweep.json`` as they are measured (:mod:`.state`), so a stopped sweep resumes
where it stopped.
"""
import functools
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ...baselines.feature_vvc import FEATURE_CODECS
from ...datasets import generate_embedded_dataset
from ...evaluation.bd_results import write_results
from . import phases, reuse
from .phases import Log, Sweep
from .curve import read_training_curve
from .plan import Plan, make_plan
from .report import (RATES, SweepResult, curve_keys, curves_and_table, format_sweep_markdown,
                     tables_by_size)
from .second import second_dicm_point, second_pixel_codecs, second_task_model
from .state import baseline_key, dicm_key, lambda_tag
from .tasks import (DEFAULT_LAMBDAS, DEFAULT_LEARNED_LAMBDAS, DEFAULT_QUALITIES, SWEEP_TASKS,
                    SweepError, SweepTask, dataset_settings, get_baseline)

__all__ = ['run_rate_sweep']


def _results(sweep: Sweep, reference: float, skipped: List[str], rate: str,
             seconds: float, partial: bool = False) -> SweepResult:
    """Phase 4: curves, BD table and the files (csv, json, png, md). ``partial``: only the
    points measured so far (each curve with the qualities or λ done; its BD rows say n/a
    below 4 points, its points still get their equal-accuracy rates). The second task's, if
    any, go to ``<out dir>/<its name>/``."""
    plan = sweep.plan
    out_dir = plan.work_dir if rate == 'file' else osp.join(plan.work_dir, 'payload')
    num_learned = len((plan.learned_settings or {}).get('lambdas', ()))
    baselines = [(c, qs) for c, qs in plan.codecs if c not in skipped] + \
        [(c, tuple(range(1, num_learned + 1))) for c in plan.learned]
    dicm = ['dicm'] + (['dicm-task-stage'] if plan.task_stage_cfg is not None else [])
    result = _write(sweep, plan.spec, sweep.points, reference, baselines, dicm, out_dir,
                    partial, rate, skipped=skipped, seconds=seconds,
                    training=_training_curves(plan))
    if plan.second is not None:
        prefix = plan.second.name + '/'
        points = {k[len(prefix):]: p for k, p in sweep.points.items() if k.startswith(prefix)}
        if 'uncompressed' in points:
            pixel = [(c, qs) for c, qs in plan.codecs
                     if c not in skipped and c not in FEATURE_CODECS]
            result.second = _write(sweep, plan.second, points, points['uncompressed']['metric'],
                                   pixel, ['dicm-task-stage'], osp.join(out_dir, prefix),
                                   True, rate, skipped=skipped)
    return result


def _measured(curves: Sequence[Tuple[str, Sequence[Any]]], points: Dict[str, Any],
              key: Callable[[str, Any], str]) -> List[Tuple[str, Tuple[Any, ...]]]:
    """Each ``(name, values)`` curve cut to the values whose point ``key(name, value)`` was
    measured; curves with none left out."""
    kept = [(name, tuple(v for v in values if key(name, v) in points))
            for name, values in curves]
    return [(name, values) for name, values in kept if values]


def _write(sweep: Sweep, task: Any, points: Dict[str, Dict[str, Any]], reference: float,
           baselines: List[Tuple[str, Sequence[int]]], dicm: List[str], out_dir: str,
           partial: bool, rate: str, **result_fields: Any) -> SweepResult:
    """One task's curves, BD table and files from ``points`` (``partial``: those measured),
    over ``rate`` (a key of :data:`RATES`)."""
    curves_of = [(d, tuple(sweep.plan.lambdas)) for d in dicm]
    if partial:
        baselines = _measured(baselines, points, baseline_key)
        curves_of = _measured(curves_of, points, dicm_key)
    curves, table = curves_and_table(task, points, baselines, curves_of, sweep.log,
                                     RATES[rate][0])
    files = write_results(curves, table, out_dir, reference=('uncompressed', reference))
    wanted = ['uncompressed'] + [k for _, keys in curve_keys(baselines, curves_of)
                                 for k in keys]
    kept = {k: points[k] for k in wanted}
    result = SweepResult(task=task.name, metric_name=task.metric_name, reference=reference,
                         curves=curves, table=table, points=kept, files=files, rate=rate,
                         **result_fields, by_size=tables_by_size(task, kept, baselines,
                                                                 curves_of, RATES[rate][0]))
    md = osp.join(out_dir, 'results.md')
    with open(md, 'w', encoding='utf-8') as f:
        f.write(format_sweep_markdown(result) + '\n')
    files['md'] = md
    return result


#: what each run's training curve shows
CODEC_LOG_KEYS = ('bpp', 'dist_tail')
TASK_STAGE_LOG_KEYS = ('loss', )


def _training_curves(plan: Plan) -> Dict[str, Dict[str, List[Tuple[int, float]]]]:
    """The training curves of the warm start, each λ's codec and task stage, from their
    logs (what ran; runs still missing are left out)."""
    runs = [('warm start', 'warm_start', CODEC_LOG_KEYS)]
    for lam in plan.lambdas:
        runs += [(f'λ={lam:g} codec', osp.join(lambda_tag(lam), 'codec'), CODEC_LOG_KEYS),
                 (f'λ={lam:g} task stage', osp.join(lambda_tag(lam), 'task_stage'),
                  TASK_STAGE_LOG_KEYS)]
    out: Dict[str, Dict[str, List[Tuple[int, float]]]] = {}
    for label, folder, keys in runs:
        work_dir = osp.join(plan.work_dir, folder)
        curves = {k: c for k in keys if (c := read_training_curve(work_dir, k))}
        if curves:
            out[label] = curves
    return out


def run_rate_sweep(task: str = 'detection',
                   work_dir: str = 'work_dirs/rate_sweep',
                   data_root: Optional[str] = None,
                   lambdas: Sequence[float] = DEFAULT_LAMBDAS,
                   codecs: Sequence[str] = tuple(DEFAULT_QUALITIES),
                   qualities: Optional[Dict[str, Sequence[int]]] = None,
                   task_iters: Optional[int] = None,
                   codec_epochs: Optional[int] = None,
                   warm_start_epochs: Optional[int] = None,
                   val_images: Optional[int] = None,
                   num_train: Optional[int] = None,
                   num_val: Optional[int] = None,
                   image_size: Optional[int] = None,
                   seed: int = 0,
                   task_stage_iters: Optional[int] = None,
                   learned_codecs: Optional[Sequence[str]] = None,
                   learned_lambdas: Sequence[float] = DEFAULT_LEARNED_LAMBDAS,
                   tasks: Optional[Dict[str, SweepTask]] = None,
                   cfg_options: Optional[Dict[str, Dict[str, Any]]] = None,
                   rate: str = 'file',
                   report_only: bool = False,
                   reuse_from: Optional[str] = None,
                   pretrain_from: Optional[str] = None,
                   second_task: bool = True,
                   log: Optional[Log] = None) -> SweepResult:
    """Train the task model, measure every baseline and DICM point, write the BD results.

    Args:
        task (str): A key of ``tasks``: ``'detection'`` (default; the demo Mask R-CNN) or
            ``'classification'`` (64-px object crops: cheaper per point, but whole-file bpp
            at that size is dominated by each format's fixed overhead; see the README).
        work_dir (str): Everything goes here (``task/``, ``lambda<λ>/``, ``baselines/``, the
            results files); ``sweep.json`` records the points as they are measured.
        data_root (str, optional): The embedded dataset (generated if missing). Defaults to
            the task's (``data/embedded``; ``data/embedded-coco-like`` for
            ``'detection-coco-like'``).
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
        num_train, num_val, image_size (int, optional): Embedded dataset size. Defaults to
            the task's preset's (400 / 100 / 256 as ``make demo``; coco-like 1000 / 200 /
            256).
        seed (int): Seed of every run. Defaults to 0.
        task_stage_iters (int, optional): Iterations of each λ's task stage (tasks with a
            ``task_stage_config``; None: the config's; 0: no task stage, the
            frozen-task-model curve alone, which needs ``second_task=False``).
        learned_codecs (Sequence[str], optional): Learned pixel codecs to train and sweep
            (:data:`LEARNED_CODECS`); None: the task's (``mbt2018-mean`` for
            ``'detection-coco-like'``), ``()``: none. Trained on DICM's codec budget: the
            same training images, batch, view size, steps per λ (``codec_epochs``) and warm
            start (``warm_start_epochs``).
        learned_lambdas (Sequence[float]): Their MSE λ, one checkpoint (quality) each.
            Defaults to :data:`DEFAULT_LEARNED_LAMBDAS`.
        tasks (dict, optional): Task table. Defaults to :data:`SWEEP_TASKS`.
        cfg_options (dict, optional): ``--cfg-options``-style overrides per config:
            ``{'task': {...}, 'codec': {...}, 'dicm': {...}}`` (e.g. batch sizes, workers).
            Recorded in the sweep's settings. Defaults to None.
        rate (str): ``'file'`` (default): curves and BD over whole-file bpp, results in
            ``work_dir``; ``'payload'``: over payload bpp, results in ``work_dir/payload``.
            Points keep both, so switching measures nothing again (points cached before
            payload bytes were recorded are tested again; DICM's from its checkpoint).
        reuse_from (str, optional): Another sweep's work dir whose task model (with its
            pre-training) and baseline points (pixel, feature and learned codecs) this sweep
            takes instead of measuring them again, e.g. to sweep another codec preset
            (``cfg_options`` of ``codec`` / ``dicm`` / ``task_stage``) against the same task
            model. Its settings must equal this sweep's but for those options; its files stay
            where they are (its checkpoints are read from there). Its warm start and DICM
            points are taken too where this sweep's configs made them (equal digests: e.g.
            a sweep that differs only in ``task_stage_iters`` trains only its task stages).
            Only when this sweep has no task model yet. Defaults to None.
        pretrain_from (str, optional): Another sweep's work dir whose backbone pre-training
            (tasks with one: ``'detection-coco-like'``) this sweep takes instead of training
            it again, when ``reuse_from`` cannot take the task model (e.g. another
            ``task_iters``): its pre-training config must be this sweep's (equal digests);
            the checkpoint is linked into this work dir. Not with ``reuse_from`` (which takes
            the pre-training too). Defaults to None.
        report_only (bool): Measure nothing: write the results of the points cached so far
            (e.g. while another process runs the same sweep). Defaults to False.
        second_task (bool): Also run the task's second task model, if it has one
            (``'detection-coco-like'``: a whole-image classifier trained on uncompressed
            images, tested on the pixel codecs' images and, after its own task stage per λ,
            on the very files the detector's edge wrote; results in
            ``<work_dir>/classification/``). Defaults to True.
        log (callable, optional): Progress messages. Defaults to flushed ``print``.

    Returns:
        SweepResult: curves, BD table, points and file paths.
    """
    t_start = time.perf_counter()
    log = functools.partial(print, flush=True) if log is None else log
    tasks = SWEEP_TASKS if tasks is None else tasks
    if task not in tasks:
        raise SweepError(f'unknown task {task!r}; known: {sorted(tasks)}')
    if rate not in RATES:
        raise SweepError(f'rate must be one of {sorted(RATES)}, got {rate!r}')
    spec = tasks[task]
    data_root = spec.data_root if data_root is None else data_root
    dataset = dataset_settings(spec.preset, num_train=num_train, num_val=num_val,
                               image_size=image_size)
    learned = spec.learned_codecs if learned_codecs is None else tuple(learned_codecs)
    plan = make_plan(spec, work_dir, data_root, lambdas, codecs, qualities, task_iters,
                 codec_epochs, warm_start_epochs, val_images, seed, cfg_options, dataset,
                 task_stage_iters, learned, learned_lambdas, second_task)
    if reuse_from is not None and pretrain_from is not None:
        raise SweepError('--reuse-from takes the pre-training with the task model: give it '
                         'or --pretrain-from, not both')
    os.makedirs(work_dir, exist_ok=True)
    sweep = Sweep(plan, log)
    if reuse_from is not None and 'uncompressed' not in sweep.points:
        reuse.reuse_task_model(sweep, reuse_from)
    if pretrain_from is not None and 'uncompressed' not in sweep.points:
        reuse.reuse_pretraining(sweep, pretrain_from)
    generate_embedded_dataset(data_root, seed=0, **dataset)
    if report_only:
        if 'uncompressed' not in sweep.points:
            raise SweepError(f'{sweep.path}: nothing measured yet (no task model)')
        skipped = [c for c, _ in plan.codecs if not get_baseline(c).available()[0]]
        return _results(sweep, sweep.points['uncompressed']['metric'], skipped, rate,
                        time.perf_counter() - t_start, partial=True)
    task_ckpt, reference = phases.task_model(sweep)
    # DICM's curves before the learned codec's: on a budget, the curve under test first
    skipped = phases.pixel_codecs(sweep, task_ckpt)
    codec_init = phases.warm_start(sweep, task_ckpt)
    for lam in plan.lambdas:
        phases.dicm_point(sweep, lam, task_ckpt, codec_init)
    if plan.task_stage_cfg is not None:
        for lam in plan.lambdas:
            phases.task_stage_point(sweep, lam)
    if plan.second is not None:  # the same files read by a second task model
        checkpoint = second_task_model(sweep)
        second_pixel_codecs(sweep, checkpoint)
        for lam in plan.lambdas:
            second_dicm_point(sweep, lam, checkpoint)
    phases.learned_codecs(sweep, task_ckpt)
    return _results(sweep, reference, skipped, rate, time.perf_counter() - t_start)
