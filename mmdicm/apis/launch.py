"""What ``tools/train.py`` and ``tools/test.py`` do, importable and tested.

Mirrors mmdet's stock tools (``--cfg-options``, ``--work-dir``, ``--resume``, ``--amp``,
``--launcher``) with two differences: the default Runner is :class:`DICMRunner` (its
checkpoints load again under torch >= 2.6, DDP works on CPU), and a bad path or option is a
one-line error at start (:func:`check_config`), not a traceback minutes into a run.
"""
import argparse
import copy
import gc
import os
import os.path as osp
import re
import sys
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS, RUNNERS, DefaultScope
from mmengine.runner import Runner

from ..mim import drop_scope_tags
from .config_types import TypedNode, check_config_types, has_val_loop
from ..engine.hooks import EntropyUpdateHook
from ..engine.runner import DICMRunner

__all__ = ['prepare_config', 'check_config', 'build_runner', 'set_local_rank',
           'add_common_args', 'run_tool', 'last_checkpoint', 'train_to_checkpoint',
           'CONFIG_ROOT']

#: ``configs/`` as shipped in the package (a link in a checkout, copies in a wheel)
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs',
                       'dicm')

#: what each tool reads: (dataloader, evaluator) config keys
_MODE_DATA = {
    'train': (('train_dataloader', None), ('val_dataloader', 'val_evaluator')),
    'test': (('test_dataloader', 'test_evaluator'), ),
}


def prepare_config(config: str,
                   work_dir: Optional[str] = None,
                   cfg_options: Optional[Dict[str, Any]] = None,
                   resume: Optional[str] = None,
                   amp: bool = False,
                   launcher: str = 'none',
                   checkpoint: Optional[str] = None) -> Config:
    """Load ``config`` and apply the command-line overrides.

    Args:
        config (str): Config file path.
        work_dir (str, optional): Overrides the config's; default ``work_dirs/<config name>``.
        cfg_options (dict, optional): ``--cfg-options`` key/values merged into the config.
        resume (str, optional): ``'auto'`` resumes from the work dir's latest checkpoint, a
            path resumes from that checkpoint, None does not resume.
        amp (bool): Use ``AmpOptimWrapper`` with dynamic loss scaling. Defaults to False.
        launcher (str): ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'`` or ``'mpi'``.
        checkpoint (str, optional): Weights to evaluate (``tools/test.py``); sets
            ``load_from``.

    Returns:
        Config: ready for :func:`build_runner`.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    for name, path in (('resume checkpoint', None if resume in (None, 'auto') else resume),
                       ('checkpoint', checkpoint)):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{name} not found: {path}')
    if launcher not in ('none', 'pytorch', 'slurm', 'mpi'):
        raise ValueError(f"launcher must be 'none', 'pytorch', 'slurm' or 'mpi', got {launcher!r}")
    cfg = drop_scope_tags(Config.fromfile(config))  # `mmdicm::` bases: see mmdicm/mim.py
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    if amp:
        if 'optim_wrapper' not in cfg:
            raise ValueError('--amp needs an optim_wrapper in the config (training only)')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if checkpoint is not None:
        cfg.load_from = checkpoint
    return cfg


def _is_local(path: str, backend_args: Any) -> bool:
    """A path on the local file system (not ``s3://...``, no non-local file backend)."""
    if '://' in path:
        return False
    return not backend_args or backend_args.get('backend', 'local') == 'local'


def _dataset_paths(dataset: Any, key: str) -> Iterator[Tuple[str, str, bool, Dict[str, Any]]]:
    """``(config key, path, is_dir, dataset config)`` of every local path a dataset reads.

    Paths are resolved as mmengine's ``BaseDataset`` does (``ann_file`` and relative
    ``data_prefix`` values joined to ``data_root``; relative to the working directory
    otherwise). Dataset wrappers (``dataset=``, ``datasets=[...]``) are followed.
    """
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('dataset'), dict):
        yield from _dataset_paths(dataset['dataset'], f'{key}.dataset')
    for i, sub in enumerate(dataset.get('datasets') or []):
        yield from _dataset_paths(sub, f'{key}.datasets.{i}')
    backend_args = dataset.get('backend_args')
    root = dataset.get('data_root') or ''
    if not isinstance(root, str):
        return
    if root and _is_local(root, backend_args):
        yield f'{key}.data_root', root, True, dataset
    ann_file = dataset.get('ann_file')
    if isinstance(ann_file, str) and ann_file:
        path = ann_file if osp.isabs(ann_file) or not root else osp.join(root, ann_file)
        if _is_local(path, backend_args):
            yield f'{key}.ann_file', path, False, dataset
    prefix = dataset.get('data_prefix')
    prefixes = prefix.items() if isinstance(prefix, dict) else [(None, prefix)]
    for name, value in prefixes:
        if not isinstance(value, str) or not (value or root):
            continue
        path = value if osp.isabs(value) or not root else osp.join(root, value)
        sub = f'{key}.data_prefix' + (f'.{name}' if name is not None else '')
        if _is_local(path, backend_args):
            yield sub, path, True, dataset


def _evaluator_paths(evaluator: Any, key: str) -> Iterator[Tuple[str, str, bool, None]]:
    """``(config key, path, False, None)`` of every metric's local ``ann_file``."""
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            continue
        ann_file = metric.get('ann_file')
        sub = f'{key}.{i}' if isinstance(evaluator, (list, tuple)) else key
        if isinstance(ann_file, str) and ann_file and _is_local(ann_file,
                                                                metric.get('backend_args')):
            yield f'{sub}.ann_file', ann_file, False, None


def _embedded_root(path: str, dataset: Optional[Dict[str, Any]]) -> Optional[str]:
    """The ``--out`` of ``tools/make_embedded_data.py`` that would make ``path``, if ``path``
    belongs to mmdicm's embedded dataset (a folder named ``embedded`` on the way, or a dataset
    with the embedded classes); None otherwise."""
    from ..datasets import DEFAULT_CATEGORIES
    parts = osp.normpath(path).split(os.sep)
    if 'embedded' in parts:
        return os.sep.join(parts[:parts.index('embedded') + 1]) or os.sep
    metainfo = (dataset or {}).get('metainfo')
    classes = metainfo.get('classes') if isinstance(metainfo, dict) else None
    root = (dataset or {}).get('data_root')
    if classes is None or tuple(classes) != DEFAULT_CATEGORIES or not isinstance(root, str):
        return None
    root = osp.normpath(root)
    return osp.dirname(root) if osp.basename(root) == 'classification' else root


def _check_paths(cfg: Config, mode: str) -> None:
    for loader_key, evaluator_key in _MODE_DATA[mode]:
        loader = cfg.get(loader_key)
        if not isinstance(loader, dict):
            continue
        if loader_key == 'val_dataloader' and not has_val_loop(cfg):
            continue  # mmengine builds no val loop: nothing reads it
        paths = list(_dataset_paths(loader.get('dataset'), f'{loader_key}.dataset'))
        if evaluator_key is not None:
            paths += _evaluator_paths(cfg.get(evaluator_key), evaluator_key)
        for key, path, is_dir, dataset in paths:
            exists = osp.isdir(path) if is_dir else osp.isfile(path)
            if not exists:
                what = 'folder' if is_dir else 'file'
                message = f'{key}: {what} not found: {path}'
                out = _embedded_root(path, dataset)
                if out is not None:
                    message += (' (mmdicm\'s embedded dataset: make it with `python '
                                f'tools/make_embedded_data.py --out {out}`)')
                raise FileNotFoundError(message)


def _check_data_preprocessor(cfg: Config) -> None:
    """``pad_size_divisor`` must be a positive int.

    Any positive value works with a DICM backbone (it pads internally to its
    ``pad_multiple`` and crops back, so the preprocessor's batch shape never has to fit the
    codec); 0 or a negative value makes mmdet/mmpretrain fail on the first batch, inside
    training, with an unrelated message (``division by zero``, ``cannot reshape array``,
    ``narrow(): length must be non-negative``).
    """
    candidates = [('data_preprocessor', cfg.get('data_preprocessor'))]
    model = cfg.get('model')
    if isinstance(model, dict):
        candidates.append(('model.data_preprocessor', model.get('data_preprocessor')))
    for key, preprocessor in candidates:
        if not isinstance(preprocessor, dict) or 'pad_size_divisor' not in preprocessor:
            continue
        value = preprocessor['pad_size_divisor']
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{key}.pad_size_divisor must be an int >= 1 (the DICM backbone '
                             f'pads to its own codec stride internally), got {value!r}')


def _init_checkpoints(node: Any, key: str) -> Iterator[Tuple[str, str]]:
    """``(config key, path)`` of every ``init_cfg`` checkpoint in a model config (mmengine's
    ``Pretrained`` and :class:`~mmdicm.engine.DICMPretrainedInit`), at any depth."""
    if isinstance(node, dict):
        for name, value in node.items():
            sub = f'{key}.{name}'
            if name == 'init_cfg':
                inits = value if isinstance(value, (list, tuple)) else [value]
                for i, init in enumerate(inits):
                    at = f'{sub}.{i}' if isinstance(value, (list, tuple)) else sub
                    if (isinstance(init, dict) and str(init.get('type', '')).endswith(
                            'Pretrained') and isinstance(init.get('checkpoint'), str)):
                        yield f'{at}.checkpoint', init['checkpoint']
            else:
                yield from _init_checkpoints(value, sub)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _init_checkpoints(value, f'{key}.{i}')


def _check_checkpoints(cfg: Config, mode: str) -> None:
    """Training reads ``load_from`` and the ``init_cfg`` checkpoints only after building the
    model and the data (mmengine's error then comes from deep inside ``load_checkpoint``).
    Test mode reads ``load_from`` only (:func:`prepare_config` checks ``--checkpoint``)."""
    paths = []
    load_from = cfg.get('load_from')
    if isinstance(load_from, str) and load_from:
        paths.append(('load_from', load_from))
    if mode == 'train':
        paths += list(_init_checkpoints(cfg.get('model'), 'model'))
    for key, path in paths:
        if _is_local(path, None) and not osp.isfile(path):
            raise FileNotFoundError(f'{key}: checkpoint not found: {path}')


_REGISTRY_PREFIX = re.compile(r'^class `\w+` in [^:]+: ')


def _check_custom_hooks(cfg: Config) -> None:
    """Build every custom hook once, so bad arguments (e.g. ``lambda_rate < 0``) surface
    (their types were resolved before, by :func:`check_config_types`)."""
    hooks = cfg.get('custom_hooks') or []
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        for i, hook in enumerate(hooks):
            if isinstance(hook, Hook):
                continue  # an already-built hook object
            if not isinstance(hook, dict):
                raise ValueError(f'custom_hooks.{i} must be a dict(type=...) or a Hook, got '
                                 f'{hook!r}')
            name = hook.get('type', '?')
            name = name if isinstance(name, str) else getattr(name, '__name__', repr(name))
            try:
                HOOKS.build(copy.deepcopy(hook))
            except (ValueError, TypeError, KeyError) as e:
                message = _REGISTRY_PREFIX.sub('', str(e.args[0]) if e.args else str(e))
                raise ValueError(f'custom_hooks.{i} ({name}): ' +
                                 ' '.join(message.split())) from e


def _is_model_key(key: str) -> bool:
    return key == 'model' or key.startswith('model.')


def _check_entropy_update(cfg: Config, mode: str, nodes: List[TypedNode]) -> None:
    """Real coding needs entropy tables built from the current weights: a run that
    entropy-codes in validation/testing must refresh them (:class:`EntropyUpdateHook`)."""
    from ..models import DICMResNet
    coding = [n for n in nodes if _is_model_key(n.key) and isinstance(n.cls, type)
              and issubclass(n.cls, DICMResNet) and n.cfg.get('real_coding') is True
              and n.cfg.get('codec', {}) is not None]
    if not coding or (mode == 'train' and not has_val_loop(cfg)):
        return
    hooks = [n.cls for n in nodes if n.key.startswith(('custom_hooks', 'default_hooks.'))]
    hooks += [type(h) for h in (cfg.get('custom_hooks') or []) if not isinstance(h, dict)]
    if any(isinstance(h, type) and issubclass(h, EntropyUpdateHook) for h in hooks):
        return
    key = coding[0].key
    where = 'validation' if mode == 'train' else 'testing'
    raise ValueError(
        f'custom_hooks: EntropyUpdateHook is missing, but {key}.real_coding=True entropy-codes '
        f'real bitstreams in {where}, which needs entropy tables built from the weights: add '
        "dict(type='EntropyUpdateHook') to custom_hooks (re-stating custom_hooks replaces the "
        'whole inherited list; change one hook with --cfg-options custom_hooks.0.lambda_rate=...) '
        f'or set {key}.real_coding=False')


def check_config(cfg: Config, mode: str = 'train') -> None:
    """Fail fast, with one line naming the config key, on what would break a run later.

    Checked (for ``mode='train'``: the train data, the val data if a val loop is
    configured; for ``mode='test'``: the test data):

    - every local path a dataset reads (``data_root``, ``ann_file``, ``data_prefix``, also
      inside dataset wrappers) and every metric's ``ann_file`` exists
      (``FileNotFoundError``);
    - the data preprocessor's ``pad_size_divisor`` is an int >= 1 (``ValueError``; any such
      value works with DICM, whose backbone pads to the codec's stride itself);
    - every ``type`` the run builds is registered, anywhere in the config (model, datasets,
      transforms, samplers, metrics, default and custom hooks, optimizer, schedulers,
      visualizer, loops, ...), looked up as the Runner will, under ``default_scope`` and
      ``_scope_``: ``default_hooks.checkpoint.type: 'CheckpointHok' is not a registered hook
      (did you mean CheckpointHook?)`` (``ValueError``; :mod:`mmdicm.apis.config_types`);
    - mmdicm's own model parts (``DICMResNet``, ``DICMCodecNeck``) build, on the ``meta``
      device: e.g. ``model.backbone: split_stage must be an int in [0, 3] ...``
      (``ValueError``);
    - every ``custom_hooks`` entry builds, e.g. ``RateLossHook`` rejects ``lambda_rate < 0``
      (``ValueError``);
    - a backbone with ``real_coding=True`` that codes in this run (a val loop when training,
      always when testing) has an ``EntropyUpdateHook`` to build its entropy tables
      (``ValueError``);
    - the local checkpoints the run loads exist: ``load_from``, and for training every
      ``init_cfg`` of type ``Pretrained``/``DICMPretrained`` (``FileNotFoundError``; URLs
      such as ``torchvision://resnet50`` are not checked).

    A missing path of mmdicm's embedded dataset says how to make it
    (``python tools/make_embedded_data.py --out ...``). Remote paths (``s3://...`` or a
    non-local ``backend_args``) are not checked.

    Args:
        cfg (Config): A config from :func:`prepare_config`.
        mode (str): ``'train'`` (``tools/train.py``) or ``'test'`` (``tools/test.py``).

    Raises:
        FileNotFoundError: a path is missing.
        ValueError: a bad value, or ``mode`` is not ``'train'``/``'test'``.
    """
    if mode not in _MODE_DATA:
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    nodes = check_config_types(cfg, mode)
    _check_data_preprocessor(cfg)
    _check_custom_hooks(cfg)
    _check_entropy_update(cfg, mode, nodes)
    _check_paths(cfg, mode)
    _check_checkpoints(cfg, mode)


def build_runner(cfg: Config) -> Runner:
    """``runner_type`` from the config if set, :class:`DICMRunner` otherwise.

    A visualizer the config names (mmdet's configs: ``name='visualizer'``) gets a name of
    its own per runner: mmengine builds it by ``get_instance(name)``, which returns the
    instance of the *first* runner of the process, whose backends keep writing into that
    run's folder (a rate sweep's task stages or the SSL pipeline's stages would log into
    the first one's ``scalars.json``). ``cfg`` itself is left as it is."""
    vis = cfg.get('visualizer')
    if isinstance(vis, dict) and vis.get('name'):
        cfg = copy.deepcopy(cfg)
        cfg.visualizer.name = f'{vis["name"]}-{uuid.uuid4().hex[:12]}'
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return DICMRunner.from_cfg(cfg)


def set_local_rank(local_rank: int) -> None:
    """``torch.distributed.launch`` passes ``--local-rank``; mmengine reads ``LOCAL_RANK``."""
    os.environ.setdefault('LOCAL_RANK', str(local_rank))


def _dict_action() -> type:
    """mmengine's ``DictAction``, with a value it cannot parse (``custom_hooks=[dict(...)]``
    recurses until ``RecursionError``) reported as an argparse error (usage, exit 2)."""
    from mmengine.config import DictAction

    class CfgOptionsAction(DictAction):

        def __call__(self, parser, namespace, values, option_string=None):
            try:
                super().__call__(parser, namespace, values, option_string)
            except (RecursionError, ValueError, SyntaxError, TypeError) as e:
                parser.error(f'{option_string}: cannot parse {" ".join(values)!r} '
                             f'({type(e).__name__}); values are numbers, strings, [a,b] or '
                             '(a,b): set a dict key by key, e.g. custom_hooks.0.lambda_rate=0.02')

    return CfgOptionsAction


def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options that ``tools/train.py`` and ``tools/test.py`` share (mmdet's names)."""
    parser.add_argument('--work-dir', help='where logs, checkpoints and metrics go')
    parser.add_argument('--cfg-options', nargs='+', action=_dict_action(),
                        help='override config keys, e.g. model.backbone.real_coding=True')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def run_tool(args: argparse.Namespace,
             action: Callable[[Runner], Any],
             mode: Optional[str] = None,
             **overrides: Any) -> int:
    """Prepare the config from ``args`` (+ ``overrides``), check it, build the runner, run
    ``action``.

    Args:
        args (argparse.Namespace): Parsed :func:`add_common_args` options plus ``config``.
        action (callable): What to do with the runner (``runner.train()``, ...).
        mode (str, optional): What :func:`check_config` checks, ``'train'`` or ``'test'``;
            default ``'test'`` when a ``checkpoint`` override is given (``tools/test.py``),
            ``'train'`` otherwise.
        **overrides: More :func:`prepare_config` arguments.

    Returns:
        int: The exit code: 0, or 2 with a one-line ``error: ...`` on stderr for a bad path,
        option or config value (before anything is built).
    """
    set_local_rank(args.local_rank)
    if mode is None:
        mode = 'test' if overrides.get('checkpoint') is not None else 'train'
    try:
        cfg = prepare_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                             launcher=args.launcher, **overrides)
        check_config(cfg, mode)
    except (FileNotFoundError, ValueError) as e:
        print('error: ' + ' '.join(str(e).split()), file=sys.stderr)
        return 2
    action(build_runner(cfg))
    return 0


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's CheckpointHook wrote last in ``work_dir``."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise FileNotFoundError(f'no checkpoint was saved in {work_dir}')
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(work_dir, osp.basename(path))


def train_to_checkpoint(cfg: Config) -> str:
    """Train a prepared config as ``tools/train.py`` does (its start-up check first); the
    checkpoint it wrote last. The runner is dropped before returning, so its persistent
    dataloader workers go before the next run starts."""
    check_config(cfg, 'train')
    runner = build_runner(cfg)
    runner.train()
    del runner
    gc.collect()
    return last_checkpoint(cfg.work_dir)
