"""``run_rate_sweep``: the task model, every pixel-codec point, every DICM point, the results.

Each phase is one function below; the points are cached in ``sweep.json`` as they are
measured (:mod:`.state`), so a stopped sweep resumes where it stopped.
"""
import copy
import functools
import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ...datasets import generate_embedded_dataset
from ...evaluation.bd_metrics import write_results
from ...baselines import get_pixel_codec
from ...baselines.learned_training import train_learned_codecs
from . import runs
from .curve import PLATEAU_GAIN, plateau, read_learning_curve
from ..launch import prepare_config
from .configs import (check_preprocessors, codec_config, config_digest, no_val, prepare,
                      set_epochs, set_iters, with_pixel_codec)
from .report import RATES, SweepResult, curves_and_table, format_sweep_markdown
from .state import STATE_FILE, lambda_tag, load_state, save_state
from .tasks import (DEFAULT_LAMBDAS, DEFAULT_LEARNED_LAMBDAS, DEFAULT_QUALITIES, LEARNED_CODECS,
                    SWEEP_TASKS, SweepError, SweepTask, check_codecs, check_lambdas,
                    check_optional_counts, dataset_settings)

__all__ = ['run_rate_sweep']

Log = Callable[[str], None]


@dataclass
class _Plan:
    """The checked settings and prepared configs of one sweep."""
    spec: SweepTask
    work_dir: str
    lambdas: Tuple[float, ...]
    codecs: List[Tuple[str, Tuple[int, ...]]]
    task_cfg: Config
    codec_base: Config
    warm_cfg: Optional[Config]
    dicm_base: Config
    dicm_digest: str
    warm_digest: str
    settings: Dict[str, Any]
    val_images: Optional[int]
    warm_start_epochs: Optional[int]
    data_root: str = ''
    task_stage_cfg: Optional[Config] = None
    task_stage_digest: str = ''
    learned: Tuple[str, ...] = ()
    learned_settings: Optional[Dict[str, Any]] = None
    pretrain_cfg: Optional[Config] = None


class _Sweep:
    """The sweep's cache (``sweep.json``) and its progress counter."""

    def __init__(self, plan: _Plan, log: Log) -> None:
        self.plan, self.log = plan, log
        self.path = osp.join(plan.work_dir, STATE_FILE)
        self.state = load_state(self.path, plan.settings)
        self.points: Dict[str, Dict[str, Any]] = self.state['points']
        num_learned = len((plan.learned_settings or {}).get('lambdas', ()))
        self.total = (1 + sum(len(q) for _, q in plan.codecs) + len(plan.lambdas) +
                      (plan.warm_cfg is not None) + len(plan.learned) * (1 + num_learned) +
                      (len(plan.lambdas) if plan.task_stage_cfg is not None else 0))
        self.step = 0

    def record(self, name: str, point: Dict[str, Any]) -> None:
        self.points[name] = point
        self.save()

    def save(self) -> None:
        save_state(self.path, self.state)

    def next(self, steps: int = 1) -> str:
        self.step += steps
        return f'{self.step}/{self.total}'


def _plan(spec: SweepTask, work_dir: str, data_root: str, lambdas: Sequence[float],
          codecs: Sequence[str], qualities: Optional[Dict[str, Sequence[int]]],
          task_iters: Optional[int], codec_epochs: Optional[int],
          warm_start_epochs: Optional[int], val_images: Optional[int], seed: int,
          cfg_options: Optional[Dict[str, Dict[str, Any]]],
          dataset: Dict[str, Any], task_stage_iters: Optional[int] = None,
          learned: Sequence[str] = (), learned_lambdas: Sequence[float] = ()) -> _Plan:
    """Check every setting and prepare every config, before any work."""
    lambdas = check_lambdas(lambdas)
    plan = check_codecs(codecs, qualities)
    check_optional_counts(task_iters=task_iters, codec_epochs=codec_epochs,
                          warm_start_epochs=warm_start_epochs, val_images=val_images,
                          task_stage_iters=task_stage_iters)
    cfg_options = {k: dict(v) for k, v in (cfg_options or {}).items()}
    unknown = sorted(set(cfg_options) - {'task', 'codec', 'dicm', 'task_stage', 'pretrain'})
    if unknown:
        raise SweepError("cfg_options keys must be 'task', 'codec', 'dicm', 'task_stage' or "
                         f"'pretrain', got {unknown}")
    unknown = sorted(set(learned) - set(LEARNED_CODECS))
    if unknown:
        raise SweepError(f'learned codecs {unknown} cannot be trained by the sweep; known: '
                         f'{sorted(LEARNED_CODECS)}')
    for path in (spec.task_config, spec.dicm_config, spec.codec_config,
                 spec.task_stage_config or spec.task_config,
                 spec.pretrain_config or spec.task_config):
        if not osp.isfile(path):
            raise SweepError(f'config of task {spec.name!r} not found: {path}')

    common = {'randomness': dict(seed=seed)}
    task_cfg = prepare(spec, spec.task_config, data_root, osp.join(work_dir, 'task'),
                       dict(common, **cfg_options.get('task', {})))
    pretrain_cfg = None
    if spec.pretrain_config is not None:
        pretrain_cfg = _pretrain_config(spec, data_root, work_dir,
                                        dict(common, **cfg_options.get('pretrain', {})))
        checkpoint = osp.join(pretrain_cfg.work_dir,
                              f'iter_{pretrain_cfg.train_cfg.max_iters}.pth')
        task_cfg.model.backbone.init_cfg = dict(type='DICMPretrained', prefix='backbone.',
                                                checkpoint=osp.abspath(checkpoint))
    if task_iters is not None:
        task_cfg.train_cfg.max_iters = task_iters
        task_cfg.default_hooks.checkpoint.interval = task_iters
    codec_base = prepare(spec, spec.codec_config, data_root, work_dir,
                         dict(common, **cfg_options.get('codec', {})))
    check_preprocessors(task_cfg, codec_base)
    if codec_epochs is not None:
        set_epochs(codec_base, codec_epochs)
    warm_cfg = None
    if warm_start_epochs is not None:
        warm_cfg = codec_config(codec_base, spec, min(lambdas), osp.join(work_dir, 'warm_start'))
        set_epochs(warm_cfg, warm_start_epochs)
    # the DICM points depend on the codec and test configs and the warm start (not on the
    # task model's or the baselines' settings): only they are recomputed when those change
    dicm_base = prepare(spec, spec.dicm_config, data_root, work_dir,
                        dict(common, **spec.dicm_options, **cfg_options.get('dicm', {})))
    warm_digest = config_digest(warm_cfg) if warm_cfg is not None else ''
    task_stage_cfg, task_stage_digest = None, ''
    if spec.task_stage_config is not None:
        task_stage_cfg = prepare(spec, spec.task_stage_config, data_root, work_dir,
                                 dict(common, **cfg_options.get('task_stage', {})))
        if 'edge' not in tuple(task_stage_cfg.model.backbone.get('frozen_parts', ())):
            raise SweepError(f"{spec.task_stage_config}: model.backbone.frozen_parts has no "
                             "'edge': a task stage would change the bits")
        if task_stage_iters is not None:
            set_iters(task_stage_cfg, task_stage_iters)
        no_val(task_stage_cfg)
        task_stage_digest = config_digest(task_stage_cfg)
    learned_settings = None
    if learned:
        learned_settings = _learned_settings(codec_base, dataset, learned_lambdas,
                                             warm_start_epochs, seed)
    settings = dict(task=spec.name, task_config=osp.basename(spec.task_config),
                    task_config_digest=config_digest(task_cfg), task_iters=task_iters,
                    val_images=val_images, **dataset, seed=seed,
                    data_root=osp.abspath(data_root),
                    cfg_options=json.loads(json.dumps(cfg_options, default=repr)))
    return _Plan(spec, work_dir, lambdas, plan, task_cfg, codec_base, warm_cfg, dicm_base,
                 config_digest(codec_base) + config_digest(dicm_base) + warm_digest,
                 warm_digest, settings, val_images, warm_start_epochs, data_root,
                 task_stage_cfg, task_stage_digest, tuple(learned), learned_settings,
                 pretrain_cfg)


def _pretrain_config(spec: SweepTask, data_root: str, work_dir: str,
                     options: Dict[str, Any]) -> Config:
    """The backbone pre-training run: a classifier on ``data_root/classification/``."""
    root = data_root.rstrip('/') + '/classification/'
    opts = {f'{split}_dataloader.dataset.data_root': root for split in ('train', 'val', 'test')}
    cfg = prepare_config(spec.pretrain_config, work_dir=osp.join(work_dir, 'pretrain'))
    cfg.merge_from_dict(dict(opts, **options))
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop':
        raise SweepError(f'{spec.pretrain_config}: the pre-training must be iteration-based '
                         '(its checkpoint is iter_<max_iters>.pth)')
    cfg.default_hooks.checkpoint.interval = cfg.train_cfg.max_iters
    return cfg


def _learned_settings(codec_base: Config, dataset: Dict[str, Any], lambdas: Sequence[float],
                      warm_start_epochs: Optional[int], seed: int) -> Dict[str, Any]:
    """The learned pixel codecs' training, on DICM's codec budget: the same images, batch,
    view size, steps per λ and warm start (epochs of DICM's codec run, in steps)."""
    lambdas = sorted(check_lambdas(lambdas))
    batch = int(codec_base.train_dataloader.batch_size)
    steps_per_epoch = math.ceil(int(dataset['num_train']) / batch)
    crop = int(dataset['image_size']) // 64 * 64
    if crop < 64:
        raise SweepError(f'learned codecs need images of at least 64 px, got '
                         f'{dataset["image_size"]}')
    return dict(lambdas=lambdas, batch_size=batch, crop=crop, seed=seed,
                iters=int(codec_base.train_cfg.max_epochs) * steps_per_epoch,
                warm_start_iters=(None if warm_start_epochs is None
                                  else warm_start_epochs * steps_per_epoch))


def _train_task_model(plan: _Plan) -> Dict[str, Any]:
    """Train the task model; with ``spec.learning_curve`` it validates as its config says and
    the curve and its plateau are returned too."""
    cfg = copy.deepcopy(plan.task_cfg)
    if not plan.spec.learning_curve:
        no_val(cfg)
        return dict(checkpoint=runs.train(cfg))
    if plan.val_images is not None:
        cfg.val_dataloader.dataset.indices = plan.val_images
    out = dict(checkpoint=runs.train(cfg))
    curve = read_learning_curve(cfg.work_dir, plan.spec.metric_key)
    out.update(learning_curve=curve, plateau=plateau(curve, cfg.train_cfg.max_iters))
    return out


def _pretrain(sweep: _Sweep) -> Optional[Dict[str, Any]]:
    """Phase 0: the classifier the task model's backbone starts from (if the task has one);
    its checkpoint, top-1 on the val crops and seconds."""
    plan = sweep.plan
    if plan.pretrain_cfg is None:
        return None
    digest = config_digest(plan.pretrain_cfg)
    done = sweep.state.get('pretrain') or {}
    if done.get('config_digest') == digest and osp.isfile(done.get('checkpoint', '')):
        return done  # cached (the task model's training stopped after it)
    sweep.log(f'[sweep] pre-training the backbone: {osp.basename(plan.spec.pretrain_config)} '
              'on the object crops')
    t0 = time.perf_counter()
    checkpoint = runs.train(copy.deepcopy(plan.pretrain_cfg))
    expected = plan.task_cfg.model.backbone.init_cfg['checkpoint']
    if osp.abspath(checkpoint) != expected:
        raise SweepError(f'the pre-training wrote {checkpoint}, the task model loads {expected}')
    test_cfg = copy.deepcopy(plan.pretrain_cfg)
    test_cfg.load_from = checkpoint
    top1 = runs.test(test_cfg, None).get('accuracy/top1')
    sweep.log(f'[sweep] backbone pre-training: top-1 {top1:.1f} % on the val crops')
    sweep.state['pretrain'] = dict(checkpoint=checkpoint, top1=top1, config_digest=digest,
                                   seconds=time.perf_counter() - t0)
    sweep.save()
    return sweep.state['pretrain']


def _task_model(sweep: _Sweep) -> Tuple[str, float]:
    """Phase 1: the task model, trained once on uncompressed images; its checkpoint and
    metric."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    if 'uncompressed' not in points:
        t0 = time.perf_counter()
        pretrain = _pretrain(sweep)
        sweep.log(f'[sweep] {step} training the task model '
                  f'({osp.basename(plan.spec.task_config)})')
        trained = _train_task_model(plan)
        if pretrain is not None:
            trained['pretrain'] = pretrain
        test_cfg = copy.deepcopy(plan.task_cfg)
        test_cfg.load_from = trained['checkpoint']
        metrics = runs.test(test_cfg, plan.val_images)
        sweep.record('uncompressed', dict(method='uncompressed', **trained,
                                          metric=metrics[plan.spec.metric_key],
                                          metrics=metrics, seconds=time.perf_counter() - t0))
    task_ckpt = points['uncompressed']['checkpoint']
    if not osp.isfile(task_ckpt):
        raise SweepError(f'the task checkpoint {task_ckpt} of {sweep.path} is gone; use '
                         'another --work-dir')
    reference = points['uncompressed']['metric']
    sweep.log(f'[sweep] task model: {plan.spec.metric_name} {reference:.3f} uncompressed '
              f'({task_ckpt})')
    flat = points['uncompressed'].get('plateau')
    if flat is not None:
        sweep.log(f'[sweep] learning curve: {plan.spec.metric_name} {flat["from_metric"]:.3f} '
                  f'at iteration {flat["from_iter"]} -> {flat["to_metric"]:.3f} at '
                  f'{flat["to_iter"]} ({flat["gain"]:+.1%} over the last quarter): '
                  + ('plateau reached' if flat['reached'] else
                     f'NOT at its plateau (>= {PLATEAU_GAIN:.0%}): train it longer'))
    return task_ckpt, reference


def _codec_point(sweep: _Sweep, task_ckpt: str, codec: str, quality: int, step: str,
                 codec_kwargs: Optional[Dict[str, Any]] = None,
                 extra: Optional[Dict[str, Any]] = None) -> None:
    """One pixel-codec point: the task model on images decoded at ``quality``."""
    plan, points = sweep.plan, sweep.points
    name = f'{codec}@{quality}'
    t0 = time.perf_counter()
    cfg = with_pixel_codec(plan.task_cfg, codec, quality, codec_kwargs)
    cfg.work_dir = osp.join(plan.work_dir, 'baselines', f'{codec}_{quality}')
    cfg.load_from = task_ckpt
    metrics = runs.test(cfg, plan.val_images)
    sweep.record(name, dict(method=codec, quality=quality, bpp=metrics['codec/bpp'],
                            payload_bpp=metrics['codec/payload_bpp'],
                            metric=metrics[plan.spec.metric_key], metrics=metrics,
                            seconds=time.perf_counter() - t0, **(extra or {})))
    sweep.log(f'[sweep] {step} {codec} {get_pixel_codec(codec).quality_name} '
              f'{quality}: {plan.spec.metric_name} {points[name]["metric"]:.3f} at '
              f'{points[name]["bpp"]:.3f} bpp ({points[name]["seconds"]:.0f} s)')


def _pixel_codecs(sweep: _Sweep, task_ckpt: str) -> List[str]:
    """Phase 2: every pixel codec and quality, the same task model on decoded images;
    returns the codecs skipped because they are unavailable here."""
    plan, points = sweep.plan, sweep.points
    skipped = []
    for codec, codec_qualities in plan.codecs:
        ok, reason = get_pixel_codec(codec).available()
        if not ok:
            sweep.log(f'[sweep] skipping {codec}: {reason}')
            skipped.append(codec)
            sweep.next(len(codec_qualities))
            continue
        for quality in codec_qualities:
            step = sweep.next()
            name = f'{codec}@{quality}'
            if name in points and points[name].get('payload_bpp') is not None:
                continue
            _codec_point(sweep, task_ckpt, codec, quality, step)
    return skipped


def _learned_codecs(sweep: _Sweep, task_ckpt: str) -> None:
    """Phase 2b: each learned pixel codec trained from scratch on the task's training images
    (one checkpoint per MSE λ, DICM's codec budget), then swept like the other codecs."""
    plan, points = sweep.plan, sweep.points
    settings = plan.learned_settings or {}
    for codec in plan.learned:
        out_dir = osp.join(plan.work_dir, 'learned', codec)
        qualities = range(1, len(settings['lambdas']) + 1)
        todo = [q for q in qualities
                if points.get(f'{codec}@{q}', {}).get('train_settings') != settings]
        step = sweep.next()
        if todo:
            sweep.log(f'[sweep] {step} {codec}: training from scratch on '
                      f'{plan.data_root}/train at MSE λ {settings["lambdas"]}, '
                      f'{settings["iters"]} steps each'
                      + (f' from a warm start of {settings["warm_start_iters"]} steps'
                         if settings['warm_start_iters'] else '') + ' (DICM\'s codec budget)')
        t0 = time.perf_counter()
        train_learned_codecs(osp.join(plan.data_root, 'train'), out_dir, settings['lambdas'],
                             iters=settings['iters'],
                             warm_start_iters=settings['warm_start_iters'],
                             batch_size=settings['batch_size'], crop=settings['crop'],
                             seed=settings['seed'], log=sweep.log)
        train_seconds = time.perf_counter() - t0
        for q in qualities:
            step = sweep.next()
            if q not in todo:
                continue
            _codec_point(sweep, task_ckpt, codec, q, step,
                         codec_kwargs=dict(checkpoint_dir=osp.abspath(out_dir)),
                         extra=dict(lambda_mse=settings['lambdas'][q - 1],
                                    train_settings=settings,
                                    train_seconds=train_seconds / len(todo)))


def _warm_start(sweep: _Sweep, task_ckpt: str) -> str:
    """Phase 3a: the checkpoint every λ's codec starts from (the warm start's, if any)."""
    plan, state = sweep.plan, sweep.state
    if plan.warm_cfg is None:
        return task_ckpt
    step = sweep.next()
    warm = state.get('warm_start') or {}
    if warm.get('config_digest') != plan.warm_digest or \
            not osp.isfile(warm.get('checkpoint', '')):
        sweep.log(f'[sweep] {step} DICM warm start: training the codec at λ='
                  f'{min(plan.lambdas):g} for {plan.warm_start_epochs} epochs (every λ starts '
                  'from it)')
        t0 = time.perf_counter()
        plan.warm_cfg.load_from = task_ckpt
        state['warm_start'] = dict(checkpoint=runs.train(copy.deepcopy(plan.warm_cfg)),
                                   lambda_rate=min(plan.lambdas),
                                   epochs=plan.warm_start_epochs,
                                   config_digest=plan.warm_digest,
                                   seconds=time.perf_counter() - t0)
        sweep.save()
    return state['warm_start']['checkpoint']


def _dicm_point(sweep: _Sweep, lam: float, task_ckpt: str, codec_init: str) -> None:
    """Phase 3b, one λ: the codec trained under the frozen task model, then real coding."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    name = f'dicm@{lambda_tag(lam)}'
    lam_dir = osp.join(plan.work_dir, lambda_tag(lam))
    old = points.get(name)
    merged = None
    if old is not None:
        if old.get('config_digest') == plan.dicm_digest:
            if old.get('payload_bpp') is not None:
                return
            if osp.isfile(old.get('checkpoint') or ''):
                sweep.log(f'[sweep] {step} DICM λ={lam:g} was measured before payload '
                          'bytes were recorded: testing its checkpoint again (no training)')
                merged = old['checkpoint']
        else:
            sweep.log(f'[sweep] the codec or DICM test config changed since λ={lam:g} was '
                      'measured: measuring it again')
    t0 = time.perf_counter()
    if merged is None:
        cfg = codec_config(plan.codec_base, plan.spec, lam, osp.join(lam_dir, 'codec'))
        cfg.load_from = codec_init
        sweep.log(f'[sweep] {step} DICM λ={lam:g}: training the codec under the frozen '
                  'task model' + (' from the warm start' if plan.warm_cfg is not None else ''))
        codec_ckpt = runs.train(cfg)
        merged = runs.merge_codec_checkpoint(task_ckpt, codec_ckpt,
                                             osp.join(lam_dir, 'dicm.pth'))
    test_cfg = copy.deepcopy(plan.dicm_base)
    test_cfg.work_dir, test_cfg.load_from = osp.join(lam_dir, 'test'), merged
    metrics = runs.test(test_cfg, plan.val_images, merged=True)
    seconds = time.perf_counter() - t0 + (old['seconds'] if old and
                                          old.get('checkpoint') == merged else 0.)
    sweep.record(name, dict(method='dicm', lambda_rate=lam, bpp=metrics['dicm/bpp'],
                            payload_bpp=metrics['dicm/payload_bpp'],
                            metric=metrics[plan.spec.metric_key], metrics=metrics,
                            checkpoint=merged, config_digest=plan.dicm_digest, seconds=seconds))
    sweep.log(f'[sweep] {step} DICM λ={lam:g}: {plan.spec.metric_name} '
              f'{points[name]["metric"]:.3f} at {points[name]["bpp"]:.3f} bpp (real bytes, '
              f'{points[name]["seconds"]:.0f} s)')


def _task_stage_point(sweep: _Sweep, lam: float) -> None:
    """Phase 3c, one λ: the paper's task stage on that λ's frozen edge (the merged checkpoint
    of :func:`_dicm_point`): the receiver trains on decoded features, the bits stay."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    tag = lambda_tag(lam)
    name, edge = f'dicm-task-stage@{tag}', points[f'dicm@{tag}']
    old = points.get(name)
    if old is not None and old.get('config_digest') == plan.task_stage_digest and \
            old.get('edge') == edge['checkpoint']:
        return
    lam_dir = osp.join(plan.work_dir, tag)
    sweep.log(f'[sweep] {step} DICM λ={lam:g}, task stage: the receiver trains on the '
              f'decoded features of the frozen edge ({plan.task_stage_cfg.train_cfg.max_iters}'
              ' iterations)')
    t0 = time.perf_counter()
    cfg = copy.deepcopy(plan.task_stage_cfg)
    cfg.work_dir, cfg.load_from = osp.join(lam_dir, 'task_stage'), edge['checkpoint']
    checkpoint = runs.train(cfg)
    test_cfg = copy.deepcopy(plan.task_stage_cfg)
    test_cfg.work_dir, test_cfg.load_from = osp.join(lam_dir, 'task_stage_test'), checkpoint
    metrics = runs.test(test_cfg, plan.val_images, merged=True)
    if metrics['dicm/payload_bpp'] != edge['payload_bpp']:
        raise SweepError(f'the task stage of λ={lam:g} changed the bits ({edge["payload_bpp"]}'
                         f' -> {metrics["dicm/payload_bpp"]} payload bpp on the same images): '
                         f"{plan.spec.task_stage_config} does not freeze the whole edge")
    sweep.record(name, dict(method='dicm-task-stage', lambda_rate=lam, bpp=metrics['dicm/bpp'],
                            payload_bpp=metrics['dicm/payload_bpp'],
                            metric=metrics[plan.spec.metric_key], metrics=metrics,
                            checkpoint=checkpoint, edge=edge['checkpoint'],
                            config_digest=plan.task_stage_digest,
                            seconds=time.perf_counter() - t0))
    sweep.log(f'[sweep] {step} DICM λ={lam:g}, task stage: {plan.spec.metric_name} '
              f'{edge["metric"]:.3f} -> {points[name]["metric"]:.3f} at the same '
              f'{points[name]["bpp"]:.3f} bpp ({points[name]["seconds"]:.0f} s)')


def _results(sweep: _Sweep, reference: float, skipped: List[str], rate: str,
             seconds: float, partial: bool = False) -> SweepResult:
    """Phase 4: curves, BD table and the files (csv, json, png, md). ``partial``: only the
    points measured so far (a baseline curve with the qualities done, a DICM curve once all
    its λ are)."""
    plan = sweep.plan
    out_dir = plan.work_dir if rate == 'file' else osp.join(plan.work_dir, 'payload')
    num_learned = len((plan.learned_settings or {}).get('lambdas', ()))
    baselines = [(c, qs) for c, qs in plan.codecs if c not in skipped] + \
        [(c, tuple(range(1, num_learned + 1))) for c in plan.learned]
    dicm = ['dicm'] + (['dicm-task-stage'] if plan.task_stage_cfg is not None else [])
    if partial:
        done = sweep.points
        baselines = [(c, tuple(q for q in qs if f'{c}@{q}' in done)) for c, qs in baselines]
        baselines = [(c, qs) for c, qs in baselines if qs]
        dicm = [d for d in dicm if all(f'{d}@{lambda_tag(lam)}' in done
                                       for lam in plan.lambdas)]
    curves, table = curves_and_table(plan.spec, sweep.points, baselines, plan.lambdas, dicm,
                                     sweep.log, RATES[rate][0])
    files = write_results(curves, table, out_dir, reference=('uncompressed', reference))
    wanted = ['uncompressed'] + [f'{c}@{q}' for c, qs in baselines for q in qs] + \
        [f'{d}@{lambda_tag(lam)}' for d in dicm for lam in plan.lambdas]
    result = SweepResult(task=plan.spec.name, metric_name=plan.spec.metric_name,
                         reference=reference, curves=curves, table=table,
                         points={k: sweep.points[k] for k in wanted}, files=files,
                         seconds=seconds, skipped=skipped, rate=rate)
    md = osp.join(out_dir, 'results.md')
    with open(md, 'w', encoding='utf-8') as f:
        f.write(format_sweep_markdown(result) + '\n')
    files['md'] = md
    return result


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
            ``task_stage_config``; None: the config's).
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
        report_only (bool): Measure nothing: write the results of the points cached so far
            (e.g. while another process runs the same sweep). Defaults to False.
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
    plan = _plan(spec, work_dir, data_root, lambdas, codecs, qualities, task_iters,
                 codec_epochs, warm_start_epochs, val_images, seed, cfg_options, dataset,
                 task_stage_iters, learned, learned_lambdas)
    os.makedirs(work_dir, exist_ok=True)
    sweep = _Sweep(plan, log)
    generate_embedded_dataset(data_root, seed=0, **dataset)
    if report_only:
        if 'uncompressed' not in sweep.points:
            raise SweepError(f'{sweep.path}: nothing measured yet (no task model)')
        skipped = [c for c, _ in plan.codecs if not get_pixel_codec(c).available()[0]]
        return _results(sweep, sweep.points['uncompressed']['metric'], skipped, rate,
                        time.perf_counter() - t_start, partial=True)
    task_ckpt, reference = _task_model(sweep)
    # DICM's curves before the learned codec's: on a budget, the curve under test first
    skipped = _pixel_codecs(sweep, task_ckpt)
    codec_init = _warm_start(sweep, task_ckpt)
    for lam in plan.lambdas:
        _dicm_point(sweep, lam, task_ckpt, codec_init)
    if plan.task_stage_cfg is not None:
        for lam in plan.lambdas:
            _task_stage_point(sweep, lam)
    _learned_codecs(sweep, task_ckpt)
    return _results(sweep, reference, skipped, rate, time.perf_counter() - t_start)
