"""Gaussian-mixture entropy model of y, entropy-coded with one rANS table per symbol.

Each element of y gets K Gaussians ``(mean, scale, weight)`` (the release's
``DiscretizedMixGaussLoss``; CompressAI's ``GaussianMixtureConditional`` computes the same
likelihoods). CompressAI's mixture coder builds its tables in float32 under one global range
and converts them to Python lists (~2.2 s per 512x512 encode or decode, measured); here each
symbol's table covers only its own support, is built in float64 by single-threaded NumPy /
SciPy code (identical on every torch thread count), and is decoded by mmdicm's
bounds-checked decoder from one flat array. Why and how: ``docs/codec.md``.
"""
import math
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn as nn
from compressai.ops import LowerBound

from . import rans
from .entropy import check_bypass

__all__ = ['GaussianMixtureConditional', 'SCALE_MIN', 'SCALE_MAX', 'MAX_SUPPORT']

#: scales are bounded below as CompressAI's Gaussian models bound them, and above by its
#: largest scale-table entry
SCALE_MIN, SCALE_MAX = 0.11, 256.0
#: a symbol's table covers every component's mean +- TAIL scales (mass outside: ~2e-9 each)
TAIL = 6.0
#: at most this many values per table; the rest goes through the escape symbol (bypass)
MAX_SUPPORT = 256
#: means are clipped to +-MEAN_MAX for coding (table offsets stay far inside int32)
MEAN_MAX = float(1 << 24)
_PRECISION = 16
_ENTRIES_PER_CHUNK = 1 << 20


def _width_class(length: np.ndarray) -> np.ndarray:
    """Tables are built in groups of equal padded width: multiples of 8 up to 64, then
    powers of two (little padding where most tables are)."""
    pow2 = np.left_shift(1, np.ceil(np.log2(np.maximum(length, 1))).astype(np.int64))
    return np.where(length <= 64, -(-length // 8) * 8, pow2)


def _quantised_cdfs(lo, length, mu, sigma, w, width: int) -> np.ndarray:
    """(n, width + 2) CDFs in CompressAI's table format: ``length`` values from ``lo``, then
    the escape symbol; every frequency >= 1, total 2**16; columns past a row's
    ``length + 2`` are padding."""
    from scipy.special import ndtr  # only the coder needs SciPy (not `import mmdicm`)
    edges = lo[:, None] - 0.5 + np.arange(width + 1)
    cdf = np.zeros_like(edges)
    for k in range(mu.shape[1]):
        cdf += w[:, k:k + 1] * ndtr((edges - mu[:, k:k + 1]) / sigma[:, k:k + 1])
    rows = np.arange(len(lo))
    inside = cdf[rows, length] - cdf[:, 0]
    tail = np.clip(1.0 - inside, 0.0, 1.0)
    budget = ((1 << _PRECISION) - (length + 1)).astype(np.float64)[:, None]
    scaled = np.full((len(lo), width + 1), -1.0)  # -1: padding, never gets a unit
    valid = np.arange(width) < length[:, None]
    scaled[:, :width] = np.where(valid, np.diff(cdf, axis=1) * budget, -1.0)
    scaled[rows, length] = tail * budget[:, 0]
    # every bin >= 1 and rounded; the (small) rounding rest goes to the most probable bin,
    # which is the largest (>= 2**16 / (length + 1)), so its cost hardly changes
    freq = np.where(scaled >= 0, np.floor(scaled + 0.5) + 1, 0).astype(np.int64)
    freq[rows, freq.argmax(1)] += (1 << _PRECISION) - freq.sum(1)
    return np.concatenate([np.zeros((len(lo), 1), np.int64), np.cumsum(freq, 1)], 1)


def build_tables(means: np.ndarray, scales: np.ndarray,
                 weights: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-symbol rANS tables of discretised Gaussian mixtures.

    Args:
        means, scales, weights (ndarray): float64 (n, K), one row per symbol in coding
            order; scales already bounded, weights summing to 1.

    Returns:
        dict: ``cdfs`` (flat int32), ``starts`` (int64), ``sizes`` and ``offsets`` (int32),
        one table per symbol, as :func:`mmdicm.codec.rans.decode` takes them.
    """
    lo = np.floor((means - TAIL * scales).min(1))
    hi = np.ceil((means + TAIL * scales).max(1))
    wide = hi - lo + 1 > MAX_SUPPORT
    centre = np.round((weights * means).sum(1))
    lo = np.where(wide, centre - MAX_SUPPORT // 2, lo)
    length = np.where(wide, MAX_SUPPORT, hi - lo + 1).astype(np.int64)
    sizes = length + 2
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    flat = np.empty(int(sizes.sum()), dtype=np.int32)
    classes = _width_class(length)
    for width in np.unique(classes):
        rows = np.flatnonzero(classes == width)
        # ~2**20 table entries per chunk: each float64 temporary stays ~8 MB
        for part in np.array_split(rows, max(1, len(rows) * int(width) // _ENTRIES_PER_CHUNK)):
            cdf = _quantised_cdfs(lo[part], length[part], means[part], scales[part],
                                  weights[part], int(width))
            cols = np.arange(int(width) + 2)
            keep = cols < sizes[part, None]
            flat[(starts[part, None] + cols)[keep]] = cdf[keep]
    return dict(cdfs=flat, starts=starts, sizes=sizes.astype(np.int32),
                offsets=lo.astype(np.int32))


class GaussianMixtureConditional(nn.Module):
    """Discretised Gaussian-mixture entropy model of a latent, parameters given per element.

    ``params`` has ``num_params * K * C`` channels laid out ``[param][component][channel]``:
    means, log-scales and (K > 1) mixture logits. Scales are ``exp(log_scale)`` bounded to
    ``[0.11, 256]``; weights are the softmax of the logits (K = 1: weight 1, two parameters,
    the release's ``--num_parameter 2``). Quantisation is plain rounding (a mixture has no
    single mean to quantise around); noise in training.

    Args:
        components (int): K. Defaults to 3.
        likelihood_bound (float): Lower bound of the likelihoods. Defaults to 1e-9.
    """

    def __init__(self, components: int = 3, likelihood_bound: float = 1e-9) -> None:
        super().__init__()
        self.components = int(components)
        self.num_params = 2 if self.components == 1 else 3
        self.lower_bound_scale = LowerBound(SCALE_MIN)
        self.likelihood_lower_bound = LowerBound(likelihood_bound)

    def param_channels(self, channels: int) -> int:
        """Channels of ``params`` for a latent of ``channels`` channels."""
        return self.num_params * self.components * channels

    def split(self, params: torch.Tensor, channels: int
              ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(means, scales, weights)``, each (B, K, C, ...)."""
        p = params.reshape(params.size(0), self.num_params, self.components, channels,
                           *params.shape[2:])
        scales = self.lower_bound_scale(torch.exp(p[:, 1].clamp(max=math.log(SCALE_MAX))))
        weights = torch.softmax(p[:, 2], dim=1) if self.num_params == 3 else torch.ones_like(
            p[:, 0])
        return p[:, 0], scales, weights

    def likelihood(self, y_hat: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """P(y_hat) per element, as CompressAI's mixture model computes it."""
        means, scales, weights = self.split(params, y_hat.size(1))
        values = (y_hat.unsqueeze(1) - means).abs()
        half = 0.5
        upper = 0.5 * torch.erfc(-(2**-0.5) * (half - values) / scales)
        lower = 0.5 * torch.erfc(-(2**-0.5) * (-half - values) / scales)
        return self.likelihood_lower_bound((weights * (upper - lower)).sum(1))

    def forward(self, y: torch.Tensor, params: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(y_hat, likelihoods)``: y with uniform noise in training, rounded otherwise."""
        if self.training:
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        else:
            y_hat = torch.round(y)
        return y_hat, self.likelihood(y_hat, params)

    # ------------------------------------------------------------------ real coding
    def tables(self, params: np.ndarray) -> Dict[str, np.ndarray]:
        """Tables of the symbols whose parameters are the rows of ``params`` (float64
        (n, num_params, K), in coding order). Single-threaded NumPy/SciPy, so the same
        parameters give the same tables in every process."""
        params = np.asarray(params, dtype=np.float64)
        if not np.isfinite(params).all():
            raise ValueError(f'{int((~np.isfinite(params)).sum())} mixture parameters are not '
                             'finite: the model (or, decoding, the z string) is broken')
        params = params.copy()
        # means far out (only a crafted z or a broken model gives them) are clipped, so every
        # table offset fits in int32; values beyond go through the escape symbol
        params[:, 0] = np.clip(params[:, 0], -MEAN_MAX, MEAN_MAX)
        scales = np.clip(np.exp(np.minimum(params[:, 1], math.log(SCALE_MAX))), SCALE_MIN,
                         None)
        if self.num_params == 3:
            logits = params[:, 2] - params[:, 2].max(1, keepdims=True)
            weights = np.exp(logits)
            weights /= weights.sum(1, keepdims=True)
        else:
            weights = np.ones_like(params[:, 0])
        return build_tables(params[:, 0], scales, weights)

    @staticmethod
    def encode(symbols: np.ndarray, tables: Dict[str, np.ndarray], what: str) -> bytes:
        """One rANS string of int ``symbols`` (CompressAI's format, :func:`rans.encode`)."""
        symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
        check_bypass(torch.from_numpy(symbols - tables['offsets'])[None],
                     torch.from_numpy(tables['sizes'].astype(np.int64) - 2)[None], what,
                     buffer_bound=not rans.HAVE_EXTENSION)
        return rans.encode(symbols, np.arange(len(symbols), dtype=np.int32), tables['cdfs'],
                           tables['sizes'], tables['offsets'], starts=tables['starts'])

    @staticmethod
    def decode(data: bytes, tables: Dict[str, np.ndarray], what: str) -> np.ndarray:
        """int32 symbols of one string (raises BitstreamError if it is not exactly what
        :meth:`encode` wrote for these tables)."""
        n = len(tables['sizes'])
        return rans.decode(data, np.arange(n, dtype=np.int32), tables['cdfs'],
                           tables['sizes'], tables['offsets'], what=what,
                           starts=tables['starts'])
