"""The second task of one bitstream (:attr:`SweepTask.second_task`, e.g. a whole-image
classifier beside the COCO-like detector): its task model on uncompressed images, the pixel
codecs' points on it, and per λ its task stage on the main task's frozen edge, tested on the
very files that edge writes::

    λ's DICM detector (dicm@λ: edge = stem, layer1, codec) ─┐
    classifier task model (uncompressed) ─ receiver ────────┴► merged ─► classifier task stage
    val images ─► compress once (the detector's checkpoint) ─► *.dicm
                  *.dicm ─► analyze: detector   (its mAP, again, from the files)
                  *.dicm ─► analyze: classifier (the classification point)

Its points are ``<name>/<point>`` in the sweep's cache; its files go to ``<work_dir>/<name>/``.
"""
import copy
import os.path as osp
import time
from typing import Any, Dict

from ...baselines.feature_vvc import FEATURE_CODECS
from ..one_bitstream import compress_and_analyze
from . import runs
from .phases import Sweep, codec_point, pretrain
from .state import dicm_key, lambda_tag
from .tasks import SweepError, get_baseline

__all__ = ['second_task_model', 'second_pixel_codecs', 'second_dicm_point', 'check_same_bits']

#: Relative gap tolerated between the files' bits (compress) and the main task's test pass
#: bits on the same images before the sweep says the two are not one bitstream
SAME_BITS_TOLERANCE = 1e-3
#: ... or this many bytes per image, whichever is more: the test pass codes its images in
#: batches, the compress tool one at a time, and float32 convolutions may take other kernels
#: for another batch size, moving a latent across a rounding step here and there (measured
#: 2026-12-04 on an AMD EPYC machine: 2 bits of ~1890 on two 64-px images at test batch 2,
#: 0.10 %; the same bits at batch 1). Another edge or other images differ by percents.
SAME_BITS_SLACK_BYTES = 4


def second_task_model(sweep: Sweep) -> str:
    """The second task model, trained once on uncompressed images from the sweep's
    pre-trained backbone; its checkpoint."""
    plan, points = sweep.plan, sweep.points
    second = plan.second
    name = f'{second.name}/uncompressed'
    step = sweep.next()
    old = points.get(name) or {}
    if old.get('config_digest') != plan.second_digest or \
            not osp.isfile(old.get('checkpoint', '')):
        sweep.log(f'[sweep] {step} {second.name}: training its task model '
                  f'({osp.basename(second.task_config)}) on uncompressed images')
        t0 = time.perf_counter()
        cfg = copy.deepcopy(plan.second_task_cfg)
        done = pretrain(sweep)
        if done is not None:
            cfg.model.backbone.init_cfg = dict(type='DICMPretrained', prefix='backbone.',
                                               checkpoint=osp.abspath(done['checkpoint']))
        checkpoint = runs.train(cfg)
        test_cfg = copy.deepcopy(plan.second_task_cfg)
        test_cfg.load_from = checkpoint
        metrics = runs.test(test_cfg, plan.val_images)
        sweep.record(name, dict(method='uncompressed', checkpoint=checkpoint,
                                metric=metrics[second.metric_key], metrics=metrics,
                                config_digest=plan.second_digest,
                                seconds=time.perf_counter() - t0))
    point = points[name]
    sweep.log(f'[sweep] {second.name}: task model {second.metric_name} '
              f'{point["metric"]:.3f} uncompressed ({point["checkpoint"]})')
    return point['checkpoint']


def second_pixel_codecs(sweep: Sweep, checkpoint: str) -> None:
    """The pixel codecs' points of the second task: its task model on decoded images (the
    feature codecs' and the learned codecs' are the main task's only)."""
    plan, points = sweep.plan, sweep.points
    for codec, qualities in plan.codecs:
        if codec in FEATURE_CODECS or not get_baseline(codec).available()[0]:
            sweep.next(len(qualities))
            continue
        for quality in qualities:
            step = sweep.next()
            old = points.get(f'{plan.second.name}/{codec}@{quality}') or {}
            if old.get('task_checkpoint') == checkpoint and \
                    old.get('task_digest') == plan.second_digest:
                continue
            codec_point(sweep, checkpoint, codec, quality, step, second=True,
                        extra=dict(task_checkpoint=checkpoint, task_digest=plan.second_digest))


def _dump(cfg: Any, path: str) -> str:
    cfg = copy.deepcopy(cfg)
    cfg.load_from = None
    cfg.dump(path)
    return path


def check_same_bits(bpp: float, test_bpp: float, num_files: int, num_bytes: int,
                    what: str) -> None:
    """:class:`SweepError` unless the files' ``bpp`` (``num_files`` files, ``num_bytes`` in
    all) are the main task's test-pass ``test_bpp`` on the same images, within
    :data:`SAME_BITS_TOLERANCE` or :data:`SAME_BITS_SLACK_BYTES` per file."""
    slack = bpp * SAME_BITS_SLACK_BYTES * num_files / max(num_bytes, 1)
    if abs(bpp - test_bpp) > max(SAME_BITS_TOLERANCE * test_bpp, slack):
        raise SweepError(f'{what}: the files hold {bpp:.5f} bpp, the detector\'s test pass '
                         f'coded {test_bpp:.5f} bpp on the same images: not the bitstream of '
                         'its curve')


def second_dicm_point(sweep: Sweep, lam: float, checkpoint: str) -> None:
    """One λ of the second task: its task stage on the main task's frozen edge of that λ,
    then one compress (the main task's paper-protocol model) and one analyze per task model
    of the same files; the point is the second task's metric at the files' rate."""
    plan, points = sweep.plan, sweep.points
    second, tag = plan.second, lambda_tag(lam)
    step = sweep.next()
    stage_key = dicm_key('dicm-task-stage', lam)
    name = f'{second.name}/{stage_key}'
    edge = points[dicm_key('dicm', lam)]
    writer = points.get(stage_key) or edge
    old = points.get(name) or {}
    if old.get('config_digest') == plan.second_stage_digest and \
            old.get('edge') == edge['checkpoint'] and old.get('task_checkpoint') == checkpoint \
            and old.get('task_digest') == plan.second_digest \
            and old.get('writer') == writer['checkpoint']:
        return
    lam_dir = osp.join(plan.work_dir, second.name, tag)
    sweep.log(f'[sweep] {step} {second.name}, DICM λ={lam:g}: its task stage on the '
              f'detector\'s frozen edge ({plan.second_stage_cfg.train_cfg.max_iters} '
              'iterations), then one compress and one analyze per task model')
    t0 = time.perf_counter()
    cfg = copy.deepcopy(plan.second_stage_cfg)
    cfg.work_dir = osp.join(lam_dir, 'task_stage')
    cfg.load_from = runs.merge_edge_checkpoint(checkpoint, edge['checkpoint'],
                                               osp.join(lam_dir, 'start.pth'))
    trained = runs.train(cfg)
    main_cfg = plan.task_stage_cfg if writer is not edge else plan.dicm_base
    models = [('detector', _dump(main_cfg, osp.join(lam_dir, 'detector.py')),
               writer['checkpoint']),
              (second.name, _dump(plan.second_stage_cfg, osp.join(lam_dir, f'{second.name}.py')),
               trained)]
    out = compress_and_analyze(models, plan.data_root, osp.join(lam_dir, 'one_bitstream'),
                               num_images=plan.val_images, log=sweep.log)
    failed = {k: v for k, v in out['failures'].items() if v}
    if failed:
        raise SweepError(f'{second.name}, λ={lam:g}: files failed to code or decode: {failed}')
    # bpp over the coded input's pixels, as every point of the sweep (DICMBppMetric's)
    bpp = out['bpp_input']
    check_same_bits(bpp, writer['bpp'], out['num_files'], out['bytes'],
                    f'{second.name}, λ={lam:g}')
    metrics: Dict[str, Any] = out['metrics'][second.name]
    sweep.record(name, dict(
        method='dicm-task-stage', lambda_rate=lam, bpp=bpp, bpp_original=out['bpp'],
        # the files' y and z strings are the ones the detector's test pass counted
        payload_bpp=writer['payload_bpp'], metric=metrics[second.metric_key],
        metrics=metrics, detector_metrics=out['metrics']['detector'], files=out['files'],
        num_files=out['num_files'], checkpoint=trained, edge=edge['checkpoint'],
        writer=writer['checkpoint'], task_checkpoint=checkpoint,
        task_digest=plan.second_digest,
        config_digest=plan.second_stage_digest, step_seconds=out['seconds'],
        seconds=time.perf_counter() - t0))
    det = out['metrics']['detector'].get(plan.spec.metric_key)
    sweep.log(f'[sweep] {step} {second.name}, DICM λ={lam:g}: {second.metric_name} '
              f'{points[name]["metric"]:.3f} at {bpp:.3f} bpp, from the same '
              f'{out["num_files"]} files as the detector ({plan.spec.metric_name} '
              f'{det if det is None else format(det, ".3f")} from them; '
              f'{points[name]["seconds"]:.0f} s)')
