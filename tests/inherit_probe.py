"""Run by tests/test_inherit.py in a fresh interpreter (not a test module).

``python inherit_probe.py <jobs.json> <out.json>``; the working directory holds ``data/``.
Each job is ``[rel, child]``: ``child`` is a user config outside the repository with
``_base_ = 'mmdicm::dicm/<rel>'`` and ``default_hooks.logger.interval = 7``. Nothing of mmdicm
is imported before the first ``Config.fromfile``: the ``mmdicm::`` scope must come from the
installed start-up hook. Per config, as mmdet's and mmpretrain's stock ``tools/train.py`` do,
``Config.fromfile`` + ``RUNNERS.build(cfg)``; then the loops (dataloaders + evaluators), the
optimizer wrapper and the parameter schedulers, as ``runner.train()`` / ``runner.test()`` build
them. Where the config's data is absent (the full-scale configs), the datasets and their
transforms are resolved in the scope they would be built in, and the evaluators are built
without their annotation file. mmdicm's own tools' checks run too (``prepare_config`` +
``check_config``).
"""
import gc
import json
import os
import os.path as osp
import sys
import time

PRE_IMPORTED = sorted(m for m in ('mmdicm', 'mmdet', 'mmpretrain', 'torch') if m in sys.modules)

from mmengine.config import Config  # noqa: E402
from mmengine.config.utils import MODULE2PACKAGE  # noqa: E402

SCOPE_AT_START = MODULE2PACKAGE.get('mmdicm')

from mmengine.registry import DATASETS, PARAM_SCHEDULERS, RUNNERS, TRANSFORMS  # noqa: E402

SPLITS = ('train', 'val', 'test')


def count_tags(node, scope='mmdicm'):
    if isinstance(node, dict):
        return (node.get('_scope_') == scope) + sum(count_tags(v) for v in node.values())
    if isinstance(node, (list, tuple)):
        return sum(count_tags(v) for v in node)
    return 0


def qualname(cls):
    return f'{cls.__module__}.{cls.__qualname__}' if cls is not None else None


def resolve(registry, cfg, default_scope):
    """The class ``registry.build(cfg)`` would instantiate (None if unknown)."""
    with registry.switch_scope_and_registry(cfg.get('_scope_') or default_scope) as reg:
        return reg.get(cfg['type']) if isinstance(cfg['type'], str) else cfg['type']


def resolve_dataset(ds, default_scope):
    """Classes of a dataset config, its wrapped datasets and their transforms, each resolved
    in the scope it would be built in (a dataset builds its pipeline in its own scope)."""
    scope = ds.get('_scope_') or default_scope
    found = [qualname(resolve(DATASETS, ds, default_scope))]
    for sub in ([ds['dataset']] if isinstance(ds.get('dataset'), dict) else []) + \
            list(ds.get('datasets') or []):
        found += resolve_dataset(sub, scope)
    return found + [qualname(resolve(TRANSFORMS, t, scope)) for t in ds.get('pipeline') or []]


def has_data(cfg):
    roots = [cfg[f'{s}_dataloader'].dataset.get('data_root') for s in SPLITS
             if cfg.get(f'{s}_dataloader')]
    return all(isinstance(r, str) and osp.isdir(r) for r in roots)


def probe(rel, child, work):
    cfg = Config.fromfile(child)
    out = dict(rel=rel, tags_after_load=count_tags(cfg.to_dict()))

    # mmdicm's tools: prepare_config + check_config (paths, hooks, checkpoints)
    from mmdicm.apis.launch import check_config, prepare_config
    tool_cfg = prepare_config(child, work_dir=osp.join(work, 'tool'),
                              cfg_options=dict(load_from=None))
    out['tool_tags'] = count_tags(tool_cfg.to_dict())
    for mode in ('train', 'test'):
        try:
            check_config(tool_cfg, mode)
            out[f'check_{mode}'] = 'ok'
        except Exception as e:  # noqa: BLE001 (reported to the test)
            out[f'check_{mode}'] = f'{type(e).__name__}: {e}'

    # without its tags, the config is the one used in place, but for the child's one change
    import mmdicm
    in_place = Config.fromfile(osp.join(osp.dirname(mmdicm.__file__), '.mim', 'configs',
                                        'dicm', rel))
    in_place.merge_from_dict(dict(load_from=None, work_dir=tool_cfg.work_dir,
                                  launcher='none', default_hooks=dict(logger=dict(interval=7))))
    out['same_as_in_place'] = tool_cfg.to_dict() == in_place.to_dict()
    out['data'] = has_data(cfg)

    # the stock tools' path
    cfg.work_dir = osp.join(work, 'runner')
    cfg.experiment_name = rel.replace('/', '_')
    cfg.load_from = None
    for split in SPLITS:
        if cfg.get(f'{split}_dataloader'):  # no worker processes in a probe
            cfg[f'{split}_dataloader'].num_workers = 0
            cfg[f'{split}_dataloader'].persistent_workers = False
    runner = RUNNERS.build(cfg)
    out['runner'] = type(runner).__name__
    out['runner_tags'] = count_tags(runner.cfg.to_dict())
    model = runner.model
    out['model'] = type(model).__name__
    out['backbone'] = type(model.backbone).__name__
    out['hooks'] = [type(h).__name__ for h in runner.hooks]
    out['custom_hooks'] = [h['type'] for h in cfg.get('custom_hooks', [])]
    out['logger_interval'] = next(h.interval for h in runner.hooks
                                  if type(h).__name__ == 'LoggerHook')
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    out['optim_wrapper'] = type(runner.optim_wrapper).__name__

    rcfg = runner.cfg  # what the Runner builds from
    default_scope = rcfg.get('default_scope')
    datasets, evaluators, resolved = {}, {}, {}
    for split in SPLITS:
        loader = rcfg.get(f'{split}_dataloader')
        evaluator = rcfg.get(f'{split}_evaluator')
        if not loader or (split != 'train' and (evaluator is None
                                                or rcfg.get(f'{split}_cfg') is None)):
            continue
        if out['data']:
            loop = getattr(runner, f'{split}_loop')
            dataset = loop.dataloader.dataset
            datasets[split] = [qualname(type(dataset)), sorted(dataset[0])]
            if split != 'train':
                evaluators[split] = [qualname(type(m)) for m in loop.evaluator.metrics]
        else:
            resolved[split] = resolve_dataset(loader.dataset, default_scope)
            if split != 'train':
                metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
                metrics = [{k: v for k, v in m.items() if k != 'ann_file'} for m in metrics]
                built = runner.build_evaluator(metrics)
                evaluators[split] = [qualname(type(m)) for m in built.metrics]
    if out['data']:  # needs the train loop (epoch length, max_epochs)
        runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
        schedulers = runner.param_schedulers
        out['schedulers'] = [type(s).__name__ for s in (
            schedulers if isinstance(schedulers, list) else
            [s for group in schedulers.values() for s in group])]
    else:
        schedulers = rcfg.get('param_scheduler') or []
        out['schedulers'] = [qualname(resolve(PARAM_SCHEDULERS, s, default_scope)) for s in (
            [schedulers] if isinstance(schedulers, dict) else schedulers)]
    out.update(datasets=datasets, evaluators=evaluators, resolved=resolved)
    return out


def main():
    jobs = json.load(open(sys.argv[1]))
    results = dict(pre_imported=PRE_IMPORTED, scope_at_start=SCOPE_AT_START, configs=[])
    for rel, child in jobs:
        start = time.perf_counter()
        results['configs'].append(probe(rel, child, osp.join(os.getcwd(), 'work', rel)))
        results['configs'][-1]['seconds'] = round(time.perf_counter() - start, 2)
        gc.collect()
    with open(sys.argv[2], 'w') as f:
        json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
