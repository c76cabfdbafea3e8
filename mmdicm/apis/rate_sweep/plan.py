"""The sweep's plan: every setting checked and every config prepared before any work
(:func:`make_plan`); what a sweep trains and tests, and the digests its cache is keyed by."""
import copy
import json
import math
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..launch import prepare_config
from .configs import (check_preprocessors, codec_config, config_digest, no_val, prepare,
                      set_epochs, set_iters)
from .tasks import (LEARNED_CODECS, SecondTask, SweepError, SweepTask, check_codecs,
                    check_lambdas, check_optional_counts)

__all__ = ['Plan', 'make_plan']


@dataclass
class Plan:
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
    second: Optional[SecondTask] = None
    second_task_cfg: Optional[Config] = None
    second_stage_cfg: Optional[Config] = None
    second_digest: str = ''
    second_stage_digest: str = ''


#: ``cfg_options`` keys of a sweep (``second_*``: the second task's two configs; its task
#: stage also takes the codec keys of ``task_stage``'s, so both task models share a codec)
CFG_OPTION_KEYS = ('task', 'codec', 'dicm', 'task_stage', 'pretrain', 'second_task',
                   'second_task_stage')


def make_plan(spec: SweepTask, work_dir: str, data_root: str, lambdas: Sequence[float],
          codecs: Sequence[str], qualities: Optional[Dict[str, Sequence[int]]],
          task_iters: Optional[int], codec_epochs: Optional[int],
          warm_start_epochs: Optional[int], val_images: Optional[int], seed: int,
          cfg_options: Optional[Dict[str, Dict[str, Any]]],
          dataset: Dict[str, Any], task_stage_iters: Optional[int] = None,
          learned: Sequence[str] = (), learned_lambdas: Sequence[float] = (),
          second_task: bool = True) -> Plan:
    """Check every setting and prepare every config, before any work (``second_task``:
    whether the task's second task model, if it has one, is part of the sweep)."""
    lambdas = check_lambdas(lambdas)
    plan = check_codecs(codecs, qualities)
    check_optional_counts(task_iters=task_iters, codec_epochs=codec_epochs,
                          warm_start_epochs=warm_start_epochs, val_images=val_images)
    if task_stage_iters is not None and (isinstance(task_stage_iters, bool) or not isinstance(
            task_stage_iters, int) or task_stage_iters < 0):
        raise SweepError('task_stage_iters must be an int >= 0 (0: no task stage) or None, got '
                         f'{task_stage_iters!r}')
    cfg_options = {k: dict(v) for k, v in (cfg_options or {}).items()}
    unknown = sorted(set(cfg_options) - set(CFG_OPTION_KEYS))
    if unknown:
        raise SweepError(f'cfg_options keys must be some of {list(CFG_OPTION_KEYS)}, got '
                         f'{unknown}')
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
        set_iters(task_cfg, task_iters)
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
    if spec.task_stage_config is not None and task_stage_iters != 0:  # 0: the frozen curve
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
    out = Plan(spec, work_dir, lambdas, plan, task_cfg, codec_base, warm_cfg, dicm_base,
               config_digest(codec_base) + config_digest(dicm_base) + warm_digest,
               warm_digest, settings, val_images, warm_start_epochs, data_root,
               task_stage_cfg, task_stage_digest, tuple(learned), learned_settings,
               pretrain_cfg)
    if second_task and spec.second_task is not None:
        _second_task(out, spec.second_task, common, cfg_options)
    return out


def _second_task(plan: Plan, second: SecondTask, common: Dict[str, Any],
                 cfg_options: Dict[str, Dict[str, Any]]) -> None:
    """The second task's configs: its task model (the backbone from the sweep's
    pre-training, set when it trains) and its task stage, whose codec must be the main
    task's (the files it reads are the main task's)."""
    if plan.task_stage_cfg is None:
        raise SweepError(f'task {plan.spec.name!r}: a second task needs the main task\'s task '
                         'stage (the detector that writes the files it reads); leave it out '
                         'with --no-second-task (second_task=False)')
    for path in (second.task_config, second.task_stage_config):
        if not osp.isfile(path):
            raise SweepError(f'config of the second task {second.name!r} not found: {path}')
    folder = osp.join(plan.work_dir, second.name)
    task_cfg = prepare(second, second.task_config, plan.data_root, osp.join(folder, 'task'),
                       dict(common, **cfg_options.get('second_task', {})))
    no_val(task_cfg)
    codec_keys = {k: v for k, v in cfg_options.get('task_stage', {}).items()
                  if k.startswith('model.backbone.codec')}
    stage_cfg = prepare(second, second.task_stage_config, plan.data_root, folder,
                        {**common, **codec_keys, **cfg_options.get('second_task_stage', {})})
    no_val(stage_cfg)
    if 'edge' not in tuple(stage_cfg.model.backbone.get('frozen_parts', ())):
        raise SweepError(f"{second.task_stage_config}: model.backbone.frozen_parts has no "
                         "'edge': its task stage would change the bits it reads")
    if stage_cfg.model.backbone.get('codec') != plan.task_stage_cfg.model.backbone.get('codec'):
        raise SweepError(f'{second.task_stage_config}: its codec differs from '
                         f'{plan.spec.task_stage_config}\'s; it could not read the files '
                         'the main task\'s edge writes')
    check_preprocessors(plan.task_stage_cfg, stage_cfg)
    # the task model's digest without its init checkpoint (a path inside the work dir of
    # whichever sweep trained it: a sweep reusing another's takes its second task model too)
    bare = copy.deepcopy(task_cfg)
    bare.model.backbone.init_cfg = None
    plan.second, plan.second_task_cfg, plan.second_stage_cfg = second, task_cfg, stage_cfg
    plan.second_digest, plan.second_stage_digest = config_digest(bare), config_digest(stage_cfg)


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
