"""Parameter names between mmdet/mmpretrain's ResNet (mmdicm's ``DICMResNet``) and detectron2's.

=========================================  ==============================================
mmdicm (mmdet ``ResNet``, pytorch style)    detectron2 (``ResNet``, ``STRIDE_IN_1X1=False``)
=========================================  ==============================================
``conv1.weight``                            ``stem.conv1.weight``
``bn1.<bn>``                                ``stem.conv1.norm.<bn>``
``layer<n>.<i>.conv<j>.weight``             ``res<n+1>.<i>.conv<j>.weight``
``layer<n>.<i>.bn<j>.<bn>``                 ``res<n+1>.<i>.conv<j>.norm.<bn>``
``layer<n>.<i>.downsample.0.weight``        ``res<n+1>.<i>.shortcut.weight``
``layer<n>.<i>.downsample.1.<bn>``          ``res<n+1>.<i>.shortcut.norm.<bn>``
``codec.<any>``                             ``codec.<any>``
=========================================  ==============================================

``<bn>`` is ``weight``, ``bias``, ``running_mean``, ``running_var`` or ``num_batches_tracked``
(mmdicm's detectron2 backbone keeps the last on its FrozenBN too: it is part of the edge
fingerprint every container carries). Standard library only.
"""
import re
from typing import Dict, Iterable, List, Optional, Tuple

__all__ = ['convert_state_dict', 'detectron2_to_mmdet_key', 'mmdet_key_order',
           'mmdet_to_detectron2_key']

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_TO_D2 = [
    (re.compile(r'^conv1\.weight$'), 'stem.conv1.weight'),
    (re.compile(r'^bn1\.' + _BN + '$'), r'stem.conv1.norm.\1'),
    (re.compile(r'^layer(\d)\.(\d+)\.conv(\d)\.weight$'), 'res{0}.{1}.conv{2}.weight'),
    (re.compile(r'^layer(\d)\.(\d+)\.bn(\d)\.' + _BN + '$'), 'res{0}.{1}.conv{2}.norm.{3}'),
    (re.compile(r'^layer(\d)\.(\d+)\.downsample\.0\.weight$'), 'res{0}.{1}.shortcut.weight'),
    (re.compile(r'^layer(\d)\.(\d+)\.downsample\.1\.' + _BN + '$'),
     'res{0}.{1}.shortcut.norm.{2}'),
]
_TO_MMDET = [
    (re.compile(r'^stem\.conv1\.weight$'), 'conv1.weight'),
    (re.compile(r'^stem\.conv1\.norm\.' + _BN + '$'), r'bn1.\1'),
    (re.compile(r'^res(\d)\.(\d+)\.conv(\d)\.weight$'), 'layer{0}.{1}.conv{2}.weight'),
    (re.compile(r'^res(\d)\.(\d+)\.conv(\d)\.norm\.' + _BN + '$'), 'layer{0}.{1}.bn{2}.{3}'),
    (re.compile(r'^res(\d)\.(\d+)\.shortcut\.weight$'), 'layer{0}.{1}.downsample.0.weight'),
    (re.compile(r'^res(\d)\.(\d+)\.shortcut\.norm\.' + _BN + '$'),
     'layer{0}.{1}.downsample.1.{2}'),
]


def _convert(key: str, rules, stage_offset: int) -> Optional[str]:
    if key.startswith('codec.'):
        return key
    for pattern, template in rules:
        m = pattern.match(key)
        if m is None:
            continue
        if '{' not in template:
            return m.expand(template)
        groups = list(m.groups())
        groups[0] = str(int(groups[0]) + stage_offset)
        return template.format(*groups)
    return None


def mmdet_to_detectron2_key(key: str) -> Optional[str]:
    """mmdicm/mmdet backbone key (no ``backbone.`` prefix) -> detectron2 ResNet key, or None
    for keys detectron2's ResNet has no place for (``fc.*``, a deep stem's ``stem.*``)."""
    return _convert(key, _TO_D2, +1)


def detectron2_to_mmdet_key(key: str) -> Optional[str]:
    """The inverse of :func:`mmdet_to_detectron2_key`."""
    return _convert(key, _TO_MMDET, -1)


def _rank(mmdet_key: str) -> Tuple[int, int, int]:
    """Where mmdet's ``state_dict`` puts a key: stem, then per block conv1, bn1, conv2, bn2,
    (conv3, bn3,) downsample.0, downsample.1."""
    m = re.match(r'^layer(\d)\.(\d+)\.(conv|bn|downsample\.)(\d)', mmdet_key)
    if m is None:
        return (0, 0, 0)
    stage, block, kind, j = int(m[1]), int(m[2]), m[3], int(m[4])
    sub = 100 + j if kind == 'downsample.' else 2 * j + (kind == 'bn')
    return (stage, block, sub)


def mmdet_key_order(mmdet_keys: Iterable[str]) -> List[str]:
    """``mmdet_keys`` (of one stem/stage sequence, each norm's keys in registration order) in
    the order mmdet's ResNet ``state_dict`` lists them (a stable sort)."""
    return sorted(mmdet_keys, key=_rank)


def convert_state_dict(state: Dict[str, object], to: str) -> Tuple[Dict[str, object], List[str]]:
    """Rename every key of a backbone ``state`` (``to='detectron2'`` or ``'mmdet'``); returns
    the renamed dict and the keys that have no counterpart (left out)."""
    convert = {'detectron2': mmdet_to_detectron2_key, 'mmdet': detectron2_to_mmdet_key}[to]
    out, dropped = {}, []
    for key, value in state.items():
        new = convert(key)
        if new is None:
            dropped.append(key)
        else:
            out[new] = value
    return out, dropped
