"""The sweep's cache: every measured point in ``<work_dir>/sweep.json``, written as measured."""
import json
import os
import os.path as osp
from typing import Any, Dict, Optional

from .tasks import SweepError

__all__ = ['STATE_FILE', 'STATE_VERSION', 'baseline_key', 'dicm_key', 'lambda_tag',
           'load_state', 'made_by', 'save_state']

STATE_FILE = 'sweep.json'
STATE_VERSION = 1


def load_state(path: str, settings: Dict[str, Any]) -> Dict[str, Any]:
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


def save_state(path: str, state: Dict[str, Any]) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def lambda_tag(lam: float) -> str:
    return f'lambda{lam:g}'


def baseline_key(codec: str, quality: int) -> str:
    """The cached point of a pixel codec at one quality, e.g. ``jpeg@5``."""
    return f'{codec}@{quality}'


def dicm_key(name: str, lam: float) -> str:
    """The cached point of a DICM curve at one λ, e.g. ``dicm-task-stage@lambda0.1``."""
    return f'{name}@{lambda_tag(lam)}'


def made_by(point: Optional[Dict[str, Any]], digest: str) -> bool:
    """Whether a cached record (a DICM point, the warm start, the pre-training) was made
    by the config of ``digest`` and its checkpoint is still there."""
    return point is not None and point.get('config_digest') == digest and \
        osp.isfile(point.get('checkpoint') or '')
