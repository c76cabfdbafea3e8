"""Taking another sweep's work as this one's (``--reuse-from``, ``--pretrain-from``): what
was made by this sweep's very configs (equal digests, checkpoints still there) is not made
again."""
import copy
import json
import os
import os.path as osp
import shutil
from typing import Any, Dict

from .configs import config_digest
from .phases import Sweep
from .state import STATE_FILE, dicm_key, made_by
from .tasks import SweepError

__all__ = ['DICM_OPTIONS', 'reuse_pretraining', 'reuse_task_model']


#: ``cfg_options`` keys that change only DICM's points (a sweep reusing another's task
#: model may differ in them)
DICM_OPTIONS = ('codec', 'dicm', 'task_stage')


def _other_state(other_dir: str, flag: str) -> Dict[str, Any]:
    """The ``sweep.json`` of another sweep's work dir, or :class:`SweepError` naming
    ``flag`` and what is wrong."""
    path = osp.join(other_dir, STATE_FILE)
    if not osp.isfile(path):
        raise SweepError(f'{flag} {other_dir}: no {STATE_FILE} there')
    try:
        with open(path, encoding='utf-8') as f:
            other = json.load(f)
    except (OSError, ValueError) as e:
        raise SweepError(f'{flag} {other_dir}: {path} is not a readable sweep state '
                         f'({e})') from None
    if not isinstance(other, dict) or not all(isinstance(other.get(k), dict)
                                              for k in ('settings', 'points')):
        raise SweepError(f'{flag} {other_dir}: {path} is not a readable sweep state (no '
                         'settings and points)')
    return other


def reuse_pretraining(sweep: Sweep, other_dir: str) -> None:
    """Take the backbone pre-training of the sweep in ``other_dir`` (made by this sweep's
    very pre-training config: equal digests) as this sweep's, e.g. for a task model on
    another schedule (``--task-iters``), which ``--reuse-from`` refuses. Its checkpoint is
    linked (copied across file systems) to where this sweep's task config loads it from,
    so the task model's config, and its digest, stay this work dir's."""
    plan = sweep.plan
    if plan.pretrain_cfg is None:
        raise SweepError(f'--pretrain-from {other_dir}: task {plan.spec.name!r} has no '
                         'backbone pre-training')
    digest = config_digest(plan.pretrain_cfg)
    expected = plan.task_cfg.model.backbone.init_cfg['checkpoint']
    if made_by(sweep.state.get('pretrain'), digest):
        return  # this sweep has its own already
    theirs = _other_state(other_dir, '--pretrain-from').get('pretrain')
    if not isinstance(theirs, dict) or not theirs:
        raise SweepError(f'--pretrain-from {other_dir}: that sweep has no finished '
                         'pre-training')
    if theirs.get('config_digest') != digest:
        raise SweepError(f'--pretrain-from {other_dir}: its pre-training was made by another '
                         f'config (digest {theirs.get("config_digest")}, this sweep\'s '
                         f'{digest}: other data, seed or pre-training schedule)')
    source = theirs.get('checkpoint', '')
    if not osp.isfile(source):
        raise SweepError(f'--pretrain-from {other_dir}: its pre-trained checkpoint {source} '
                         'is gone')
    os.makedirs(osp.dirname(expected), exist_ok=True)
    if osp.exists(expected):
        os.remove(expected)
    try:
        os.link(source, expected)
    except OSError:  # another file system
        shutil.copyfile(source, expected)
    sweep.state['pretrain'] = dict(theirs, checkpoint=expected, reused_from=source)
    sweep.save()
    sweep.log(f'[sweep] reusing the backbone pre-training of {other_dir} ({source}, top-1 '
              f'{theirs.get("top1", float("nan")):.1f} %)')


def reuse_task_model(sweep: Sweep, other_dir: str) -> None:
    """Take the task model, its pre-training and the baseline points of the sweep in
    ``other_dir`` (settings equal but for :data:`DICM_OPTIONS`), as this sweep's cache."""

    def task_side(settings: Dict[str, Any]) -> Dict[str, Any]:
        options = dict(settings.get('cfg_options') or {})
        return dict(settings, task_config_digest=None,
                    cfg_options={k: v for k, v in options.items() if k not in DICM_OPTIONS})

    other = _other_state(other_dir, '--reuse-from')
    theirs, points = other['settings'], other['points']
    mine = sweep.state['settings']
    differ = sorted(k for k in set(theirs) | set(mine)
                    if task_side(theirs).get(k) != task_side(mine).get(k))
    # the task config names its pre-trained backbone by a path inside its own work dir: as
    # the other sweep's, would this sweep's task config be the one it trained?
    task_cfg = copy.deepcopy(sweep.plan.task_cfg)
    init = (task_cfg.model.get('backbone') or {}).get('init_cfg') or {}
    if sweep.plan.pretrain_cfg is not None and init.get('checkpoint'):
        inside = osp.relpath(init['checkpoint'], osp.abspath(sweep.plan.work_dir))
        init['checkpoint'] = osp.abspath(osp.join(other_dir, inside))
    if config_digest(task_cfg) != theirs.get('task_config_digest'):
        differ = sorted(differ + ['task_config_digest'])
    if differ:
        raise SweepError(f'--reuse-from {other_dir}: its task model was made with other '
                         f'settings ({", ".join(differ)} differ)')
    task = points.get('uncompressed')
    if task is None or not osp.isfile(task.get('checkpoint', '')):
        raise SweepError(f'--reuse-from {other_dir}: it has no task model (yet), or its '
                         'checkpoint is gone')
    taken = {name: point for name, point in points.items()
             if not str(point.get('method', 'dicm')).startswith('dicm')}
    for name, point in taken.items():
        sweep.points.setdefault(name, point)
    if other.get('pretrain') and not sweep.state.get('pretrain'):
        sweep.state['pretrain'] = other['pretrain']
    dicm = _reuse_dicm(sweep, other)
    sweep.save()
    sweep.log(f'[sweep] reusing the task model of {other_dir} ({task["checkpoint"]}) and its '
              f'{len(taken) - 1} baseline points' +
              (f', and (made by the same configs) {dicm}' if dicm else ''))


def _reuse_dicm(sweep: Sweep, other: Dict[str, Any]) -> str:
    """Take the warm start and the DICM points of another sweep's state made by this
    sweep's very configs (equal digests, checkpoints still there): e.g. the frozen points
    of a sweep that differs only in its task stage. What it took, for the log."""
    plan, points, state = sweep.plan, sweep.points, sweep.state
    took = []
    if plan.warm_cfg is not None and not state.get('warm_start') and \
            made_by(other.get('warm_start'), plan.warm_digest):
        state['warm_start'] = other['warm_start']
        took.append('the warm start')
    frozen = [lam for lam in plan.lambdas
              if made_by(other['points'].get(dicm_key('dicm', lam)), plan.dicm_digest)]
    stages = 0
    for lam in frozen:
        frozen_key, stage_key = dicm_key('dicm', lam), dicm_key('dicm-task-stage', lam)
        points.setdefault(frozen_key, other['points'][frozen_key])
        stage = other['points'].get(stage_key)
        if plan.task_stage_cfg is not None and made_by(stage, plan.task_stage_digest) and \
                stage.get('edge') == points[frozen_key]['checkpoint']:
            points.setdefault(stage_key, stage)
            stages += 1
    if frozen:
        took.append(f'the codecs of λ={", ".join(f"{lam:g}" for lam in frozen)}'
                    + (f' ({stages} with their task stage)' if stages else ''))
    return ' and '.join(took)
