"""Running the sweep's trainings and tests, and merging a codec into its task checkpoint."""
import copy
import gc
import json
import os
import os.path as osp
from typing import Any, Dict, Optional

import torch
from mmengine.config import Config

from ...engine.checkpoint import load_trusted_checkpoint
from ..launch import build_runner, check_config
from ..ssl_pipeline import last_checkpoint
from .tasks import SweepError

__all__ = ['EDGE_KEYS', 'RESUME_EVERY', 'check_covered', 'merge_codec_checkpoint',
           'merge_edge_checkpoint', 'test', 'train']

#: An iteration-based training whose config checkpoints at its end alone checkpoints every this
#: many iterations too, so a stopped session loses at most these (~7 CPU minutes of a task
#: stage) instead of the whole run.
RESUME_EVERY = 100


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
    return _save_merged(out, merged, task, task_checkpoint=task_checkpoint,
                        codec_checkpoint=codec_checkpoint)


def _save_merged(out: str, state_dict: Dict[str, Any], base: Dict[str, Any],
                 **sources: str) -> str:
    """Save a merged state dict at ``out`` with ``base``'s meta plus the absolute paths of
    its ``sources``; returns ``out``."""
    meta = dict(base.get('meta') or {})
    meta.update({k: osp.abspath(v) for k, v in sources.items()})
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(state_dict=state_dict, meta=meta), out)
    return out


#: Backbone key prefixes of what one DICMResNet split after layer1 sends: the stem, layer1
#: and the whole codec (g_s included: each task model's task stage trains its own copy)
EDGE_KEYS = ('conv1.', 'bn1.', 'stem.', 'layer1.', 'codec.')


def merge_edge_checkpoint(receiver_checkpoint: str, edge_checkpoint: str, out: str,
                          prefix: str = 'backbone.') -> str:
    """One task model's receiver with another's edge, as one file: where a second task
    model's task stage starts (it then reads the files that edge writes).

    Takes :data:`EDGE_KEYS` of ``edge_checkpoint`` (a DICM model's merged checkpoint) and
    everything else (the tail after layer1, neck, heads) of ``receiver_checkpoint`` (that task
    model trained on uncompressed images). :class:`SweepError` if either has no such part.

    Returns:
        str: ``out``.
    """
    receiver = load_trusted_checkpoint(receiver_checkpoint)
    edge = load_trusted_checkpoint(edge_checkpoint)
    receiver_sd, edge_sd = receiver.get('state_dict', receiver), edge.get('state_dict', edge)
    keys = tuple(prefix + k for k in EDGE_KEYS)
    taken = {k: v for k, v in edge_sd.items() if k.startswith(keys)}
    if not any(k.startswith(prefix + 'codec.') for k in taken):
        raise SweepError(f'{edge_checkpoint} has no {prefix}codec.* keys: not a DICM model')
    kept = {k: v for k, v in receiver_sd.items() if not k.startswith(keys)}
    if not any(k.startswith(prefix) for k in kept):
        raise SweepError(f'{receiver_checkpoint} has no {prefix}* keys after layer1: not a '
                         'ResNet task model')
    return _save_merged(out, dict(kept, **taken), receiver,
                        receiver_checkpoint=receiver_checkpoint, edge_checkpoint=edge_checkpoint)


def check_covered(runner: Any, checkpoint: str) -> None:
    """Every weight of the model is in ``checkpoint`` (mmengine loads non-strictly, so a
    missing part would be tested at its random init, silently)."""
    sd = load_trusted_checkpoint(checkpoint)
    sd = sd.get('state_dict', sd)
    # a codec checkpoint from before its shape_free_options buffer loads without it (the
    # codec's load hook takes it as built: docs/codec.md)
    missing = [k for k in runner.model.state_dict() if k not in sd
               and not k.startswith('data_preprocessor.')
               and not k.endswith('.shape_free_options')]
    if missing:
        raise SweepError(f'{checkpoint} lacks {len(missing)} weights of the model it is tested '
                         f'with (e.g. {missing[:3]}): the test and codec configs disagree')


def restrict_coco_evaluation(cfg: Config, num_images: int,
                             key: str = 'test_evaluator') -> Optional[str]:
    """Point ``cfg``'s COCO evaluators under ``key`` (``'test_evaluator'``, or
    ``'val_evaluator'`` for the validation passes of a training run) at the annotations of
    the first ``num_images`` val images only (written to ``<work_dir>/eval_subset/``), the
    images the loop runs on (``dataset.indices`` of its dataloader): mmdet's ``CocoMetric``
    evaluates every image of its ``ann_file``, so an untested image's objects would count as
    missed (measured: a test of 100 of 200 images reported about half the mAP of the same
    model). Returns the subset's path, None without a COCO evaluator."""
    evaluators = cfg.get(key)
    if isinstance(evaluators, dict):
        evaluators = [evaluators]
    cocos = [e for e in evaluators or [] if e.get('type') == 'CocoMetric' and e.get('ann_file')]
    if not cocos:
        return None
    sources = {e['ann_file'] for e in cocos}
    if len(sources) != 1:
        raise SweepError(f'COCO test evaluators of different ann_files: {sorted(sources)}')
    source = sources.pop()
    with open(source, encoding='utf-8') as f:
        coco = json.load(f)
    # CocoDataset lists the images in the file's order, so ``indices=N`` tests these
    images = coco['images'][:num_images]
    ids = {img['id'] for img in images}
    subset = dict(coco, images=images,
                  annotations=[a for a in coco.get('annotations', []) if a['image_id'] in ids])
    out = osp.join(cfg.work_dir, 'eval_subset', f'first{num_images}_{osp.basename(source)}')
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(subset, f)
    for e in cocos:
        e['ann_file'] = out
    return out


def test(cfg: Config, val_images: Optional[int], merged: bool = False) -> Dict[str, float]:
    """Test ``cfg.load_from`` (on the first ``val_images`` val images, and COCO metrics on
    those alone); a ``merged`` checkpoint must cover the whole model."""
    if val_images is not None:
        cfg.test_dataloader.dataset.indices = val_images
        restrict_coco_evaluation(cfg, val_images)
    check_config(cfg, 'test')
    runner = build_runner(cfg)
    try:
        if merged:  # the task checkpoint tests its own config: nothing to check there
            check_covered(runner, cfg.load_from)
        return {k: float(v) for k, v in runner.test().items()}
    finally:
        del runner
        gc.collect()


#: What a training run of the sweep wrote in its work dir before starting: the run it is
RUN_FILE = 'sweep_run.json'


def _run_identity(cfg: Config) -> Dict[str, Any]:
    """The config's digest and what it starts from (path, size and mtime of ``load_from``:
    a warm start trained again at the same path is another start)."""
    from .configs import config_digest
    start = cfg.get('load_from')
    stat = os.stat(start) if start and osp.isfile(start) else None
    return dict(config_digest=config_digest(cfg), load_from=start,
                load_from_file=None if stat is None else [stat.st_size, stat.st_mtime_ns])


def _resumable(cfg: Config) -> Config:
    """``cfg`` checkpointing every :data:`RESUME_EVERY` iterations (a copy; the newest file
    alone is kept, as the config wanted one) when it is iteration-based, longer than that and
    checkpoints at its end alone; otherwise ``cfg`` itself (a config with its own interval
    already resumes from it)."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    if not hook or hook.get('by_epoch', True) or not isinstance(max_iters, int) or \
            max_iters <= RESUME_EVERY or 0 < int(hook.get('interval', -1)) < max_iters:
        return cfg
    cfg = copy.deepcopy(cfg)
    cfg.default_hooks.checkpoint.update(interval=RESUME_EVERY, max_keep_ckpts=1)
    return cfg


def train(cfg: Config) -> str:
    """Train ``cfg`` to its end; the checkpoint it wrote last. A run of the very same config
    and start that was interrupted in this work dir (a stopped session) resumes from its last
    checkpoint (mmengine's ``resume``: weights, optimizer, schedulers, iteration) instead of
    starting over. An iteration-based config that checkpoints at its end alone checkpoints
    every :data:`RESUME_EVERY` iterations here; the extra checkpoints change nothing the run
    computes, so its identity (the config's digest) stays the config's own."""
    check_config(cfg, 'train')
    identity = _run_identity(cfg)
    cfg = _resumable(cfg)
    marker = osp.join(cfg.work_dir, RUN_FILE)
    previous = None
    if osp.isfile(marker):
        try:
            with open(marker, encoding='utf-8') as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None
    if previous == identity and osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
        cfg = copy.deepcopy(cfg)
        cfg.load_from, cfg.resume = last_checkpoint(cfg.work_dir), True
    else:
        os.makedirs(cfg.work_dir, exist_ok=True)
        with open(marker, 'w', encoding='utf-8') as f:
            json.dump(identity, f)
    runner = build_runner(cfg)
    try:
        runner.train()
    finally:
        del runner
        gc.collect()
    return last_checkpoint(cfg.work_dir)
