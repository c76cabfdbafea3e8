"""Speed / compute benchmark of the DICM codec beside mbt2018-mean and JPEG (CPU).

It prints numbers, it does not assert them: the targets of the codec's issue are checked and
marked PASS/MISS, nothing more. Everything is measured in one run, interleaved per repeat so a
busy machine slows every codec alike::

    image ─► [ResNet stem+layer1] ─► f1 ─► RE ─► g_a ─► h_a ─► h_s ─► rANS ─► bytes   DICM edge
    bytes ─► rANS ─► h_s ─► g_s ─► f3                                                  DICM receiver
    image ─► mbt2018-mean.compress ─► bytes ─► mbt2018-mean.decompress ─► image        CompressAI
    image ─► Pillow JPEG ─► bytes ─► Pillow JPEG ─► image                              JPEG

Measured per size: the wall time of the median run of ``repeats`` after one warm-up (the
lower median for an even count, so its stage times add up to its total), the time inside each
stage (forward hooks / wrapped calls), the bytes written, and GFLOPs counted by
:class:`torch.utils.flop_counter.FlopCounterMode` (2 FLOPs per multiply-add; it counts
convolutions and matrix products only, so FFTs and element-wise ops are not in the figures).

Entropy coding is reported two ways: ``rans`` is the time inside the rANS coder calls
themselves (``encode_with_indexes`` / ``decode_with_indexes``), ``entropy`` the whole
CompressAI entropy-model ``compress`` / ``decompress`` methods (the rANS calls plus symbol
rounding and the tensor-to-list marshalling around them). The rANS-share target is judged on
``entropy``, the larger of the two.

Weights are random (no pretrained ones exist offline): times and FLOPs are those of the real
architectures, byte counts are not those of trained models.
"""
import io
import math
import os
import platform
import time
from collections import defaultdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..codec import DICMFeatureCodec

__all__ = ['BENCHMARK_TARGETS', 'build_resnet_head', 'parse_size', 'run_benchmark',
           'format_benchmark', 'cpu_model']

#: The issue's targets: (key, description, threshold, size it applies to or None for every size)
BENCHMARK_TARGETS: Tuple[Tuple[str, str, float, Optional[Tuple[int, int]]], ...] = (
    ('dicm_decoder_gflops', 'DICM decoder GFLOPs (h_s + g_s)', 30.0, (512, 512)),
    ('decode_time_ratio', 'DICM decode time / mbt2018-mean decompress time', 0.9, None),
    # "rANS coding itself": the coder calls. The entropy models' whole compress/decompress
    # (CompressAI's Python glue around them, e.g. CDF tables to lists) is printed in the table.
    ('rans_share_encode_pct', 'rANS coder share of DICM encode (%)', 10.0, None),
    ('rans_share_decode_pct', 'rANS coder share of DICM decode (%)', 10.0, None),
)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------------- helpers
def parse_size(text: str) -> Tuple[int, int]:
    """``'800x1344'`` -> ``(800, 1344)`` (height x width)."""
    try:
        h, w = (int(v) for v in str(text).lower().split('x'))
    except ValueError:
        raise ValueError(f'size must be HEIGHTxWIDTH, e.g. 800x1344, got {text!r}') from None
    if h < 1 or w < 1:
        raise ValueError(f'size must be positive, got {text!r}')
    return h, w


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _load_average() -> Optional[Tuple[float, float, float]]:
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def build_resnet_head(arch: str = 'resnet50') -> nn.Sequential:
    """Backbone head of the DICM split (stem + layer1) of a randomly initialised torchvision
    ResNet, in eval mode. ``resnet50`` gives f1 with 256 channels, ``resnet18``/``resnet34``
    with 64 (handy for small tests).
    """
    import torchvision

    if not hasattr(torchvision.models, arch) or not arch.startswith('resnet'):
        raise ValueError(f'arch must name a torchvision ResNet (e.g. "resnet50"), got {arch!r}')
    model = getattr(torchvision.models, arch)(weights=None)
    return nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, model.layer1).eval()


def _photo(name: str, size: Tuple[int, int]):
    """A real photo from ``skimage.data`` resized (bicubic) to ``size`` = (H, W); PIL RGB."""
    from PIL import Image
    from skimage import data as skdata

    if not hasattr(skdata, name):
        raise ValueError(f'image must name an skimage.data photo (astronaut, coffee, ...), '
                         f'got {name!r}')
    array = getattr(skdata, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    img = Image.fromarray(np.ascontiguousarray(array[..., :3]))
    return img.resize((size[1], size[0]), Image.BICUBIC)


def _to_tensor(img, multiple: int) -> torch.Tensor:
    """PIL RGB -> (1, 3, H', W') in [0, 1], zero-padded at the bottom/right to a multiple."""
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


class _Probe:
    """Accumulates the wall time spent inside hooked modules and wrapped callables."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = defaultdict(float)
        self._undo: List[Any] = []

    def wrap(self, owner: Any, attr: str, key: str) -> None:
        """Shadow ``owner.attr`` by a timed instance attribute (removed by :meth:`close`)."""
        original = getattr(owner, attr)
        seconds = self.seconds

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - start

        setattr(owner, attr, timed)
        self._undo.append((owner, attr))

    def hook(self, module: nn.Module, key: str) -> None:
        """Time every forward of ``module``."""
        starts: List[float] = []
        seconds = self.seconds

        def pre(_module, _args):
            starts.append(time.perf_counter())

        def post(_module, _args, _output):
            seconds[key] += time.perf_counter() - starts.pop()

        self._undo += [module.register_forward_pre_hook(pre),
                       module.register_forward_hook(post)]

    def entropy_models(self, model: nn.Module) -> None:
        """Time the entropy models of a CompressAI model (``entropy`` and ``rans`` keys)."""
        for em in (model.entropy_bottleneck, model.gaussian_conditional):
            self.wrap(em, 'compress', 'entropy')
            self.wrap(em, 'decompress', 'entropy')
            self.wrap(em.entropy_coder, 'encode_with_indexes', 'rans')
            self.wrap(em.entropy_coder, 'decode_with_indexes', 'rans')

    def take(self) -> Dict[str, float]:
        out = dict(self.seconds)
        self.seconds.clear()
        return out

    def close(self) -> None:
        for item in reversed(self._undo):
            if isinstance(item, tuple):
                delattr(*item)
            else:
                item.remove()
        self._undo.clear()


def _gflops(fn: Callable[[], Any]) -> Tuple[float, Any]:
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return counter.get_total_flops() / 1e9, out


def _timed(fn: Callable[[], Any], probe: Optional[_Probe] = None
           ) -> Tuple[float, Dict[str, float], Any]:
    if probe is not None:
        probe.take()
    start = time.perf_counter()
    out = fn()
    total = time.perf_counter() - start
    return total, (probe.take() if probe is not None else {}), out


# ---------------------------------------------------------------------------------- benchmark
@torch.no_grad()
def _benchmark_size(size: Tuple[int, int], head: nn.Module, codec: DICMFeatureCodec,
                    mbt: nn.Module, repeats: int, image: str,
                    jpeg_quality: int) -> Dict[str, Any]:
    from PIL import Image

    photo = _photo(image, size)
    # DICM and mbt2018-mean both code a zero-padded image whose sides are multiples of 64
    # (the total stride of both); JPEG codes the image itself.
    multiple = math.lcm(codec.input_stride * codec.stride, 64)
    rgb = _to_tensor(photo, multiple)
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    x_dicm = (rgb - mean) / std
    padded = tuple(rgb.shape[-2:])
    net = codec.net

    # ---- GFLOPs (one untimed pass each)
    fl_head, f1 = _gflops(lambda: head(x_dicm))
    fl_re, f2 = _gflops(lambda: codec._edge_features(f1))
    fl_ga, y = _gflops(lambda: net.g_a(f2))
    fl_ha, z = _gflops(lambda: net.h_a(y))
    eb = net.entropy_bottleneck
    z_hat = eb.quantize(z, 'dequantize', eb._get_medians())
    fl_hs, (_, means) = _gflops(lambda: net.gaussian_params(z_hat))
    y_hat = net.gaussian_conditional.quantize(y, 'dequantize', means)
    fl_gs, _ = _gflops(lambda: net.g_s(y_hat))
    data = codec.encode(f1, [size])
    fl_decode, _ = _gflops(lambda: codec.decode(data))
    fl_mbt_compress, mbt_out = _gflops(lambda: mbt.compress(rgb))
    mbt_y_hat = torch.round(mbt.g_a(rgb))  # g_s's FLOPs depend on the shape only
    fl_mbt_gs, _ = _gflops(lambda: mbt.g_s(mbt_y_hat))
    fl_mbt_decompress, _ = _gflops(lambda: mbt.decompress(mbt_out['strings'], mbt_out['shape']))
    del f1, f2, y, z, z_hat, means, y_hat, mbt_y_hat

    # ---- timing, interleaved per repeat; run 0 is the warm-up
    dicm_probe, mbt_probe = _Probe(), _Probe()
    dicm_probe.hook(head, 'head')
    dicm_probe.wrap(codec, '_edge_features', 're')
    dicm_probe.hook(net.g_a, 'g_a')
    dicm_probe.hook(net.h_a, 'h_a')
    dicm_probe.wrap(net, 'gaussian_params', 'h_s')
    dicm_probe.hook(net.g_s, 'g_s')
    dicm_probe.entropy_models(net)
    for name in ('g_a', 'h_a', 'h_s', 'g_s'):
        mbt_probe.hook(getattr(mbt, name), name)
    mbt_probe.entropy_models(mbt)
    runs: Dict[str, List[Tuple[float, Dict[str, float]]]] = defaultdict(list)
    try:
        for run in range(repeats + 1):
            t, parts, data = _timed(lambda: codec.encode(head(x_dicm), [size]), dicm_probe)
            runs['dicm_encode'].append((t, parts))
            t, parts, _ = _timed(lambda: codec.decode(data), dicm_probe)
            runs['dicm_decode'].append((t, parts))
            t, parts, mbt_out = _timed(lambda: mbt.compress(rgb), mbt_probe)
            runs['mbt_compress'].append((t, parts))
            t, parts, _ = _timed(
                lambda: mbt.decompress(mbt_out['strings'], mbt_out['shape']), mbt_probe)
            runs['mbt_decompress'].append((t, parts))

            def jpeg_encode() -> bytes:
                buf = io.BytesIO()
                photo.save(buf, format='JPEG', quality=jpeg_quality)
                return buf.getvalue()

            def jpeg_decode(b: bytes):
                img = Image.open(io.BytesIO(b))
                img.load()
                return img

            t, _, jpeg = _timed(jpeg_encode)
            runs['jpeg_encode'].append((t, {}))
            t, _, _ = _timed(lambda: jpeg_decode(jpeg))
            runs['jpeg_decode'].append((t, {}))
    finally:
        dicm_probe.close()
        mbt_probe.close()

    def summary(key: str) -> Tuple[float, Dict[str, float]]:
        # The median run (the lower one of two for an even count), warm-up dropped: its
        # stage times add up to its total, which per-stage medians would not.
        timed = sorted(runs[key][1:], key=lambda run: run[0])
        return timed[(len(timed) - 1) // 2]

    def share(parts: Dict[str, float], key: str, total: float) -> float:
        return 100.0 * parts.get(key, 0.0) / total

    pixels = size[0] * size[1]
    enc_t, enc_parts = summary('dicm_encode')
    dec_t, dec_parts = summary('dicm_decode')
    payload = len(mbt_out['strings'][0][0]) + len(mbt_out['strings'][1][0])
    dicm_bytes = len(data[0])
    dicm_payload = sum(len(s[0]) for s in codec.parse(data[0]).sections)
    enc_parts['other'] = enc_t - sum(v for k, v in enc_parts.items() if k != 'rans')
    dec_parts['other'] = dec_t - sum(v for k, v in dec_parts.items() if k != 'rans')
    dicm = dict(
        encode_s=enc_t, decode_s=dec_t,
        encode_parts_s=enc_parts, decode_parts_s=dec_parts,
        bytes=dicm_bytes, payload_bytes=dicm_payload, bpp=8.0 * dicm_bytes / pixels,
        gflops=dict(head=fl_head, re=fl_re, g_a=fl_ga, h_a=fl_ha, h_s=fl_hs, g_s=fl_gs,
                    encoder=fl_ga + fl_ha + fl_hs, edge=fl_head + fl_re + fl_ga + fl_ha + fl_hs,
                    decoder=fl_decode),
        entropy_share_encode_pct=share(enc_parts, 'entropy', enc_t),
        entropy_share_decode_pct=share(dec_parts, 'entropy', dec_t),
        rans_share_encode_pct=share(enc_parts, 'rans', enc_t),
        rans_share_decode_pct=share(dec_parts, 'rans', dec_t),
        entropy_share_codec_encode_pct=share(enc_parts, 'entropy',
                                             enc_t - enc_parts.get('head', 0.0)),
    )
    c_t, c_parts = summary('mbt_compress')
    d_t, d_parts = summary('mbt_decompress')
    c_parts['other'] = c_t - sum(v for k, v in c_parts.items() if k != 'rans')
    d_parts['other'] = d_t - sum(v for k, v in d_parts.items() if k != 'rans')
    mbt_res = dict(
        compress_s=c_t, decompress_s=d_t, compress_parts_s=c_parts, decompress_parts_s=d_parts,
        bytes=payload, bpp=8.0 * payload / pixels,
        gflops=dict(compress=fl_mbt_compress, g_s=fl_mbt_gs, decompress=fl_mbt_decompress),
        entropy_share_compress_pct=share(c_parts, 'entropy', c_t),
        entropy_share_decompress_pct=share(d_parts, 'entropy', d_t),
    )
    je_t, _ = summary('jpeg_encode')
    jd_t, _ = summary('jpeg_decode')
    jpeg_res = dict(encode_s=je_t, decode_s=jd_t, bytes=len(jpeg), bpp=8.0 * len(jpeg) / pixels)

    metrics = dict(dicm_decoder_gflops=fl_decode, decode_time_ratio=dec_t / d_t,
                   rans_share_encode_pct=dicm['rans_share_encode_pct'],
                   rans_share_decode_pct=dicm['rans_share_decode_pct'])
    targets = []
    for key, desc, limit, at in BENCHMARK_TARGETS:
        if at is not None and tuple(at) != tuple(size):
            continue
        targets.append(dict(key=key, description=desc, value=metrics[key], target=limit,
                            passed=bool(metrics[key] <= limit)))
    return dict(size=list(size), padded_size=list(padded), dicm=dicm, mbt2018_mean=mbt_res,
                jpeg=jpeg_res, targets=targets)


def run_benchmark(sizes: Sequence[Union[str, Tuple[int, int]]] = ((512, 512), (800, 1344)),
                  repeats: int = 3,
                  threads: Optional[int] = None,
                  codec_cfg: Optional[Dict[str, Any]] = None,
                  head: Union[str, nn.Module] = 'resnet50',
                  mbt_quality: int = 3,
                  jpeg_quality: int = 75,
                  image: str = 'astronaut',
                  seed: int = 0) -> Dict[str, Any]:
    """Measure DICM, mbt2018-mean and JPEG side by side at each size.

    Args:
        sizes (Sequence): Image sizes, ``(H, W)`` or ``'HxW'``. Defaults to 512x512 and
            800x1344 (mmdet's test scale); DICM and mbt2018-mean code them zero-padded to
            multiples of 64.
        repeats (int): Timed runs after one warm-up; the median run is reported. Defaults to 3.
        threads (int, optional): ``torch.set_num_threads`` for the run (restored afterwards).
            Defaults to None (leave torch's setting).
        codec_cfg (dict, optional): :class:`~mmdicm.codec.DICMFeatureCodec` arguments.
            Defaults to None (the released defaults).
        head (str | nn.Module): torchvision ResNet name for :func:`build_resnet_head`, or a
            module mapping (1, 3, H, W) images to f1; its channels must match the codec's
            ``in_channels``. Defaults to ``'resnet50'``.
        mbt_quality (int): Quality of CompressAI's ``mbt2018_mean`` (random weights; 1-4 share
            the N=128/M=192 architecture, 5-8 the larger one). Defaults to 3.
        jpeg_quality (int): Pillow JPEG quality. Defaults to 75.
        image (str): ``skimage.data`` photo resized to each size. Defaults to ``'astronaut'``.
        seed (int): Seed for the random weights. Defaults to 0.

    Returns:
        dict: ``env`` (versions, threads, CPU, load averages) and ``sizes``: one result per
        ``'HxW'`` with ``dicm``, ``mbt2018_mean``, ``jpeg`` and ``targets`` (see
        :func:`format_benchmark`). Times in seconds.
    """
    import compressai
    from compressai.zoo import mbt2018_mean

    sizes = [parse_size(s) if isinstance(s, str) else tuple(int(v) for v in s) for s in sizes]
    if not sizes:
        raise ValueError('sizes must name at least one size')
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f'repeats must be an int >= 1, got {repeats!r}')
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f'threads must be an int >= 1 or None, got {threads!r}')
    if not isinstance(head, (str, nn.Module)):
        raise TypeError(f'head must be a torchvision ResNet name or an nn.Module, got {head!r}')

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        head_module = build_resnet_head(head) if isinstance(head, str) else head.eval()
        torch.manual_seed(seed)
        codec = DICMFeatureCodec(**(codec_cfg or {})).eval()
        codec.update(force=True)
        torch.manual_seed(seed)
        mbt = mbt2018_mean(quality=mbt_quality, pretrained=False).eval()
        mbt.update(force=True)
        env = dict(torch=torch.__version__, compressai=compressai.__version__,
                   threads=torch.get_num_threads(), cpu=cpu_model(), repeats=repeats,
                   seed=seed, image=image, mbt_quality=mbt_quality, jpeg_quality=jpeg_quality,
                   head=head if isinstance(head, str) else type(head).__name__,
                   load_before=_load_average())
        results = {}
        for size in sizes:
            results[f'{size[0]}x{size[1]}'] = _benchmark_size(
                size, head_module, codec, mbt, repeats, image, jpeg_quality)
        env['load_after'] = _load_average()
    finally:
        torch.set_num_threads(old_threads)
    return dict(env=env, sizes=results)


# ---------------------------------------------------------------------------------- report
def format_benchmark(result: Dict[str, Any]) -> str:
    """Render :func:`run_benchmark`'s result as the printed tables."""
    env = result['env']
    lines = [
        'DICM codec benchmark (random weights: times and GFLOPs are the architectures\', '
        'byte counts are not trained models\')',
        f'CPU: {env["cpu"]}   torch threads: {env["threads"]}   torch {env["torch"]}   '
        f'compressai {env["compressai"]}',
        f'repeats: {env["repeats"]} (+1 warm-up, median)   image: skimage {env["image"]}   '
        f'head: {env["head"]}   mbt2018-mean quality {env["mbt_quality"]}   '
        f'JPEG quality {env["jpeg_quality"]}',
        f'load average (1/5/15 min) before: {env["load_before"]}   '
        f'after: {env.get("load_after")}',
        'GFLOPs: FlopCounterMode (convs/matmuls, 2 per MAC; FFTs and element-wise ops '
        'not counted). entropy = CompressAI entropy-model compress/decompress; rans = the rANS '
        'coder calls inside them.',
    ]
    row = '{:<48} {:>9} {:>7} {:>8} {:>7} {:>8}'

    def ms(v: float) -> str:
        return f'{1e3 * v:.1f}'

    for name, res in result['sizes'].items():
        d, m, j = res['dicm'], res['mbt2018_mean'], res['jpeg']
        ph, pw = res['padded_size']
        ep, dp, g = d['encode_parts_s'], d['decode_parts_s'], d['gflops']
        mc, md = m['compress_parts_s'], m['decompress_parts_s']
        lines += ['', f'== {name}  (DICM and mbt2018-mean code it zero-padded to {ph}x{pw}) ==',
                  row.format('', 'time ms', 'share', 'bytes', 'bpp', 'GFLOPs')]

        def total(label: str, seconds: float, nbytes: Any = '', bpp: Optional[float] = None,
                  gflops: Optional[float] = None) -> str:
            return row.format(label, ms(seconds), '', nbytes,
                              '' if bpp is None else f'{bpp:.3f}',
                              '' if gflops is None else f'{gflops:.2f}')

        def part(label: str, parts: Dict[str, float], key: str, seconds: float,
                 gflops: Optional[float] = None) -> str:
            value = parts.get(key, 0.0)
            return row.format(f'  {label}', ms(value), f'{100 * value / seconds:.1f}%', '', '',
                              '' if gflops is None else f'{gflops:.2f}')

        lines += [
            total('DICM edge: image -> bytes', d['encode_s'], d['bytes'], d['bpp'], g['edge']),
            part('head (ResNet stem + layer1)', ep, 'head', d['encode_s'], g['head']),
            part('RE (encoder_RE, Q, decoder_RE)', ep, 're', d['encode_s'], g['re']),
            part('g_a', ep, 'g_a', d['encode_s'], g['g_a']),
            part('h_a', ep, 'h_a', d['encode_s'], g['h_a']),
            part('h_s (float64)', ep, 'h_s', d['encode_s'], g['h_s']),
            part('entropy (EB+GC compress, EB decompress)', ep, 'entropy', d['encode_s']),
            part('  of which rANS coder calls', ep, 'rans', d['encode_s']),
            part('other (container, glue)', ep, 'other', d['encode_s']),
            total('DICM receiver: bytes -> f3', d['decode_s'], gflops=g['decoder']),
            part('entropy (EB+GC decompress)', dp, 'entropy', d['decode_s']),
            part('  of which rANS coder calls', dp, 'rans', d['decode_s']),
            part('h_s (float64)', dp, 'h_s', d['decode_s'], g['h_s']),
            part('g_s', dp, 'g_s', d['decode_s'], g['g_s']),
            part('other (container parse, glue)', dp, 'other', d['decode_s']),
            total('mbt2018-mean compress', m['compress_s'], m['bytes'], m['bpp'],
                  m['gflops']['compress']),
            part('entropy (EB+GC compress, EB decompress)', mc, 'entropy', m['compress_s']),
            total('mbt2018-mean decompress', m['decompress_s'],
                  gflops=m['gflops']['decompress']),
            part('entropy (EB+GC decompress)', md, 'entropy', m['decompress_s']),
            part('h_s', md, 'h_s', m['decompress_s']),
            part('g_s', md, 'g_s', m['decompress_s'], m['gflops']['g_s']),
            total(f'JPEG q{env["jpeg_quality"]} encode (Pillow)', j['encode_s'], j['bytes'],
                  j['bpp']),
            total(f'JPEG q{env["jpeg_quality"]} decode (Pillow)', j['decode_s']),
            f'DICM container {d["bytes"]} B = payload {d["payload_bytes"]} B + header. '
            f'Entropy share of the codec alone (head excluded): '
            f'{d["entropy_share_codec_encode_pct"]:.1f}% of encode.',
        ]
    lines += ['', 'Targets', '{:<58} {:<10} {:>9} {:>8}  {}'.format(
        'metric', 'size', 'value', 'target', 'verdict')]
    for name, res in result['sizes'].items():
        for t in res['targets']:
            lines.append('{:<58} {:<10} {:>9.3f} {:>8}  {}'.format(
                t['description'], name, t['value'], f'<= {t["target"]:g}',
                'PASS' if t['passed'] else 'MISS'))
    if not any(t['key'] == 'dicm_decoder_gflops' for r in result['sizes'].values()
               for t in r['targets']):
        lines.append('(decoder GFLOPs target is defined at 512x512, which was not measured)')
    return '\n'.join(lines)
