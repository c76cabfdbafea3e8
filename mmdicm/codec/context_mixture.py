"""Entropy model of y from the hyperprior *and* a Transformer context model, with real coding.

The released DICM entropy model (``moco/resnet.py``: ``cit_ar`` + ``cit_pn``): a
bidirectional masked Transformer (:class:`~mmdicm.layers.MaskedContextTransformer`) reads the
visible part of y_hat, its features and the hyper-decoder's are concatenated, and a
pointwise parameter network predicts a K-component Gaussian mixture per element
(:class:`~mmdicm.codec.mixture.GaussianMixtureConditional`).

- Training (the release's random scan): a random half of the positions is visible to the
  context model; the others get context from them, the visible ones only the hyperprior.
- Coding: a fixed two-pass checkerboard, which is what that training makes possible:
  anchors ((i + j) odd) from the hyperprior alone, then the non-anchors with context from
  the decoded anchors. One rANS string per pass and item. Outside training every network
  that decides a CDF runs in float64 and the mixture parameters are snapped to a 2**-8 grid,
  as ``h_s`` of the hyperprior model (``docs/codec.md``).
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from compressai.latent_codecs import LatentCodec
from torch.func import functional_call

from ..layers import MaskedContextTransformer
from ..utils import check_int
from .bitstream import BitstreamError
from .mixture import GaussianMixtureConditional

__all__ = ['CheckerboardMixtureCodec', 'Float64Weights', 'snap_to_grid', 'PARAM_GRID_BITS']

#: entropy parameters used for real coding are rounded to multiples of 2**-PARAM_GRID_BITS
PARAM_GRID_BITS = 8


def snap_to_grid(params: torch.Tensor) -> torch.Tensor:
    """Round to the 2**-PARAM_GRID_BITS grid (float64 noise cannot move a value across it)."""
    grid = float(2**PARAM_GRID_BITS)
    return torch.round(params * grid) / grid


class Float64Weights:
    """A module's tensors in float64, cast once per weight version: the key changes with any
    in-place update (optimizer step, load_state_dict) or replaced tensor."""

    def __init__(self) -> None:
        self._key: Any = None
        self._state: Dict[str, torch.Tensor] = {}

    def __call__(self, module: nn.Module) -> Dict[str, torch.Tensor]:
        tensors = module.state_dict(keep_vars=True)
        key = tuple((k, t.data_ptr(), t._version, t.device) for k, t in tensors.items())
        if self._key != key:
            self._key, self._state = key, {k: t.detach().double() for k, t in tensors.items()}
        return self._state

    def run(self, module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
        """``module(*args)`` with its float64 weights (args must be float64)."""
        return functional_call(module, self(module), args)

    def __deepcopy__(self, memo) -> 'Float64Weights':
        return Float64Weights()


def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """(h, w) bool: the anchors, coded first ((i + j) odd: the release's test-time scan)."""
    ii = torch.arange(h, device=device)[:, None]
    jj = torch.arange(w, device=device)[None]
    return (ii + jj) % 2 == 1


class CheckerboardMixtureCodec(LatentCodec):
    """Gaussian-mixture entropy model of y with a masked Transformer context, coded in two
    checkerboard passes: a CompressAI :class:`~compressai.latent_codecs.LatentCodec`
    (``forward(y, hyper)``, ``compress(y, hyper)``, ``decompress(strings, shape, hyper)``).

    .. code-block:: none

        hyper (D, h, w) ──────────────────────────┐
        y_hat ─ visible part ─ context model ─► ctx (D, h, w) ─ cat ─ 1x1 ─ LReLU ─ 1x1
                                                      ─► (means, log-scales, logits) x K x M

    Args:
        latent_channels (int): Channels of y (M).
        hyper_channels (int): Channels of the hyper-decoder's features (D).
        components (int): Mixture components K. Defaults to 3.
        mask_ratio (float): Fraction of positions hidden from the context model in training.
            Defaults to 0.5 (the release's ``--mask_ratio 0.5``).
        context (dict, optional): :class:`~mmdicm.layers.MaskedContextTransformer`
            arguments; ``dim`` defaults to ``hyper_channels``. Defaults to the release's
            (6 blocks, 6 heads of 64, MLP x4, top-32 attention).
        param_hidden (int, optional): Hidden width of the parameter network. Defaults to
            ``4 * hyper_channels`` (the release's ``embed_dim * mlp_ratio``).
    """

    def __init__(self, latent_channels: int, hyper_channels: int, components: int = 3,
                 mask_ratio: float = 0.5, context: Optional[Dict[str, Any]] = None,
                 param_hidden: Optional[int] = None) -> None:
        super().__init__()
        check_int('mixture_components', components)
        if not 0.0 <= float(mask_ratio) < 1.0:
            raise ValueError(f'context_mask_ratio must be in [0, 1), got {mask_ratio!r}')
        if context is not None and not isinstance(context, dict):
            raise TypeError(f'context must be a dict of MaskedContextTransformer arguments, '
                            f'got {context!r}')
        if param_hidden is not None:
            check_int('context.param_hidden', param_hidden)
        self.latent_channels, self.mask_ratio = latent_channels, float(mask_ratio)
        self.context_model = MaskedContextTransformer(
            latent_channels, **{'dim': hyper_channels, **(context or {})})
        self.gaussian_mixture = GaussianMixtureConditional(components)
        hidden = param_hidden or 4 * hyper_channels
        self.param_net = nn.Sequential(
            nn.Conv2d(hyper_channels + self.context_model.out_channels, hidden, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden, self.gaussian_mixture.param_channels(latent_channels), 1))
        for m in self.param_net:
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self._f64_context, self._f64_params = Float64Weights(), Float64Weights()

    # ------------------------------------------------------------------ estimation
    def forward(self, y: torch.Tensor, hyper: torch.Tensor) -> Dict[str, Any]:
        """``{'likelihoods': {'y': ...}, 'y_hat': ...}``. Training: y + noise, a random
        visible half (one mask per batch, as the release); otherwise: round(y) and exactly
        the coder's parameters."""
        if not self.training:
            y_hat = torch.round(y)
            params = self.coding_params(y_hat, hyper.double()).to(y.dtype)
        else:
            y_hat = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            h, w = y.shape[-2:]
            visible = torch.rand(h, w, device=y.device) >= self.mask_ratio
            ctx = self.context_model(y_hat, visible)
            params = self.param_net(torch.cat([hyper, ctx], 1))
        likelihoods = self.gaussian_mixture.likelihood(y_hat, params)
        return {'likelihoods': {'y': likelihoods}, 'y_hat': y_hat}

    # ------------------------------------------------------------------ coding parameters
    def _pass_params(self, hyper64: torch.Tensor, ctx64: Optional[torch.Tensor],
                     where: torch.Tensor) -> torch.Tensor:
        """Snapped float64 parameters (B, P*K*M, n) at the flat positions ``where``."""
        if ctx64 is None:
            ctx64 = hyper64.new_zeros(hyper64.size(0), self.context_model.out_channels,
                                      *hyper64.shape[-2:])
        x = torch.cat([hyper64, ctx64], 1).flatten(2)[:, :, where].unsqueeze(2)
        return snap_to_grid(self._f64_params.run(self.param_net, x)).squeeze(2)

    def _context64(self, y_hat: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        return self._f64_context.run(self.context_model, y_hat.double(), anchors)

    def coding_params(self, y_hat: torch.Tensor, hyper64: torch.Tensor) -> torch.Tensor:
        """(B, P*K*M, h, w) float64: the parameters both coding passes use (the non-anchors'
        from the anchors of ``y_hat`` only)."""
        h, w = y_hat.shape[-2:]
        anchors = anchor_mask(h, w, y_hat.device)
        a_idx, n_idx = self._positions(anchors)
        out = hyper64.new_empty(y_hat.size(0), self.param_net[-1].out_channels, h * w)
        out[:, :, a_idx] = self._pass_params(hyper64, None, a_idx)
        out[:, :, n_idx] = self._pass_params(hyper64, self._context64(y_hat, anchors), n_idx)
        return out.view(*out.shape[:2], h, w)

    @staticmethod
    def _positions(anchors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        flat = anchors.reshape(-1)
        return torch.nonzero(flat).squeeze(1), torch.nonzero(~flat).squeeze(1)

    def _tables(self, params: torch.Tensor) -> Dict[str, np.ndarray]:
        """Tables of one item's symbols from its (P*K*M, n) parameters; symbol order:
        channel by channel, positions in raster order."""
        gm = self.gaussian_mixture
        rows = params.reshape(gm.num_params, gm.components, self.latent_channels, -1)
        return gm.tables(rows.permute(2, 3, 0, 1).reshape(-1, gm.num_params, gm.components)
                         .cpu().numpy())

    # ------------------------------------------------------------------ real coding
    @torch.no_grad()
    def compress(self, y: torch.Tensor, hyper64: torch.Tensor) -> Dict[str, Any]:
        """``{'strings': [anchor strings, non-anchor strings], 'shape', 'y_hat'}``: one
        string per item and pass."""
        bad = ~torch.isfinite(y)
        if bool(bad.any()):
            raise ValueError(f'y latent has {int(bad.sum())} non-finite values (NaN/Inf): the '
                             'input or the model is broken; refusing to entropy-code it')
        y_hat = torch.round(y)
        params = self.coding_params(y_hat, hyper64).flatten(2)
        symbols = y_hat.double().clamp(-2.0**40, 2.0**40).long().flatten(2).cpu()
        strings: List[List[bytes]] = [[], []]
        for k, where in enumerate(self._positions(anchor_mask(*y.shape[-2:], y.device))):
            for b in range(y.size(0)):
                tables = self._tables(params[b][:, where])
                strings[k].append(self.gaussian_mixture.encode(
                    symbols[b][:, where.cpu()].reshape(-1).numpy(), tables, 'y latent'))
        return {'strings': strings, 'shape': tuple(y.shape[-2:]), 'y_hat': y_hat}

    @torch.no_grad()
    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int],
                   hyper64: torch.Tensor) -> Dict[str, Any]:
        """``{'y_hat'}`` from ``[anchor strings, non-anchor strings]`` (raises
        BitstreamError for any string that is not exactly what :meth:`compress` wrote)."""
        n_items, (h, w) = hyper64.size(0), hyper64.shape[-2:]
        if tuple(shape) != (h, w):
            raise ValueError(f'y shape {tuple(shape)} does not match the hyper features\' '
                             f'{(h, w)}')
        if len(strings) != 2 or any(len(s) != n_items for s in strings):
            raise ValueError(f'expected [anchor strings, non-anchor strings] of {n_items} '
                             'items each')
        anchors = anchor_mask(h, w, hyper64.device)
        y_hat = hyper64.new_zeros(n_items, self.latent_channels, h * w, dtype=torch.float32)
        ctx = None
        for k, where in enumerate(self._positions(anchors)):
            if k == 1:
                ctx = self._context64(y_hat.view(n_items, -1, h, w), anchors)
            params = self._pass_params(hyper64, ctx, where)
            what = ('y anchor string', 'y non-anchor string')[k]
            for b in range(n_items):
                data = strings[k][b]
                label = what if n_items == 1 else f'{what} {b}'
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise BitstreamError(f'{label}: expected bytes, got {type(data).__name__}')
                try:
                    tables = self._tables(params[b])
                except ValueError as e:  # parameters from a z string no encoder wrote
                    raise BitstreamError(f'{label}: {e}') from None
                values = self.gaussian_mixture.decode(bytes(data), tables, label)
                y_hat[b][:, where] = torch.from_numpy(values).float().view(
                    self.latent_channels, -1).to(y_hat.device)
        return {'y_hat': y_hat.view(n_items, -1, h, w)}
