"""What every benchmark shares: its inputs, the machine it ran on, stage timers, thread setting."""
import contextlib
import json
import os
import platform
import time
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

__all__ = ['parse_size', 'cpu_model', 'load_average', 'photo', 'Probe', 'median_run',
           'with_other', 'check_threads', 'torch_threads', 'ms', 'print_result']

#: One timed run: its wall time and the seconds of each stage inside it.
Run = Tuple[float, Dict[str, float]]
_MISSING = object()


# ---------------------------------------------------------------------------------- inputs
def parse_size(text: str) -> Tuple[int, int]:
    """``'800x1344'`` -> ``(800, 1344)`` (height x width)."""
    try:
        h, w = (int(v) for v in str(text).lower().split('x'))
    except ValueError:
        raise ValueError(f'size must be HEIGHTxWIDTH, e.g. 800x1344, got {text!r}') from None
    if h < 1 or w < 1:
        raise ValueError(f'size must be positive, got {text!r}')
    return h, w


def photo(name: str, size: Tuple[int, int]) -> Any:
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


# ---------------------------------------------------------------------------------- machine
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


def load_average() -> Optional[Tuple[float, float, float]]:
    """The 1/5/15-minute load averages, rounded to 0.01 (None where the platform has none)."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


def check_threads(threads: Any) -> Optional[int]:
    """``threads`` as an int >= 1 or None (torch's own setting), else ValueError."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f'threads must be an int >= 1 or None, got {threads!r}')
    return threads


@contextlib.contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block (None: leave it), restored after."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ---------------------------------------------------------------------------------- timing
class Probe:
    """Accumulates the wall time spent inside hooked modules and wrapped callables.

    Every instrument is undone by :meth:`close`; :meth:`take` returns the seconds per key
    since the last call.
    """

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = defaultdict(float)
        self._undo: List[Any] = []

    def wrap(self, owner: Any, attr: str, key: str) -> None:
        """Shadow ``owner.attr`` by a timed version: an instance attribute over a method
        (removed by :meth:`close`), or in place of a module's function (put back by it)."""
        original = getattr(owner, attr)
        own = vars(owner).get(attr, _MISSING) if hasattr(owner, '__dict__') else _MISSING
        seconds = self.seconds

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[key] += time.perf_counter() - start

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, own))

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
        for em in (model.entropy_bottleneck, getattr(model, 'gaussian_conditional', None)):
            if em is None:  # a DICM network with the context-mixture model of y
                continue
            self.wrap(em, 'compress', 'entropy')
            self.wrap(em, 'decompress', 'entropy')
            self.wrap(em.entropy_coder, 'encode_with_indexes', 'rans')
            self.wrap(em.entropy_coder, 'decode_with_indexes', 'rans')

    def dicm_entropy_models(self, net: nn.Module) -> None:
        """:meth:`entropy_models` of a DICM compression network, whose strings are decoded by
        mmdicm's own rANS decoder (:func:`mmdicm.codec.rans.decode`, also ``rans``); with
        the context-mixture model of y, its mixture's tables and coder calls are ``entropy``
        (mmdicm's rANS encoder and decoder in them ``rans``)."""
        from ..codec import rans

        self.entropy_models(net)
        self.wrap(rans, 'decode', 'rans')
        if net.entropy_model != 'hyperprior':
            gm = net.context_mixture.gaussian_mixture
            for attr in ('tables', 'encode', 'decode'):
                self.wrap(gm, attr, 'entropy')
            self.wrap(rans, 'encode', 'rans')

    def dicm_hyper_decoder(self, net: nn.Module) -> None:
        """Time h_s as ``h_s`` (float64 outside training) and, with the context-mixture
        model of y, its context model and parameter network as ``context``."""
        if net.entropy_model == 'hyperprior':
            self.wrap(net, 'gaussian_params', 'h_s')
        else:
            self.wrap(net, 'hyper_features', 'h_s')
            self.hook(net.context_mixture.context_model, 'context')
            self.hook(net.context_mixture.param_net, 'context')

    def take(self) -> Dict[str, float]:
        out = dict(self.seconds)
        self.seconds.clear()
        return out

    def close(self) -> None:
        for item in reversed(self._undo):
            if not isinstance(item, tuple):
                item.remove()
            elif item[2] is _MISSING:
                delattr(item[0], item[1])
            else:
                setattr(*item)
        self._undo.clear()


def median_run(runs: List[Run]) -> Run:
    """The median run (the lower one of two for an even count): its stage times add up to its
    total, which per-stage medians would not."""
    ordered = sorted(runs, key=lambda run: run[0])
    return ordered[(len(ordered) - 1) // 2]


def with_other(total: float, parts: Dict[str, float],
               nested: Sequence[str] = ('rans', )) -> Dict[str, float]:
    """A copy of a run's stage times with ``other``: the time outside every stage (stages in
    ``nested`` lie inside another stage and are not subtracted)."""
    parts = dict(parts)
    parts['other'] = total - sum(v for k, v in parts.items() if k not in nested)
    return parts


# ---------------------------------------------------------------------------------- output
def ms(seconds: float) -> str:
    """Seconds as milliseconds with one decimal, the benchmarks' table unit."""
    return f'{1e3 * seconds:.1f}'


def print_result(text: str, result: Dict[str, Any], json_path: Optional[str] = None) -> None:
    """Print a benchmark's table; with ``json_path``, also write every number there."""
    print(text)
    if json_path:
        with open(json_path, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'\nwrote {json_path}')
