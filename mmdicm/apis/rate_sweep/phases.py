"""The sweep's phases, one function each, in the order :func:`.sweep.run_rate_sweep` runs
them; each records its points in the cache (:class:`Sweep`) as they are measured, and skips
what the cache already holds."""
import copy
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ...baselines.feature_vvc import FEATURE_CODECS
from ...baselines.learned_training import train_learned_codecs
from . import runs
from .configs import codec_config, config_digest, no_val, with_feature_codec, with_pixel_codec
from .curve import PLATEAU_GAIN, plateau, read_learning_curve
from .plan import Plan
from .state import STATE_FILE, baseline_key, dicm_key, lambda_tag, load_state, made_by, save_state
from .tasks import SweepError, get_baseline

Log = Callable[[str], None]

#: what a cached point's metric means: 2 = COCO metrics over the tested images alone
#: (before, with --val-images N < all, mmdet's CocoMetric also counted every untested val
#: image's objects as missed: about half the mAP at 100 of 200 images). A point of an
#: older version is tested again from its checkpoints, nothing is trained again.
EVAL_VERSION = 2


class Sweep:
    """The sweep's cache (``sweep.json``) and its progress counter."""

    def __init__(self, plan: Plan, log: Log) -> None:
        self.plan, self.log = plan, log
        self.path = osp.join(plan.work_dir, STATE_FILE)
        self.state = load_state(self.path, plan.settings)
        self.points: Dict[str, Dict[str, Any]] = self.state['points']
        num_learned = len((plan.learned_settings or {}).get('lambdas', ()))
        self.total = (1 + sum(len(q) for _, q in plan.codecs) + len(plan.lambdas) +
                      (plan.warm_cfg is not None) + len(plan.learned) * (1 + num_learned) +
                      (len(plan.lambdas) if plan.task_stage_cfg is not None else 0) +
                      (1 + sum(len(q) for _, q in plan.codecs) + len(plan.lambdas)
                       if plan.second is not None else 0))
        self.step = 0
        second = plan.spec.second_task
        self._second_prefix = None if second is None else second.name + '/'
        stale = [n for n in self.points if self.stale(n)]
        if stale:
            log(f'[sweep] {len(stale)} cached point(s) were evaluated with COCO metrics over '
                'every val image, not the tested ones alone: testing them again from their '
                'checkpoints (nothing is trained again)')

    def stale(self, name: str) -> bool:
        """Whether the cached point ``name`` must be tested again (see
        :data:`EVAL_VERSION`): a COCO metric over fewer images than the annotations hold,
        measured before the evaluation was restricted to them. The second task's points
        (its own metric; its detector numbers come from subset annotations) never are."""
        point = self.points.get(name)
        if point is None or not self.plan.spec.coco_evaluator or self.plan.val_images is None:
            return False
        if self._second_prefix is not None and name.startswith(self._second_prefix):
            return False
        return int(point.get('eval_version', 1)) < EVAL_VERSION

    def record(self, name: str, point: Dict[str, Any]) -> None:
        self.points[name] = dict(point, eval_version=EVAL_VERSION)
        self.save()

    def save(self) -> None:
        save_state(self.path, self.state)

    def next(self, steps: int = 1) -> str:
        self.step += steps
        return f'{self.step}/{self.total}'


def _train_task_model(plan: Plan) -> Dict[str, Any]:
    """Train the task model; with ``spec.learning_curve`` it validates as its config says and
    the curve and its plateau are returned too."""
    cfg = copy.deepcopy(plan.task_cfg)
    if not plan.spec.learning_curve:
        no_val(cfg)
        return dict(checkpoint=runs.train(cfg))
    if plan.val_images is not None:  # the curve counts the validated images' objects alone
        cfg.val_dataloader.dataset.indices = plan.val_images
        runs.restrict_coco_evaluation(cfg, plan.val_images, 'val_evaluator')
    out = dict(checkpoint=runs.train(cfg))
    curve = read_learning_curve(cfg.work_dir, plan.spec.metric_key)
    out.update(learning_curve=curve, plateau=plateau(curve, cfg.train_cfg.max_iters))
    return out


def pretrain(sweep: Sweep) -> Optional[Dict[str, Any]]:
    """Phase 0: the classifier the task model's backbone starts from (if the task has one);
    its checkpoint, top-1 on the val crops and seconds."""
    plan = sweep.plan
    if plan.pretrain_cfg is None:
        return None
    digest = config_digest(plan.pretrain_cfg)
    if made_by(sweep.state.get('pretrain'), digest):
        return sweep.state['pretrain']  # cached (the task model's training stopped after it)
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


def task_model(sweep: Sweep) -> Tuple[str, float]:
    """Phase 1: the task model, trained once on uncompressed images; its checkpoint and
    metric."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    old = points.get('uncompressed')
    if old is not None and sweep.stale('uncompressed') and osp.isfile(old['checkpoint']):
        sweep.log(f'[sweep] {step} testing the task model again ({old["checkpoint"]})')
        t0 = time.perf_counter()
        test_cfg = copy.deepcopy(plan.task_cfg)
        test_cfg.load_from = old['checkpoint']
        metrics = runs.test(test_cfg, plan.val_images)
        sweep.record('uncompressed', dict(old, metric=metrics[plan.spec.metric_key],
                                          metrics=metrics, test_seconds=time.perf_counter() - t0))
    if 'uncompressed' not in points:
        t0 = time.perf_counter()
        pretrained = pretrain(sweep)
        sweep.log(f'[sweep] {step} training the task model '
                  f'({osp.basename(plan.spec.task_config)})')
        trained = _train_task_model(plan)
        if pretrained is not None:
            trained['pretrain'] = pretrained
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


def codec_point(sweep: Sweep, task_ckpt: str, codec: str, quality: int, step: str,
                 codec_kwargs: Optional[Dict[str, Any]] = None,
                 extra: Optional[Dict[str, Any]] = None, second: bool = False) -> None:
    """One baseline point: the task model on images decoded at ``quality`` (pixel codecs),
    or on its split features decoded at ``quality`` (feature codecs: ``fcm-vvc``).
    ``second``: the second task's model (``task_ckpt``), point ``<its name>/<codec>@<q>``."""
    plan, points = sweep.plan, sweep.points
    name, task_cfg, folder = baseline_key(codec, quality), plan.task_cfg, plan.work_dir
    key, label = plan.spec.metric_key, plan.spec.metric_name
    if second:
        name, task_cfg = f'{plan.second.name}/{name}', plan.second_task_cfg
        folder, key, label = (osp.join(plan.work_dir, plan.second.name),
                              plan.second.metric_key, plan.second.metric_name)
    t0 = time.perf_counter()
    if codec in FEATURE_CODECS:
        cfg = with_feature_codec(task_cfg, codec, quality, codec_kwargs)
    else:
        cfg = with_pixel_codec(task_cfg, codec, quality, codec_kwargs)
    cfg.work_dir = osp.join(folder, 'baselines', f'{codec}_{quality}')
    cfg.load_from = task_ckpt
    metrics = runs.test(cfg, plan.val_images)
    sweep.record(name, dict(method=codec, quality=quality, bpp=metrics['codec/bpp'],
                            payload_bpp=metrics['codec/payload_bpp'],
                            metric=metrics[key], metrics=metrics,
                            seconds=time.perf_counter() - t0, **(extra or {})))
    sweep.log(f'[sweep] {step} {"" if not second else plan.second.name + ": "}{codec} '
              f'{get_baseline(codec).quality_name} {quality}: {label} '
              f'{points[name]["metric"]:.3f} at {points[name]["bpp"]:.3f} bpp '
              f'({points[name]["seconds"]:.0f} s)')


#: training images the channel basis of ``fcm-vvc-pca`` is fitted on
BASIS_IMAGES = 200


def feature_basis(sweep: Sweep, task_ckpt: str, codec: str) -> Dict[str, Any]:
    """The channel basis of a reducing feature codec (``fcm-vvc-pca``): fitted once on the
    task model's split features of the first :data:`BASIS_IMAGES` training images (a test
    pass over them with :class:`~mmdicm.engine.FeatureStatsHook`), cached in the work dir;
    returns the codec's keyword arguments (``basis=<the .npz>``)."""
    from ...baselines import ChannelPCA, get_feature_codec
    plan = sweep.plan
    coder = get_feature_codec(codec)
    path = osp.join(plan.work_dir, 'baselines', f'{codec}_basis.npz')
    bases = sweep.state.setdefault('feature_bases', {})
    done = bases.get(codec) or {}
    if done.get('task_checkpoint') == task_ckpt and osp.isfile(path):
        return dict(basis=path)
    sweep.log(f'[sweep] {codec}: fitting its channel basis ({coder.default_components} '
              f'components) on the split features of {BASIS_IMAGES} training images')
    t0 = time.perf_counter()
    cfg = copy.deepcopy(plan.task_cfg)
    train, test = cfg.train_dataloader.dataset, cfg.test_dataloader.dataset
    if 'ann_file' not in train or 'ann_file' not in test:
        raise SweepError(f'{codec}: the task config\'s train and test datasets must both be '
                         'annotation-file datasets to fit the channel basis on training images')
    for key in ('data_root', 'ann_file', 'data_prefix'):
        if key in train:
            test[key] = copy.deepcopy(train[key])
    root = test.get('data_root', '') or ''
    for evaluator in cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]:
        if 'ann_file' in evaluator:
            evaluator['ann_file'] = osp.join(root, train.ann_file)
        if evaluator.get('type') == 'DICMBppMetric':
            raise SweepError(f'{codec}: the task model has a codec of its own')
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(
        type='FeatureStatsHook', out_file=path, components=coder.default_components,
        module=coder.coded_module)]
    cfg.work_dir = osp.join(plan.work_dir, 'baselines', f'{codec}_basis')
    cfg.load_from = task_ckpt
    os.makedirs(osp.dirname(path), exist_ok=True)
    runs.test(cfg, BASIS_IMAGES)
    basis = ChannelPCA.load(path)
    bases[codec] = dict(task_checkpoint=task_ckpt, path=path, components=basis.k,
                        channels=basis.channels, explained=basis.explained,
                        images=BASIS_IMAGES, seconds=time.perf_counter() - t0)
    sweep.save()
    sweep.log(f'[sweep] {codec}: {basis.k} of {basis.channels} channels hold '
              f'{basis.explained:.1%} of the variance ({bases[codec]["seconds"]:.0f} s)')
    return dict(basis=path)


def pixel_codecs(sweep: Sweep, task_ckpt: str) -> List[str]:
    """Phase 2: every pixel codec and quality, the same task model on decoded images;
    returns the codecs skipped because they are unavailable here."""
    plan, points = sweep.plan, sweep.points
    skipped = []
    for codec, codec_qualities in plan.codecs:
        ok, reason = get_baseline(codec).available()
        if not ok:
            sweep.log(f'[sweep] skipping {codec}: {reason}')
            skipped.append(codec)
            sweep.next(len(codec_qualities))
            continue
        kwargs = None
        for quality in codec_qualities:
            step = sweep.next()
            name = baseline_key(codec, quality)
            if name in points and points[name].get('payload_bpp') is not None and \
                    not sweep.stale(name):
                continue
            if kwargs is None and getattr(get_baseline(codec), 'default_components', None):
                kwargs = feature_basis(sweep, task_ckpt, codec)
            codec_point(sweep, task_ckpt, codec, quality, step, codec_kwargs=kwargs)
    return skipped


def learned_codecs(sweep: Sweep, task_ckpt: str) -> None:
    """Phase 2b: each learned pixel codec trained from scratch on the task's training images
    (one checkpoint per MSE λ, DICM's codec budget), then swept like the other codecs."""
    plan, points = sweep.plan, sweep.points
    settings = plan.learned_settings or {}
    for codec in plan.learned:
        out_dir = osp.join(plan.work_dir, 'learned', codec)
        qualities = range(1, len(settings['lambdas']) + 1)
        todo = [q for q in qualities
                if points.get(baseline_key(codec, q), {}).get('train_settings') != settings]
        retest = [q for q in qualities if q not in todo and sweep.stale(baseline_key(codec, q))]
        step = sweep.next()
        if todo:
            sweep.log(f'[sweep] {step} {codec}: training from scratch on '
                      f'{plan.data_root}/train at MSE λ {settings["lambdas"]}, '
                      f'{settings["iters"]} steps each'
                      + (f' from a warm start of {settings["warm_start_iters"]} steps'
                         if settings['warm_start_iters'] else '') + ' (DICM\'s codec budget)')
        t0 = time.perf_counter()
        if todo:  # (all cached, e.g. taken from another sweep: its checkpoints are there)
            train_learned_codecs(osp.join(plan.data_root, 'train'), out_dir,
                                 settings['lambdas'], iters=settings['iters'],
                                 warm_start_iters=settings['warm_start_iters'],
                                 batch_size=settings['batch_size'], crop=settings['crop'],
                                 seed=settings['seed'], log=sweep.log)
        train_seconds = time.perf_counter() - t0
        for q in qualities:
            step = sweep.next()
            if q not in todo and q not in retest:
                continue
            seconds = (train_seconds / len(todo) if q in todo else
                       points[baseline_key(codec, q)].get('train_seconds'))
            codec_point(sweep, task_ckpt, codec, q, step,
                         codec_kwargs=dict(checkpoint_dir=osp.abspath(out_dir)),
                         extra=dict(lambda_mse=settings['lambdas'][q - 1],
                                    train_settings=settings, train_seconds=seconds))


def warm_start(sweep: Sweep, task_ckpt: str) -> str:
    """Phase 3a: the checkpoint every λ's codec starts from (the warm start's, if any)."""
    plan, state = sweep.plan, sweep.state
    if plan.warm_cfg is None:
        return task_ckpt
    step = sweep.next()
    if not made_by(state.get('warm_start'), plan.warm_digest):
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


def _coded_point(method: str, lam: float, metrics: Dict[str, float], metric_key: str,
                 **extra: Any) -> Dict[str, Any]:
    """The cache record of one DICM point measured on real bitstreams."""
    return dict(method=method, lambda_rate=lam, bpp=metrics['dicm/bpp'],
                payload_bpp=metrics['dicm/payload_bpp'], metric=metrics[metric_key],
                metrics=metrics, **extra)


def dicm_point(sweep: Sweep, lam: float, task_ckpt: str, codec_init: str) -> None:
    """Phase 3b, one λ: the codec trained under the frozen task model, then real coding."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    name = dicm_key('dicm', lam)
    lam_dir = osp.join(plan.work_dir, lambda_tag(lam))
    old = points.get(name)
    merged = None
    if old is not None:
        if old.get('config_digest') == plan.dicm_digest:
            if old.get('payload_bpp') is not None and not sweep.stale(name):
                return
            if sweep.stale(name) and osp.isfile(old.get('checkpoint') or ''):
                sweep.log(f'[sweep] {step} DICM λ={lam:g}: testing its checkpoint again '
                          '(COCO metrics over the tested images alone; no training)')
                merged = old['checkpoint']
            elif osp.isfile(old.get('checkpoint') or ''):
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
    sweep.record(name, _coded_point('dicm', lam, metrics, plan.spec.metric_key,
                                    checkpoint=merged, config_digest=plan.dicm_digest,
                                    seconds=seconds))
    sweep.log(f'[sweep] {step} DICM λ={lam:g}: {plan.spec.metric_name} '
              f'{points[name]["metric"]:.3f} at {points[name]["bpp"]:.3f} bpp (real bytes, '
              f'{points[name]["seconds"]:.0f} s)')


def task_stage_point(sweep: Sweep, lam: float) -> None:
    """Phase 3c, one λ: the paper's task stage on that λ's frozen edge (the merged checkpoint
    of :func:`_dicm_point`): the receiver trains on decoded features, the bits stay."""
    plan, points = sweep.plan, sweep.points
    step = sweep.next()
    tag = lambda_tag(lam)
    name, edge = dicm_key('dicm-task-stage', lam), points[dicm_key('dicm', lam)]
    old = points.get(name)
    same = old is not None and old.get('config_digest') == plan.task_stage_digest and \
        old.get('edge') == edge['checkpoint']
    if same and not sweep.stale(name):
        return
    lam_dir = osp.join(plan.work_dir, tag)
    t0 = time.perf_counter()
    if same and osp.isfile(old.get('checkpoint') or ''):
        sweep.log(f'[sweep] {step} DICM λ={lam:g}, task stage: testing its checkpoint again '
                  '(COCO metrics over the tested images alone; no training)')
        checkpoint = old['checkpoint']
        t0 -= old.get('seconds', 0.0)
    else:
        sweep.log(f'[sweep] {step} DICM λ={lam:g}, task stage: the receiver trains on the '
                  'decoded features of the frozen edge '
                  f'({plan.task_stage_cfg.train_cfg.max_iters} iterations)')
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
    sweep.record(name, _coded_point('dicm-task-stage', lam, metrics, plan.spec.metric_key,
                                    checkpoint=checkpoint, edge=edge['checkpoint'],
                                    config_digest=plan.task_stage_digest,
                                    seconds=time.perf_counter() - t0))
    sweep.log(f'[sweep] {step} DICM λ={lam:g}, task stage: {plan.spec.metric_name} '
              f'{edge["metric"]:.3f} -> {points[name]["metric"]:.3f} at the same '
              f'{points[name]["bpp"]:.3f} bpp ({points[name]["seconds"]:.0f} s)')
