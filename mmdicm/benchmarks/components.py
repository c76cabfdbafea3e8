"""Parameters and GFLOPs of every block of DICM, one row each (``docs/components.md``)::

    image ─ head ─► f1 ─ RE encoder ─ RE bottleneck ─ RE decoder ─► f2 ─ g_a ─► y ─ h_a ─► z
    z ─ z bottleneck ─ h_s ─┬─ hyperprior:      Gaussian conditional (scales, means)
                            └─ context_mixture: context model ─ parameter network ─ mixture
    y_hat ─ g_s ─► f3 ─ tail (layer2-4)

The real mmdicm modules inside a :class:`~mmdicm.models.DICMResNet` (depth 50, split after
layer1, released widths unless ``codec_cfg`` says otherwise), random weights, eval mode, batch
1, one forward per block along the deployed path (what ``encode`` / ``decode`` run; h_s and
the context model run in float64 there, counted the same). FLOPs as
:class:`torch.utils.flop_counter.FlopCounterMode` counts them (2 per multiply-accumulate of
convolutions and matrix products), as :mod:`.codec` does, plus the attention products of
CPU SDPA, which its registry misses (timm's ViT blocks run it). Not counted: FFTs,
normalisations, activations, element-wise ops and the rANS coder (tables are NumPy).
``tools/benchmark_components.py`` prints it.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..codec.compression_net import ENTROPY_MODELS
from ..codec.context_mixture import anchor_mask
from .utils import cpu_model, parse_size, torch_threads

__all__ = ['COMPONENT_ROWS', 'build_component_model', 'component_table',
           'format_component_table']

#: (key, block, mmdicm module, where it runs), in data-flow order. 'edge': image -> bytes;
#: 'receiver': bytes -> f3; 'tail': f3 -> layer4 on the receiver. Rows of one entropy model
#: only are skipped for the other.
COMPONENT_ROWS: Tuple[Tuple[str, str, str, Tuple[str, ...]], ...] = (
    ('head', 'stem + layer1 (head)', 'DICMResNet conv1/norm1/layer1', ('edge', )),
    ('re_encoder', 'RE encoder', 'REModule.encoder', ('edge', )),
    ('re_entropy', 'RE entropy bottleneck', 'REModule.entropy_bottleneck', ('edge', )),
    ('re_decoder', 'RE decoder', 'REModule.decoder', ('edge', )),
    ('g_a', 'g_a', 'DICMCompressionNet.g_a', ('edge', )),
    ('h_a', 'h_a', 'DICMCompressionNet.h_a', ('edge', )),
    ('z_entropy', 'z entropy bottleneck', 'DICMCompressionNet.entropy_bottleneck',
     ('edge', 'receiver')),
    ('h_s', 'h_s', 'DICMCompressionNet.h_s', ('edge', 'receiver')),
    ('context', 'context model', 'CheckerboardMixtureCodec.context_model',
     ('edge', 'receiver')),
    ('param_net', 'parameter network', 'CheckerboardMixtureCodec.param_net',
     ('edge', 'receiver')),
    ('y_entropy', 'Gaussian conditional / mixture', 'gaussian_conditional | gaussian_mixture',
     ('edge', 'receiver')),
    ('g_s', 'g_s', 'DICMCompressionNet.g_s', ('receiver', )),
    ('tail', 'tail (layer2-4)', 'DICMResNet layer2/layer3/layer4', ('tail', )),
)
#: totals: name -> the 'runs on' tags it sums
_TOTALS = (('edge', ('edge', ), 'edge (image -> bytes)'),
           ('receiver', ('receiver', ), 'receiver (bytes -> f3)'),
           ('receiver_tail', ('receiver', 'tail'), 'receiver + tail (bytes -> layer4)'))


def _sdpa_cpu_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


#: FlopCounterMode has no formula for the CPU SDPA kernel: its attention products count 0
_EXTRA_FORMULAS = {
    op: _sdpa_cpu_flop
    for op in (getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None), )
    if op is not None
}


def _gflops(fn: Callable[[], Any]) -> Tuple[float, Any]:
    with FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        out = fn()
    return counter.get_total_flops() / 1e9, out


def _params(modules: Sequence[nn.Module]) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def build_component_model(entropy_model: str = 'hyperprior',
                          codec_cfg: Optional[Dict[str, Any]] = None) -> nn.Module:
    """A DICMResNet-50 (split after layer1) with the codec at the released widths (or
    ``codec_cfg``) and ``entropy_model``, random weights, eval mode, tables updated."""
    from ..models import DICMResNet

    if entropy_model not in ENTROPY_MODELS:
        raise ValueError(f'entropy_model must be one of {ENTROPY_MODELS}, got '
                         f'{entropy_model!r}')
    cfg = dict(codec_cfg or {})
    cfg['net'] = {**cfg.get('net', {}), 'entropy_model': entropy_model}
    model = DICMResNet(depth=50, out_indices=(0, 1, 2, 3), codec=cfg).eval()
    model.update(force=True)
    return model


def _modules(model: nn.Module) -> Dict[str, List[nn.Module]]:
    """The modules whose parameters each row owns."""
    codec = model.codec
    re, net = codec.re, codec.net
    mixture = net.entropy_model != 'hyperprior'
    cm = net.context_mixture if mixture else None
    return dict(
        head=model.part_modules('head'), re_encoder=[re.encoder],
        re_entropy=[re.entropy_bottleneck], re_decoder=[re.decoder], g_a=[net.g_a],
        h_a=[net.h_a], z_entropy=[net.entropy_bottleneck], h_s=[net.h_s],
        context=[cm.context_model] if mixture else [],
        param_net=[cm.param_net] if mixture else [],
        y_entropy=[cm.gaussian_mixture if mixture else net.gaussian_conditional],
        g_s=[net.g_s], tail=model.part_modules('tail'))


def _quantise(bottleneck: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return bottleneck.quantize(x, 'dequantize', bottleneck._get_medians())


def _run_blocks(model: nn.Module, image: torch.Tensor) -> Dict[str, float]:
    """GFLOPs of each row along the deployed path, one forward each."""
    codec = model.codec
    re, net = codec.re, codec.net
    fl: Dict[str, float] = {}
    fl['head'], f1 = _gflops(lambda: model.forward_head(image))
    x = codec._layout(f1)
    fl['re_encoder'], latent = _gflops(lambda: re.encoder(x))
    fl['re_entropy'], latent_hat = _gflops(lambda: _quantise(re.entropy_bottleneck, latent))
    fl['re_decoder'], f2 = _gflops(lambda: re.decoder(latent_hat))
    fl['g_a'], y = _gflops(lambda: net.g_a(f2))
    fl['h_a'], z = _gflops(lambda: net.h_a(y))
    fl['z_entropy'], z_hat = _gflops(lambda: _quantise(net.entropy_bottleneck, z))
    if net.entropy_model == 'hyperprior':
        fl['h_s'], (_, means) = _gflops(lambda: net.gaussian_params(z_hat))
        fl['y_entropy'], y_hat = _gflops(
            lambda: net.gaussian_conditional.quantize(y, 'dequantize', means))
    else:
        cm = net.context_mixture
        fl['h_s'], hyper = _gflops(lambda: net.hyper_features(z_hat))
        fl['y_entropy'], y_hat = _gflops(lambda: torch.round(y))
        anchors = anchor_mask(*y.shape[-2:], y.device)
        fl['context'], ctx = _gflops(lambda: cm.context_model(y_hat, anchors))
        # coding runs it on the anchors, then on the non-anchors: one full map of 1x1 convs
        fl['param_net'], _ = _gflops(lambda: cm.param_net(torch.cat([hyper.float(), ctx], 1)))
    fl['g_s'], f3 = _gflops(lambda: net.g_s(y_hat))
    fl['tail'], _ = _gflops(lambda: model.forward_tail(f3, tuple(image.shape[-2:])))
    return fl


def component_table(size: Union[str, Tuple[int, int]] = (512, 512),
                    entropy_model: str = 'hyperprior',
                    codec_cfg: Optional[Dict[str, Any]] = None,
                    model: Optional[nn.Module] = None,
                    threads: Optional[int] = 1,
                    seed: int = 0) -> Dict[str, Any]:
    """Parameters and GFLOPs of each block of DICM at an image of ``size``.

    Args:
        size (str | tuple): Image size ``(H, W)`` or ``'HxW'``, a multiple of 64.
            Defaults to 512x512.
        entropy_model (str): ``'hyperprior'`` or ``'context_mixture'``. Defaults to
            ``'hyperprior'``.
        codec_cfg (dict, optional): :class:`~mmdicm.codec.DICMFeatureCodec` arguments.
            Defaults to the released widths.
        model (nn.Module, optional): A model from :func:`build_component_model` to reuse
            (``entropy_model`` and ``codec_cfg`` are then its own). Defaults to None.
        threads (int, optional): ``torch.set_num_threads`` for the run. Defaults to 1.
        seed (int): Seed of the weights and of the image. Defaults to 0.

    Returns:
        dict: ``env``; ``rows`` (``key``, ``block``, ``mmdicm``, ``runs_on``, ``params``,
        ``gflops``); ``totals`` (``edge``, ``receiver``, ``receiver_tail``: ``params``,
        ``gflops``); ``total_params`` (every parameter of the model).
    """
    h, w = parse_size(size) if isinstance(size, str) else tuple(int(v) for v in size)
    if h % 64 or w % 64:
        raise ValueError(f'size must be a multiple of 64 (the codec\'s total stride), got '
                         f'{h}x{w}')
    with torch_threads(threads), torch.no_grad():
        torch.manual_seed(seed)
        if model is None:
            model = build_component_model(entropy_model, codec_cfg)
        entropy_model = model.codec.net.entropy_model
        image = torch.randn(1, 3, h, w)
        flops = _run_blocks(model, image)
    owners = _modules(model)
    rows = [dict(key=key, block=block, mmdicm=where, runs_on=list(runs_on),
                 params=_params(owners[key]), gflops=flops[key])
            for key, block, where, runs_on in COMPONENT_ROWS
            if key in flops]
    totals = {}
    for name, tags, _ in _TOTALS:
        chosen = [r for r in rows if set(r['runs_on']) & set(tags)]
        totals[name] = dict(params=sum(r['params'] for r in chosen),
                            gflops=sum(r['gflops'] for r in chosen))
    env = dict(torch=torch.__version__, cpu=cpu_model(), size=[h, w],
               entropy_model=entropy_model, codec_cfg=codec_cfg or {}, seed=seed)
    return dict(env=env, rows=rows, totals=totals,
                total_params=sum(p.numel() for p in model.parameters()))


def format_component_table(result: Dict[str, Any]) -> str:
    """Render :func:`component_table`'s result as a table."""
    env = result['env']
    row = '{:<32} {:<42} {:>10} {:>8}  {}'
    lines = [f'DICM components, ResNet-50 split after layer1, {env["size"][0]}x{env["size"][1]} '
             f'image, entropy_model={env["entropy_model"]}'
             + (f', codec {env["codec_cfg"]}' if env['codec_cfg'] else ''),
             row.format('block', 'mmdicm', 'params', 'GFLOPs', 'runs on'),
             row.format(*('-' * n for n in (32, 42, 10, 8)), '-------')]
    for r in result['rows']:
        lines.append(row.format(r['block'], r['mmdicm'], f'{r["params"]:,}',
                                f'{r["gflops"]:.3f}', ' + '.join(r['runs_on'])))
    lines.append('')
    total = '{:<75} {:>10} {:>8}'
    for name, _, label in _TOTALS:
        t = result['totals'][name]
        lines.append(total.format(f'total: {label}', f'{t["params"]:,}', f'{t["gflops"]:.3f}'))
    lines.append(total.format('every parameter of the model', f'{result["total_params"]:,}', ''))
    return '\n'.join(lines)
