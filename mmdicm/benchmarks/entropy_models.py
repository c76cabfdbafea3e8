"""Encode / decode time of DICM's two entropy models of y, side by side (CPU)::

    f1 ─► RE ─► g_a ─► h_a ─► z ─► h_s ─┬─ hyperprior:      Gaussian ─► rANS ─► bytes
                                        └─ context_mixture: anchors ─► context ─► non-anchors

Same widths, same input, only ``entropy_model`` differs; times by stage (median run after a
warm-up). Random weights: times are the architectures', byte counts are not trained models'.
``tools/benchmark_entropy_models.py`` runs it; numbers: ``docs/codec.md``.
"""
import time
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..codec import DICMFeatureCodec
from ..codec.compression_net import ENTROPY_MODELS
from ..utils import check_int
from .utils import (Probe, Run, check_threads, cpu_model, load_average, median_run, ms,
                    parse_size, torch_threads, with_other)

__all__ = ['run_entropy_model_benchmark', 'format_entropy_model_benchmark']

#: stage keys, in data-flow order
_STAGES = ('re', 'g_a', 'h_a', 'h_s', 'context', 'param_net', 'tables', 'entropy', 'rans',
           'g_s')


def _instrument(codec: DICMFeatureCodec) -> Probe:
    net, probe = codec.net, Probe()
    probe.wrap(codec, '_edge_features', 're')
    for name in ('g_a', 'h_a', 'h_s', 'g_s'):
        probe.hook(getattr(net, name), name)
    eb = net.entropy_bottleneck
    probe.wrap(eb, 'compress', 'entropy')
    probe.wrap(eb, 'decompress', 'entropy')
    if net.entropy_model == 'hyperprior':
        probe.wrap(net.gaussian_conditional, 'compress', 'entropy')
        probe.wrap(net.gaussian_conditional, 'decompress', 'entropy')
    else:
        cm = net.context_mixture
        probe.hook(cm.context_model, 'context')
        probe.hook(cm.param_net, 'param_net')
        probe.wrap(cm.gaussian_mixture, 'tables', 'tables')
        probe.wrap(cm.gaussian_mixture, 'encode', 'rans')
        probe.wrap(cm.gaussian_mixture, 'decode', 'rans')
    return probe


def _measure(codec: DICMFeatureCodec, f1: torch.Tensor, size: Tuple[int, int],
             repeats: int) -> Dict[str, Any]:
    probe = _instrument(codec)
    runs: Dict[str, List[Run]] = defaultdict(list)
    try:
        for _ in range(repeats + 1):  # run 0 is the warm-up
            for key, fn in (('encode', lambda: codec.encode(f1, [size])),
                            ('decode', lambda: codec.decode(data))):
                probe.take()
                start = time.perf_counter()
                out = fn()
                runs[key].append((time.perf_counter() - start, probe.take()))
                if key == 'encode':
                    data = out
    finally:
        probe.close()
    result: Dict[str, Any] = dict(bytes=len(data[0]),
                                  payload_bytes=codec.parse(data[0]).payload_size)
    for key in ('encode', 'decode'):
        total, parts = median_run(runs[key][1:])
        result[f'{key}_s'] = total
        result[f'{key}_parts_s'] = with_other(total, parts, nested=())  # stages are disjoint
    return result


def run_entropy_model_benchmark(size: Union[str, Tuple[int, int]] = (512, 512),
                                repeats: int = 3,
                                threads: Optional[int] = 1,
                                models: Sequence[str] = ENTROPY_MODELS,
                                codec_cfg: Optional[Dict[str, Any]] = None,
                                seed: int = 0) -> Dict[str, Any]:
    """Time :meth:`DICMFeatureCodec.encode` (f1 -> container) and ``decode`` (container ->
    f3) of each entropy model on the same random f1 of an image of ``size``.

    Args:
        size (str | tuple): Image size ``(H, W)`` or ``'HxW'``, a multiple of 64.
            Defaults to 512x512.
        repeats (int): Timed runs after one warm-up; the median is reported. Defaults to 3.
        threads (int, optional): ``torch.set_num_threads`` for the run. Defaults to 1.
        models (Sequence[str]): Entropy models to compare. Defaults to both.
        codec_cfg (dict, optional): :class:`~mmdicm.codec.DICMFeatureCodec` arguments
            (``net.entropy_model`` is set per model). Defaults to the released widths.
        seed (int): Seed of the weights and of f1. Defaults to 0.

    Returns:
        dict: ``env`` and ``models``: per model ``encode_s``, ``decode_s``, their
        ``*_parts_s`` by stage, ``bytes`` and ``payload_bytes``.
    """
    h, w = parse_size(size) if isinstance(size, str) else tuple(int(v) for v in size)
    if h % 64 or w % 64:
        raise ValueError(f'size must be a multiple of 64 (the codec\'s total stride), got '
                         f'{h}x{w}')
    check_int('repeats', repeats)
    check_threads(threads)
    unknown = [m for m in models if m not in ENTROPY_MODELS]
    if unknown or not models:
        raise ValueError(f'models must be some of {ENTROPY_MODELS}, got {list(models)!r}')
    cfg = dict(codec_cfg or {})
    results = {}
    with torch_threads(threads), torch.no_grad():
        env = dict(torch=torch.__version__, threads=torch.get_num_threads(), cpu=cpu_model(),
                   repeats=repeats, size=[h, w], seed=seed, load_before=load_average())
        for model in models:
            torch.manual_seed(seed)
            codec = DICMFeatureCodec(**{**cfg, 'net': {**cfg.get('net', {}),
                                                       'entropy_model': model}}).eval()
            codec.update(force=True)
            torch.manual_seed(seed)
            f1 = torch.randn(1, codec.in_channels, h // codec.input_stride,
                             w // codec.input_stride)
            results[model] = _measure(codec, f1, (h, w), repeats)
        env['load_after'] = load_average()
    return dict(env=env, models=results)


def format_entropy_model_benchmark(result: Dict[str, Any]) -> str:
    """Render :func:`run_entropy_model_benchmark`'s result as a table (ms per stage)."""
    env, models = result['env'], result['models']
    names = list(models)
    row = '{:<34}' + ' {:>16}' * len(names)
    lines = [f'DICM entropy models of y, {env["size"][0]}x{env["size"][1]}, random weights, '
             f'torch threads {env["threads"]}, median of {env["repeats"]} (+1 warm-up)',
             f'CPU: {env["cpu"]}   load before {env["load_before"]} after {env["load_after"]}',
             row.format('', *names)]
    for key in ('encode', 'decode'):
        lines.append(row.format(f'{key} total (ms)', *(ms(models[n][f'{key}_s'])
                                                       for n in names)))
        for stage in _STAGES + ('other', ):
            values = [models[n][f'{key}_parts_s'].get(stage) for n in names]
            if any(v for v in values):
                lines.append(row.format(f'  {stage}', *('' if v is None else ms(v)
                                                        for v in values)))
    lines.append(row.format('container bytes', *(str(models[n]['bytes']) for n in names)))
    return '\n'.join(lines)
