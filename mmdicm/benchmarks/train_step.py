"""Training-step cost of DICM: a DICM detector beside the stock one, same batch, same run (CPU)::

    batch ─► preprocess ─► ResNet head ─► RE ─► codec ─► ResNet tail ─► heads ─► loss + λ·bpp + aux
    batch ─► preprocess ─► ResNet head ─────────────────► ResNet tail ─► heads ─► loss

then backward and the optimizer step (mmengine's ``model.train_step``), interleaved, median of
``steps``, ratio against :data:`TRAIN_STEP_TARGET`. Both models do the same work outside the
codec by default (shared weights, the stock proposals for DICM's RoI head, same weights and
seed at every step): ``docs/benchmarks.md``. ``tools/benchmark_train_step.py`` runs it.
"""
import contextlib
import copy
import functools
import importlib
import logging
import os.path as osp
import platform
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from ..utils import check_int
from .detection import (DICM_DETECTOR_CONFIG, STOCK_DETECTOR_CONFIG, fixed_proposals,
                        make_detection_batch, record_proposals)
from .utils import Probe, check_threads, cpu_model, load_average, torch_threads

__all__ = ['DICM_CONFIG', 'STOCK_CONFIG', 'TRAIN_STEP_TARGET', 'resolve_config',
           'build_train_model', 'share_weights', 'profile_codec_step',
           'run_train_step_benchmark', 'format_train_step_benchmark']

#: DICM Mask R-CNN R-50-FPN (``configs/mask-rcnn_dicm.py``, as packaged)
DICM_CONFIG = DICM_DETECTOR_CONFIG
#: mmdet's stock Mask R-CNN R-50-FPN, the model the DICM config wraps
STOCK_CONFIG = STOCK_DETECTOR_CONFIG
#: the training-integration issue's target: DICM step time / stock step time
TRAIN_STEP_TARGET = 1.5
#: ``(model, optimizer wrapper, info)`` of :func:`build_train_model`, by name ('dicm', 'stock')
Models = Dict[str, Tuple[nn.Module, Any, Dict[str, Any]]]


def resolve_config(config: str) -> str:
    """``'pkg::path'`` -> ``<pkg>/.mim/configs/<path>``; a plain path is returned unchanged."""
    if '::' not in config:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file not found: {config}')
        return config
    package, rel = config.split('::', 1)
    root = osp.dirname(importlib.import_module(package).__file__)
    path = osp.join(root, '.mim', 'configs', rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{config} not found (looked for {path})')
    return path


def build_train_model(config: str,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      lr_scale: float = 0.01,
                      rate_hook: bool = True) -> Tuple[nn.Module, Any, Dict[str, Any]]:
    """Model (train mode, random weights), its optimizer wrapper and the config's rate hook.

    Args:
        config (str): Config path or ``pkg::path``.
        cfg_options (dict, optional): ``--cfg-options``-style overrides.
        lr_scale (float): Multiplies the optimizer's learning rate. Defaults to 0.01.
        rate_hook (bool): Attach the config's ``RateLossHook`` (if it has one), as the
            Runner would. Defaults to True.

    Returns:
        tuple: ``(model, optim_wrapper, info)``; ``info`` has ``rate_hook`` (the attached
        :class:`~mmdicm.engine.RateLossHook`, or None when the config has none), ``params``
        (millions of trainable parameters) and ``codec`` (the DICM codec module or None).
    """
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import HOOKS, MODELS, DefaultScope

    from ..engine import RateLossHook, find_codec_modules

    cfg = Config.fromfile(resolve_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # the optimizer constructor logs a line per parameter
    try:
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmdet')):
            model = MODELS.build(cfg.model)
            optim_cfg = copy.deepcopy(cfg.optim_wrapper)
            optim_cfg.optimizer.lr = optim_cfg.optimizer.lr * lr_scale
            optim_wrapper = build_optim_wrapper(model, optim_cfg)
            hook = None
            for hook_cfg in (cfg.get('custom_hooks') or []) if rate_hook else []:
                if hook_cfg.get('type') in ('RateLossHook', RateLossHook):
                    hook = HOOKS.build(copy.deepcopy(hook_cfg))
    finally:
        logger.setLevel(level)
    model.train()
    if hook is not None:
        hook.attach(model)
    codecs = find_codec_modules(model)
    info = dict(rate_hook=hook, codec=codecs[0][1].codec if codecs else None,
                params=sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)
    return model, optim_wrapper, info


def share_weights(dst: nn.Module, src: nn.Module) -> int:
    """Copy every tensor of ``src``'s state dict into ``dst`` where key and shape agree.

    Returns:
        int: How many tensors were copied.
    """
    theirs = src.state_dict()
    mine = dst.state_dict()
    shared = {k: v for k, v in theirs.items() if k in mine and mine[k].shape == v.shape}
    dst.load_state_dict(shared, strict=False)
    return len(shared)


#: op names (besides every ``*conv*`` op) counted as dense compute by :func:`profile_codec_step`
_MATMUL_OPS = ('aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm')


def _is_depthwise_weight(shape: Any) -> bool:
    return (isinstance(shape, (list, tuple)) and len(shape) == 4 and shape[1] == 1
            and 1 <= shape[2] <= 15 and shape[2] == shape[3] and shape[0] > 1)


def profile_codec_step(codec: nn.Module, f1: torch.Tensor, warmup: int = 1) -> Dict[str, float]:
    """Where a codec's training forward + backward spends its time, by kind of op.

    Runs ``codec(f1)`` and a backward through every output a training loss uses (``f3`` and
    the likelihoods) under ``torch.profiler`` and sums the ops' own CPU time into:

    - ``dense_s``: convolutions (not depthwise) and matrix products, forward and backward --
      the arithmetic the architecture asks for, at near the core's peak here;
    - ``depthwise_s``: depthwise convolutions (memory-bound; their weight gradient is slow);
    - ``other_s``: everything else (element-wise ops, norms, copies, entropy models).

    ``total_s`` is their sum (profiled time) and ``unprofiled_s`` the same forward + backward
    without the profiler (the faster of two passes). The profiler's own cost per op lands
    mostly in ``other_s``, and it is not small: in the training-step benchmark's process
    (two detectors, R-50 f1 of 2x256x80x80) the profiled pass took 4.2 s where the unprofiled
    one took 2.55 s, with the dense part the same 2.1 s in both a quiet isolated run and
    there. The first ``warmup`` profiled passes are discarded (the first profiler session of
    a process adds more). The codec's gradients are cleared afterwards.
    """
    from torch.profiler import ProfilerActivity, profile

    check_int('warmup', warmup, 0)

    def step() -> None:
        out = codec(f1)
        loss = out['f3'].float().mean()
        for likelihood in out['likelihoods'].values():
            loss = loss - torch.log(likelihood).mean()
        loss.backward()
        codec.zero_grad(set_to_none=True)

    for _ in range(warmup + 1):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            step()
    unprofiled = []
    for _ in range(2):
        start = time.perf_counter()
        step()
        unprofiled.append(time.perf_counter() - start)
    parts = dict(dense_s=0., depthwise_s=0., other_s=0.)
    for event in prof.key_averages(group_by_input_shape=True):
        seconds = event.self_cpu_time_total / 1e6
        name = event.key
        weights = [sh for sh in (event.input_shapes or [])[1:3]
                   if isinstance(sh, (list, tuple)) and len(sh) == 4]
        if 'conv' in name.lower() and weights:  # (dispatch wrappers and autograd nodes
            # without recorded shapes are bookkeeping: 'other')
            depthwise = any(_is_depthwise_weight(sh) for sh in weights)
            parts['depthwise_s' if depthwise else 'dense_s'] += seconds
        elif name in _MATMUL_OPS or 'scaled_dot_product' in name:
            parts['dense_s'] += seconds
        else:
            parts['other_s'] += seconds
    parts['total_s'] = sum(parts.values())
    parts['unprofiled_s'] = min(unprofiled)
    return parts


class _RoICounter:
    """RoIs each RoI extractor of a model received (``(extractor, count)`` per call)."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: List[Tuple[str, int]] = []
        self._handles = [
            m.register_forward_pre_hook(functools.partial(self._pre, name))
            for name, m in model.named_modules() if name.endswith('roi_extractor')]

    def _pre(self, name: str, module: nn.Module, args: Tuple) -> None:
        if len(args) > 1 and isinstance(args[1], torch.Tensor):
            self.calls.append((name, int(args[1].shape[0])))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


# ---------------------------------------------------------------------------------- phases
def _check_args(batch_size: int, steps: int, warmup: int, threads: Optional[int],
                size: Tuple[int, int]) -> None:
    check_int('batch_size', batch_size)
    check_int('steps', steps)
    check_int('warmup', warmup, 0)
    check_threads(threads)
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 32
                             for s in size):
        raise ValueError(f'size must be (H, W), each an int >= 32, got {size!r}')


def _build_models(models: Models, configs: Dict[str, Tuple[str, Optional[Dict[str, Any]]]],
                  lr_scale: float, seed: int) -> None:
    """Fill ``models`` (as it goes, so a failure leaves the built ones to clean up)."""
    for name, (config, options) in configs.items():
        torch.manual_seed(seed)
        models[name] = build_train_model(config, options, lr_scale=lr_scale,
                                         rate_hook=name == 'dicm')
    if models['dicm'][2]['rate_hook'] is None:
        raise ValueError(f'{configs["dicm"][0]} has no RateLossHook in custom_hooks: it is '
                         'not a DICM training config')


def _same_head_work(models: Models, batch: Dict[str, List[Any]],
                    seed: int) -> Tuple[int, Dict[str, Any], Optional[List[Any]]]:
    """DICM starts from the stock weights; the weights every step starts from; the stock
    proposals for DICM's RoI head (None unless both models are two-stage)."""
    shared = share_weights(models['dicm'][0], models['stock'][0])
    initial = {name: copy.deepcopy(m.state_dict()) for name, (m, _, _) in models.items()}
    stock, stock_optim, _ = models['stock']
    proposals = None
    if hasattr(models['dicm'][0], 'rpn_head') and hasattr(stock, 'rpn_head'):
        torch.manual_seed(seed)
        proposals = record_proposals(stock, lambda: stock.train_step(
            copy.deepcopy(batch), stock_optim))
    return shared, initial, proposals


def _timed_step(name: str, models: Models, batch: Dict[str, List[Any]],
                proposals: Optional[List[Any]], i: int) -> Tuple[float, List[Any], float]:
    """One training step: its wall time, the RoIs its extractors got, the codec's time."""
    model, optim_wrapper, info = models[name]
    probe, counter = Probe(), _RoICounter(model)
    if info['codec'] is not None:
        probe.hook(info['codec'], 'codec')
    data = copy.deepcopy(batch)
    pinned = (fixed_proposals(model, proposals) if name == 'dicm' and proposals
              else contextlib.nullcontext())
    with pinned:
        start = time.perf_counter()
        losses = model.train_step(data, optim_wrapper)
        elapsed = time.perf_counter() - start
    probe.close()
    counter.remove()
    if not all(torch.isfinite(v).all() for v in losses.values()
               if isinstance(v, torch.Tensor)):
        raise RuntimeError(f'{name}: non-finite loss at step {i}: {losses}')
    return elapsed, counter.calls, probe.seconds.get('codec', 0.)


def _time_steps(models: Models, batch: Dict[str, List[Any]], initial: Optional[Dict[str, Any]],
                proposals: Optional[List[Any]], seed: int, warmup: int,
                steps: int) -> Dict[str, Any]:
    """Interleaved steps (DICM, stock, stock, DICM, ...): ``times``, ``rois`` per model,
    DICM's ``codec_times`` and the ``f1`` its codec got last."""
    times: Dict[str, List[float]] = {name: [] for name in models}
    rois: Dict[str, List[List[Tuple[str, int]]]] = {name: [] for name in models}
    codec_times: List[float] = []
    f1: List[torch.Tensor] = []
    grab = models['dicm'][2]['codec'].register_forward_pre_hook(
        lambda m, args: f1.__setitem__(slice(None), [args[0].detach()]))
    try:
        for i in range(warmup + steps):
            for name in (('dicm', 'stock') if i % 2 == 0 else ('stock', 'dicm')):
                if initial is not None:
                    models[name][0].load_state_dict(initial[name])
                    torch.manual_seed(seed + i)
                elapsed, calls, codec_s = _timed_step(name, models, batch, proposals, i)
                if i >= warmup:
                    times[name].append(elapsed)
                    rois[name].append(calls)
                    if name == 'dicm':
                        codec_times.append(codec_s)
    finally:
        grab.remove()
    return dict(times=times, rois=rois, codec_times=codec_times, f1=f1[0])


def _summarize(models: Models, timed: Dict[str, Any], configs: Dict[str, str],
               profile: Optional[Dict[str, float]]) -> Dict[str, Any]:
    """Per-model medians and RoIs, the ratios, the codec profile's dense floor."""
    times, rois = timed['times'], timed['rois']
    result: Dict[str, Any] = {}
    for name in models:
        ts = times[name]
        median = sorted(ts)[(len(ts) - 1) // 2]  # lower median: a step that happened
        result[name] = dict(median_s=median, times_s=ts, params_m=models[name][2]['params'],
                            config=configs[name], rois=rois[name][ts.index(median)])
    median_step = times['dicm'].index(result['dicm']['median_s'])
    result['dicm']['codec_forward_median_s'] = timed['codec_times'][median_step]
    ratio = result['dicm']['median_s'] / result['stock']['median_s']
    paired = [d / s for d, s in zip(times['dicm'], times['stock'])]
    result.update(ratio=ratio, target=TRAIN_STEP_TARGET, meets_target=ratio <= TRAIN_STEP_TARGET,
                  mean_ratio=statistics.mean(times['dicm']) / statistics.mean(times['stock']),
                  paired_ratio=statistics.median(paired),
                  same_rois=all(r == rois['dicm'][0] for r in rois['dicm'] + rois['stock']),
                  shared_tensors=timed['shared'], pinned_proposals=timed['pinned'],
                  codec_profile=profile,
                  dense_floor_ratio=(None if profile is None else
                                     1 + profile['dense_s'] / result['stock']['median_s']))
    return result


# ---------------------------------------------------------------------------------- benchmark
def run_train_step_benchmark(dicm_config: str = DICM_CONFIG,
                             stock_config: str = STOCK_CONFIG,
                             batch_size: int = 2,
                             size: Tuple[int, int] = (320, 320),
                             steps: int = 5,
                             warmup: int = 1,
                             threads: Optional[int] = None,
                             seed: int = 0,
                             lr_scale: float = 0.01,
                             dicm_cfg_options: Optional[Dict[str, Any]] = None,
                             stock_cfg_options: Optional[Dict[str, Any]] = None,
                             same_head_work: bool = True,
                             profile_codec: bool = True
                             ) -> Dict[str, Any]:
    """Time training steps of the DICM and the stock detector on one batch, interleaved.

    Args:
        dicm_config (str): The DICM detector's config. Defaults to :data:`DICM_CONFIG`.
        stock_config (str): The stock detector's config. Defaults to :data:`STOCK_CONFIG`.
        batch_size (int): Images per step. Defaults to 2.
        size (tuple[int, int]): (H, W) of every image. Defaults to (320, 320).
        steps (int): Timed steps per model; the median is reported. Defaults to 5.
        warmup (int): Untimed steps per model first. Defaults to 1.
        threads (int, optional): ``torch.set_num_threads`` for the run (restored after).
            Defaults to torch's own.
        seed (int): Seed of the batch and of the weights. Defaults to 0.
        lr_scale (float): Learning-rate multiplier, small so that a step of random weights
            cannot diverge. Defaults to 0.01.
        dicm_cfg_options (dict, optional): Overrides of the DICM config.
        stock_cfg_options (dict, optional): Overrides of the stock config.
        same_head_work (bool): Shared weights, the stock proposals for DICM's RoI head and
            the same weights and seed at every step (``docs/benchmarks.md``), so that the
            two models differ by the codec only. False: each model keeps its own random
            weights and trains on (the work of its heads then follows its random features).
            Defaults to True.
        profile_codec (bool): After the timed steps, profile the codec's forward + backward
            on the f1 of the last DICM step (:func:`profile_codec_step`) and report the
            ratio the dense part alone would give (``dense_floor_ratio``). Defaults to True.

    Returns:
        dict: ``dicm`` and ``stock`` (each: ``median_s``, ``times_s``, ``params_m``,
        ``rois``: the ``(extractor, RoIs)`` calls of the median step, and for DICM
        ``codec_forward_median_s``, the codec's own forward time in the median step),
        ``ratio`` (DICM median / stock median; the target is judged on it), ``mean_ratio``,
        ``paired_ratio`` (median over rounds of DICM step / the stock step next to it, the
        least sensitive to a load that changes during the run), ``target``,
        ``meets_target``, ``same_rois`` (every timed step of both models saw the same RoIs),
        ``shared_tensors`` (stock tensors copied into DICM; 0 unless ``same_head_work``),
        ``pinned_proposals`` (DICM's RoI head got the stock proposals), ``codec_profile``
        and ``dense_floor_ratio`` (with ``profile_codec``: 1 + the codec's dense seconds /
        the stock median, the ratio if nothing but its convolutions and matrix products
        cost time), and the setup
        (``batch_size``, ``size``, ``steps``, ``warmup``, ``threads``, ``cpu``, ``torch``,
        ``load_average`` before and after: other processes on the machine slow both models,
        the ratio less than the times).
    """
    _check_args(batch_size, steps, warmup, threads, size)
    configs = dict(dicm=(dicm_config, dicm_cfg_options), stock=(stock_config, stock_cfg_options))
    load_before = load_average()
    models: Models = {}
    with torch_threads(threads):
        try:
            batch = make_detection_batch(batch_size, tuple(size), seed=seed)
            _build_models(models, configs, lr_scale, seed)
            shared, initial, proposals = (_same_head_work(models, batch, seed)
                                          if same_head_work else (0, None, None))
            timed = _time_steps(models, batch, initial, proposals, seed, warmup, steps)
            profile = (profile_codec_step(models['dicm'][2]['codec'], timed['f1'])
                       if profile_codec else None)
        finally:
            for _, _, info in models.values():
                if info['rate_hook'] is not None:
                    info['rate_hook'].detach()
    timed.update(shared=shared, pinned=proposals is not None)
    result = _summarize(models, timed, {k: v[0] for k, v in configs.items()}, profile)
    result.update(batch_size=batch_size, size=tuple(size), steps=steps, warmup=warmup,
                  threads=torch.get_num_threads() if threads is None else threads,
                  cpu=cpu_model(), torch=torch.__version__, python=platform.python_version(),
                  load_average=(load_before, load_average()))
    return result


def format_train_step_benchmark(result: Dict[str, Any]) -> str:
    """The table ``tools/benchmark_train_step.py`` prints."""
    h, w = result['size']
    lines = [
        f'Training step (forward + backward + optimizer step), batch {result["batch_size"]} x '
        f'{h}x{w}, median of {result["steps"]} after {result["warmup"]} warm-up, '
        f'{result["threads"]} thread(s), {result["cpu"]}, torch {result["torch"]}, '
        f'load average before/after {result["load_average"][0]} / {result["load_average"][1]}',
        f'{"model":<8}{"median s":>10}{"params M":>10}  steps (s)',
    ]
    for name in ('dicm', 'stock'):
        r = result[name]
        steps = ' '.join(f'{t:.2f}' for t in r['times_s'])
        lines.append(f'{name:<8}{r["median_s"]:>10.3f}{r["params_m"]:>10.1f}  {steps}')
    d = result['dicm']

    def rois(calls: List[Tuple[str, int]]) -> str:
        return ', '.join(f'{n} {c}' for n, c in calls) or 'none'

    if result['shared_tensors']:
        setup = (f'  same work outside the codec: DICM starts from the stock weights '
                 f'({result["shared_tensors"]} tensors shared), '
                 + ('its RoI head gets the stock proposals, ' if result['pinned_proposals']
                    else '')
                 + 'same weights and seed at every step')
    else:
        setup = '  each model keeps its own random weights (--independent-weights)'
    lines += [
        f'  dicm: {d["config"]}',
        f'  stock: {result["stock"]["config"]}',
        setup,
        f'  RoIs per step, dicm: {rois(d["rois"])}; stock: {rois(result["stock"]["rois"])}'
        + ('' if result['same_rois'] else '  (NOT the same: the heads did different work)'),
        f'  codec forward inside the median DICM step: {d["codec_forward_median_s"]:.3f} s',
    ]
    prof = result.get('codec_profile')
    if prof:
        lines.append(
            f'  codec forward + backward: {prof["unprofiled_s"]:.3f} s; profiled '
            f'{prof["total_s"]:.3f} s = convolutions and matrix products '
            f'{prof["dense_s"]:.3f} + depthwise convolutions {prof["depthwise_s"]:.3f} + other '
            f'ops {prof["other_s"]:.3f} (the profiler\'s own cost falls mostly in other); the '
            f'dense part alone would make the ratio {result["dense_floor_ratio"]:.2f}')
    lines += [
        f'ratio DICM / stock (medians): {result["ratio"]:.2f}  (means: '
        f'{result["mean_ratio"]:.2f}, median of adjacent-step ratios: '
        f'{result["paired_ratio"]:.2f})  target <= {result["target"]:.1f}: '
        + ('PASS' if result['meets_target'] else 'MISS'),
    ]
    return '\n'.join(lines)
