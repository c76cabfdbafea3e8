"""Every ``type`` of a config looked up where the Runner will build it, before anything is built.

:func:`check_config_types` resolves each type against the registry the Runner would use (under
``default_scope`` and any ``_scope_``), names the config key of the first that does not
resolve (``default_hooks.checkpoint.type: 'CheckpointHok' is not a registered hook (did you
mean CheckpointHook?)``), and builds mmdicm's own backbone / neck on the ``meta`` device so
their argument checks run at start. Which key is built from which registry: ``docs/configs.md``.
"""
import copy
import difflib
import re
import traceback
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, FUNCTIONS, HOOKS, LOG_PROCESSORS,
                               LOOPS, METRICS, MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                               OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS, RUNNERS, TASK_UTILS,
                               TRANSFORMS, VISBACKENDS, VISUALIZERS, WEIGHT_INITIALIZERS,
                               DefaultScope, Registry)

__all__ = ['TypedNode', 'check_config_types', 'resolve_config_types', 'build_on_meta']

#: keys inside a model config that mmdet/mmpretrain build from MODELS or TASK_UTILS (by
#: suffix; ``loss*`` keys too). Nested dicts under other keys are not resolved: constructors
#: read their own ``type`` strings (``nms``, ``roi_layer``, ``adapt_cfg``, ...)
MODEL_KEY_SUFFIXES = ('backbone', 'neck', 'head', 'data_preprocessor', 'roi_extractor',
                      'norm_cfg', 'conv_cfg', 'act_cfg', 'assigner', 'sampler', 'coder',
                      'generator', 'iou_calculator', 'match_costs')

#: transforms that build their nested ``transforms`` from another library (mmdet's ``Albu``:
#: albumentations names)
FOREIGN_TRANSFORMS = ('Albu', 'mmdet.Albu')


@dataclass
class TypedNode:
    """One config dict with a ``type``, resolved.

    Attributes:
        key (str): Its config key path, e.g. ``'model.backbone'``.
        cfg (dict): The config dict itself.
        cls (Any): What ``type`` resolved to (a class or function).
        scope (str, optional): The scope it resolved under.
    """

    key: str
    cfg: Dict[str, Any]
    cls: Any
    scope: Optional[str]


class _Walker:
    """Walks a config, resolving every ``type`` it meets (see the module docstring)."""

    def __init__(self, cfg: Any, mode: str) -> None:
        self.cfg = cfg
        self.mode = mode
        self.nodes: List[TypedNode] = []

    # ------------------------------------------------------------------ resolution
    def resolve(self, node: Any, key: str, registries: Sequence[Registry], scope: Optional[str],
                default: Optional[str] = None) -> Tuple[Any, Optional[str]]:
        """Resolve ``node['type']`` (or ``default``); raise ``ValueError`` naming ``key``.

        Returns ``(what it resolved to, the scope of node's subtree)``; None for a node that
        is not a config dict (a built object, None) or names no type and has no default.
        """
        if not isinstance(node, dict):
            return None, scope
        scope = node.get('_scope_', scope)
        name = node.get('type', default)
        if name is None:
            return None, scope
        if not isinstance(name, str):  # a class or function object (lazy-import configs)
            self.nodes.append(TypedNode(key, node, name, scope))
            return name, scope
        cls = self.resolve_name(name, f'{key}.type', registries, scope)
        self.nodes.append(TypedNode(key, node, cls, scope))
        return cls, scope

    @staticmethod
    def resolve_name(name: str, key: str, registries: Sequence[Registry],
                     scope: Optional[str]) -> Any:
        cls = _lookup(registries, name, scope)
        if cls is None:
            raise ValueError(f'{key}: {_unknown(name, registries, scope)}')
        return cls

    @staticmethod
    def each(value: Any, key: str) -> Iterator[Tuple[str, Any]]:
        """``(key, item)`` of a list/tuple, or of a single value."""
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                yield f'{key}.{i}', item
        elif value is not None:
            yield key, value

    # ------------------------------------------------------------------ the parts
    def model(self, node: Any, key: str, scope: Optional[str],
              registries: Optional[Sequence[Registry]] = (MODELS, TASK_UTILS)) -> None:
        """A model config. Its own type and those under the keys mmdet/mmpretrain build
        from a registry (:func:`_model_key_registries`) are resolved; other nested dicts are
        walked into but their ``type`` is left to the constructor that reads it (e.g.
        ``nms=dict(type='nms')``, ``roi_layer=dict(type='RoIAlign')``, LoRA's
        ``targets=[dict(type='qkv')]`` name no registry entry)."""
        if isinstance(node, (list, tuple)):
            for item_key, item in self.each(node, key):
                self.model(item, item_key, scope, registries)
            return
        if not isinstance(node, dict):
            return
        if registries is not None:
            _, scope = self.resolve(node, key, registries, scope)
        else:
            scope = node.get('_scope_', scope)
        for name, value in node.items():
            sub = f'{key}.{name}'
            if name in ('type', '_scope_'):
                continue
            if name == 'init_cfg':
                self.init_cfg(value, sub, scope)
            else:
                self.model(value, sub, scope, _model_key_registries(name))

    def init_cfg(self, value: Any, key: str, scope: Optional[str]) -> None:
        for item_key, item in self.each(value, key):
            _, sub_scope = self.resolve(item, item_key, (WEIGHT_INITIALIZERS, ), scope)
            if isinstance(item, dict):  # an override names its own type, or inherits it
                for override_key, override in self.each(item.get('override'),
                                                        f'{item_key}.override'):
                    self.resolve(override, override_key, (WEIGHT_INITIALIZERS, ), sub_scope)

    def dataloader(self, node: Any, key: str, scope: Optional[str]) -> None:
        if not isinstance(node, dict):
            return
        self.dataset(node.get('dataset'), f'{key}.dataset', scope)
        for name in ('sampler', 'batch_sampler'):
            self.resolve(node.get(name), f'{key}.{name}', (DATA_SAMPLERS, ), scope)
        for name in ('collate_fn', 'worker_init_fn'):
            self.resolve(node.get(name), f'{key}.{name}', (FUNCTIONS, ), scope)

    def dataset(self, node: Any, key: str, scope: Optional[str]) -> None:
        if not isinstance(node, dict):
            return
        _, scope = self.resolve(node, key, (DATASETS, ), scope)
        self.dataset(node.get('dataset'), f'{key}.dataset', scope)
        for item_key, item in self.each(node.get('datasets'), f'{key}.datasets'):
            self.dataset(item, item_key, scope)
        self.transforms(node.get('pipeline'), f'{key}.pipeline', scope)

    def transforms(self, value: Any, key: str, scope: Optional[str]) -> None:
        """A pipeline: transforms, with nested ``transforms`` (lists of lists for
        ``TestTimeAug``) and ``policies`` (``RandAugment``)."""
        for item_key, item in self.each(value, key):
            if isinstance(item, (list, tuple)):
                self.transforms(item, item_key, scope)
                continue
            _, sub_scope = self.resolve(item, item_key, (TRANSFORMS, ), scope)
            if not isinstance(item, dict) or item.get('type') in FOREIGN_TRANSFORMS:
                continue
            for name in ('transforms', 'policies'):
                if name in item:
                    self.transforms(item[name], f'{item_key}.{name}', sub_scope)

    def evaluator(self, node: Any, key: str, scope: Optional[str]) -> None:
        if isinstance(node, dict) and 'metrics' in node:  # mmengine builds an EVALUATOR
            _, scope = self.resolve(node, key, (EVALUATOR, ), scope, default='Evaluator')
            node = node['metrics']
            key = f'{key}.metrics'
        for item_key, metric in self.each(node, key):
            self.resolve(metric, item_key, (METRICS, ), scope)

    def optim_wrapper(self, node: Any, key: str, scope: Optional[str]) -> None:
        if not isinstance(node, dict):
            return
        scope = node.get('_scope_', scope)
        constructor = node.get('constructor')
        if isinstance(constructor, str):
            self.resolve_name(constructor, f'{key}.constructor', (OPTIM_WRAPPER_CONSTRUCTORS, ),
                              scope)
        if 'optimizer' in node or 'type' in node:
            _, scope = self.resolve(node, key, (OPTIM_WRAPPERS, ), scope, default='OptimWrapper')
            self.resolve(node.get('optimizer'), f'{key}.optimizer', (OPTIMIZERS, ), scope)
        else:  # several optimizers (a custom constructor): name -> wrapper config
            for name, sub in node.items():
                if isinstance(sub, dict) and name != 'paramwise_cfg':
                    self.optim_wrapper(sub, f'{key}.{name}', scope)

    def schedulers(self, node: Any, key: str, scope: Optional[str]) -> None:
        if isinstance(node, dict) and 'type' not in node:  # per optimizer: name -> schedulers
            for name, sub in node.items():
                self.schedulers(sub, f'{key}.{name}', scope)
            return
        for item_key, item in self.each(node, key):
            self.resolve(item, item_key, (PARAM_SCHEDULERS, ), scope)

    # ------------------------------------------------------------------ the whole config
    def walk(self) -> None:
        cfg = self.cfg
        scope = cfg.get('default_scope')
        runner_type = cfg.get('runner_type')
        if isinstance(runner_type, str):
            self.resolve_name(runner_type, 'runner_type', (RUNNERS, ), scope)
        self.model(cfg.get('model'), 'model', scope)
        self.model(cfg.get('data_preprocessor'), 'data_preprocessor', scope)
        self.resolve(cfg.get('model_wrapper_cfg'), 'model_wrapper_cfg', (MODEL_WRAPPERS, ),
                     scope)
        default_hooks = cfg.get('default_hooks')
        if isinstance(default_hooks, dict):
            for name, hook in default_hooks.items():
                self.resolve(hook, f'default_hooks.{name}', (HOOKS, ), scope)
        for key, hook in self.each(cfg.get('custom_hooks'), 'custom_hooks'):
            self.resolve(hook, key, (HOOKS, ), scope)
        visualizer = cfg.get('visualizer')
        _, vis_scope = self.resolve(visualizer, 'visualizer', (VISUALIZERS, ), scope)
        if isinstance(visualizer, dict):
            for key, backend in self.each(visualizer.get('vis_backends'),
                                          'visualizer.vis_backends'):
                self.resolve(backend, key, (VISBACKENDS, ), vis_scope)
        self.resolve(cfg.get('log_processor'), 'log_processor', (LOG_PROCESSORS, ), scope)
        for loop, loader, evaluator in _loops(cfg, self.mode):
            self.resolve(cfg.get(loop), loop, (LOOPS, ), scope)
            self.dataloader(cfg.get(loader), loader, scope)
            if evaluator is not None:
                self.evaluator(cfg.get(evaluator), evaluator, scope)
        if self.mode == 'train':
            self.optim_wrapper(cfg.get('optim_wrapper'), 'optim_wrapper', scope)
            self.schedulers(cfg.get('param_scheduler'), 'param_scheduler', scope)


def _loops(cfg: Any, mode: str) -> List[Tuple[str, str, Optional[str]]]:
    """``(loop, dataloader, evaluator)`` keys a ``tools/train.py``/``test.py`` run builds."""
    if mode == 'test':
        return [('test_cfg', 'test_dataloader', 'test_evaluator')]
    loops: List[Tuple[str, str, Optional[str]]] = [('train_cfg', 'train_dataloader', None)]
    if has_val_loop(cfg):
        loops.append(('val_cfg', 'val_dataloader', 'val_evaluator'))
    return loops


def has_val_loop(cfg: Any) -> bool:
    """Whether mmengine builds a validation loop (``val_cfg``, ``val_dataloader`` and
    ``val_evaluator`` all set)."""
    return all(cfg.get(k) is not None for k in ('val_cfg', 'val_dataloader', 'val_evaluator'))


def _mmpretrain_registry(name: str) -> Optional[Registry]:
    try:
        from mmpretrain import registry
    except ImportError:
        return None
    return getattr(registry, name, None)


def _model_key_registries(name: Any) -> Optional[Tuple[Registry, ...]]:
    """Where a model config's child under key ``name`` is built (None: not resolved)."""
    if not isinstance(name, str):
        return None
    if name == 'augments':  # mmpretrain's batch augments (train_cfg / data_preprocessor)
        registry = _mmpretrain_registry('BATCH_AUGMENTS')
        return None if registry is None else (registry, )
    if name == 'tokenizer':
        registry = _mmpretrain_registry('TOKENIZER')
        return None if registry is None else (registry, )
    if name.endswith('sampler'):  # an RoI sampler, or a dataloader's (mmpretrain's ArcFace
        return (MODELS, TASK_UTILS, DATA_SAMPLERS)  # builds a prototype loader in the model)
    if name.startswith('loss') or name.endswith(MODEL_KEY_SUFFIXES):
        return (MODELS, TASK_UTILS)
    return None


def _scoped(registry: Registry, scope: Optional[str]) -> Registry:
    """The registry ``build`` would use under ``scope``: as mmengine's
    ``switch_scope_and_registry``, without touching the global default scope or warning."""
    if scope is None:
        return registry
    try:
        import_module(f'{scope}.registry')
    except ImportError:
        pass
    found = registry._get_root_registry()._search_child(scope)
    return registry if found is None else found  # (an empty Registry is falsy: len() == 0)


def _lookup(registries: Sequence[Registry], name: str, scope: Optional[str]) -> Any:
    """What mmengine's ``build_from_cfg`` finds for ``name`` under ``scope`` (None: nothing)."""
    for registry in registries:
        try:
            cls = _scoped(registry, scope).get(name)
        except Exception:  # noqa: BLE001 (mmengine raises RuntimeError('Failed to get ...'))
            cls = None
        if cls is not None:
            return cls
    return None


def _visible_names(registry: Optional[Registry]) -> List[str]:
    """Names ``registry.get`` finds without a scope prefix: its own and its ancestors'."""
    names: List[str] = []
    while registry is not None:
        names += list(registry.module_dict)
        registry = registry.parent
    return names


def _descendants(registry: Registry) -> Iterator[Registry]:
    yield registry
    for child in registry.children.values():
        yield from _descendants(child)


def _unknown(name: str, registries: Sequence[Registry], scope: Optional[str]) -> str:
    """``'X' is not a registered hook (did you mean Y?)``, or where else ``X`` is registered."""
    what = ' or '.join(r.name for r in registries)
    prefix, _, real = name.rpartition('.')
    where = prefix or scope
    message = f'{name!r} is not a registered {what}'
    lowered: Dict[str, str] = {}
    for registry in registries:
        lowered.update((n.lower(), n) for n in _visible_names(_scoped(registry, where)))
    scope_text = f'scope {where!r}' if where else 'no default_scope'
    for registry in registries:  # the exact name in another scope: the likeliest mistake
        for other in _descendants(registry._get_root_registry()):
            if other.scope == where or other.parent is None:
                continue
            try:
                other.import_from_location()
            except Exception:  # noqa: BLE001 (only a hint)
                continue
            if real in other.module_dict:
                return message + (f' under {scope_text} (it is registered in '
                                  f"{other.scope!r}: write '{other.scope}.{real}' or set "
                                  f"_scope_='{other.scope}')")
    close = difflib.get_close_matches(real.lower(), list(lowered), n=1, cutoff=0.75)
    if close:
        guess = lowered[close[0]]
        return message + f' (did you mean {prefix + "." if prefix else ""}{guess}?)'
    return message


def resolve_config_types(cfg: Any, mode: str = 'train') -> List[TypedNode]:
    """Resolve every ``type`` a ``tools/train.py`` (``mode='train'``) or ``tools/test.py``
    (``'test'``) run builds; raise ``ValueError`` naming the key of the first unknown one.

    Returns:
        list[TypedNode]: Every resolved node, in config order.
    """
    walker = _Walker(cfg, mode)
    walker.walk()
    return walker.nodes


def _short_error(e: BaseException) -> str:
    """One line: mmengine's ``class `X` in path: `` prefixes dropped; a bare ``assert`` shows
    its source line."""
    text = str(e.args[0]) if e.args else ''
    while True:
        stripped = re.sub(r'^class `\w+` in [^:]+: ', '', text)
        if stripped == text:
            break
        text = stripped
    if isinstance(e, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    if not text:
        frames = traceback.extract_tb(e.__traceback__)
        line = frames[-1].line if frames else ''
        text = f'{type(e).__name__}' + (f' ({line})' if line else '')
    return ' '.join(text.split())


def build_on_meta(node: TypedNode) -> None:
    """Build ``node`` on the ``meta`` device (its argument checks run, no memory is used);
    raise ``ValueError`` naming its key on a bad argument.

    Only argument errors (``ValueError``, ``TypeError``, ``KeyError``, ``AssertionError``)
    count; anything else (an operation the meta device does not support) is left for the
    real build to report, so the check never refuses a config the Runner would build.
    """
    cfg = copy.deepcopy(node.cfg)
    try:
        with torch.device('meta'), DefaultScope.overwrite_default_scope(node.scope):
            MODELS.build(cfg)
    except (ValueError, TypeError, KeyError, AssertionError) as e:
        name = getattr(node.cls, '__name__', str(node.cls))
        raise ValueError(f'{node.key} ({name}): {_short_error(e)}') from e
    except Exception:  # noqa: BLE001 (see the docstring)
        pass


def check_config_types(cfg: Any, mode: str = 'train') -> List[TypedNode]:
    """:func:`resolve_config_types`, then :func:`build_on_meta` for mmdicm's own backbones and
    necks. Returns the resolved nodes."""
    from ..models import DICMCodecNeck, DICMResNet
    nodes = resolve_config_types(cfg, mode)
    for node in nodes:
        if node.key.startswith('model') and isinstance(node.cls, type) and issubclass(
                node.cls, (DICMResNet, DICMCodecNeck)):
            build_on_meta(node)
    return nodes
