"""A bidirectional masked Transformer context model for a quantised latent, and the same
Transformer blocks with every position visible (the released hyper-coder's blocks).

After Qian et al., "Entroformer: A Transformer-based Entropy Model for Learned Image
Compression", ICLR 2022 (https://arxiv.org/abs/2202.05492), as DICM's released code uses it
(``TransDecoder2`` with ``--na bidirectional``): every position attends only to *visible*
positions (and itself), with a 2-D relative position term that is the product of the query
and a learned embedding of the offset ("contextual" relative position), and top-k attention.
Its output at visible positions is zero: they are predicted from the hyperprior alone.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import check_int

__all__ = ['MaskedContextTransformer', 'RelPosTransformer', 'relative_buckets']


class _Layout:
    """Where the tokens of an (h, w) map are: bucket of every (query, key) offset and which
    keys a query may see, built a chunk of query rows at a time (an (n, n) table would take
    2 GB at 2048x2048)."""

    def __init__(self, h: int, w: int, radius: int, visible: torch.Tensor) -> None:
        ys, xs = torch.meshgrid(torch.arange(h, device=visible.device),
                                torch.arange(w, device=visible.device), indexing='ij')
        self.ys, self.xs, self.radius = ys.reshape(-1), xs.reshape(-1), radius
        self.visible = visible  # (b, n)

    def buckets(self, s: int, e: int) -> torch.Tensor:
        """(e - s, n) int64 buckets of queries s..e-1: one per offset ``(dy, dx)`` with
        ``|dy| + |dx| <= radius``, one shared by all farther keys."""
        dy = self.ys[None] - self.ys[s:e, None]
        dx = self.xs[None] - self.xs[s:e, None]
        side, r = 2 * self.radius + 1, self.radius
        near = dy.abs() + dx.abs() <= r
        return torch.where(near, (dy + r) * side + dx + r, torch.full_like(dy, side**2))

    def allowed(self, s: int, e: int) -> torch.Tensor:
        """(b, e - s, n) bool: keys that are visible, or the query itself."""
        n = self.ys.numel()
        own = torch.arange(s, e, device=self.ys.device)[:, None] == torch.arange(
            n, device=self.ys.device)[None]
        return self.visible[:, None] | own


def relative_buckets(h: int, w: int, radius: int, device=None) -> torch.Tensor:
    """(h*w, h*w) int64: the bucket of each (query, key) offset (see :class:`_Layout`)."""
    layout = _Layout(h, w, radius, torch.zeros(1, h * w, dtype=torch.bool, device=device))
    return layout.buckets(0, h * w)


class _Attention(nn.Module):
    """Pre-norm multi-head self-attention with a visibility mask, contextual relative
    position and top-k filtering; ``rel_emb`` is shared by every layer (passed in)."""

    def __init__(self, dim: int, num_heads: int, head_dim: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim, bias=False)
        self.proj = nn.Linear(num_heads * head_dim, dim, bias=False)
        self.scale = dim**-0.5  # the release scales by the model width, not the head width

    def forward(self, x: torch.Tensor, layout: _Layout, rel_emb: torch.Tensor,
                topk: int) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, n, 3, self.num_heads,
                                              self.head_dim).permute(2, 0, 3, 1, 4)
        out = torch.empty_like(q)
        # queries in chunks: the score matrix is (chunk, n) per head, not (n, n)
        chunk = max(1, (1 << 22) // max(1, n * self.num_heads * b))
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            qs = q[:, :, s:e]
            scores = qs @ k.transpose(-1, -2)
            rel = qs @ rel_emb.t()  # (b, h, chunk, n_buckets)
            idx = layout.buckets(s, e).expand(b, self.num_heads, -1, -1)
            scores = (scores + rel.gather(-1, idx)) * self.scale
            scores = scores.masked_fill(~layout.allowed(s, e)[:, None], float('-inf'))
            if 0 < topk < n:
                kth = scores.topk(topk, dim=-1).values[..., -1:]
                scores = scores.masked_fill(scores < kth, float('-inf'))
            out[:, :, s:e] = F.softmax(scores, dim=-1) @ v
        return x + self.proj(out.transpose(1, 2).reshape(b, n, -1))


class _Block(nn.Module):

    def __init__(self, dim: int, num_heads: int, head_dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.attn = _Attention(dim, num_heads, head_dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, dim))

    def forward(self, x, layout, rel_emb, topk):
        x = self.attn(x, layout, rel_emb, topk)
        return x + self.mlp(x)

    def flops(self, n: int) -> int:
        """Multiply-accumulates on ``n`` tokens (projections, scores, MLP)."""
        inner = self.attn.num_heads * self.attn.head_dim
        dim, hidden = self.mlp[1].in_features, self.mlp[1].out_features
        return n * (4 * dim * inner + 2 * dim * hidden) + 2 * n * n * inner


def _init_linears(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every Linear (the release's init)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MaskedContextTransformer(nn.Module):
    """Context features of a quantised latent from its visible positions only.

    .. code-block:: none

        t = Linear(y_hat * visible)             # (B, C, H, W) -> (B, H*W, dim) tokens
        depth x [ t = t + Attn(LN(t)) | query i sees key j iff visible[j] or i == j,
                                        score += q_i . E[offset(i, j)], top-k keys
                  t = t + MLP(LN(t)) ]          # Linear -> LeakyReLU(0.2) -> Linear
        out = t * (1 - visible)                 # -> (B, dim, H, W)

    Training (the release's random scan) passes a random ``visible`` mask; coding passes the
    checkerboard anchors, so the non-anchors are predicted from decoded anchors.

    Args:
        in_channels (int): Channels of the latent.
        dim (int): Token width. Defaults to 384.
        depth (int): Number of blocks. Defaults to 6.
        num_heads (int): Attention heads. Defaults to 6.
        head_dim (int): Width of each head. Defaults to 64.
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        radius (int): Offsets with ``|dy| + |dx| <= radius`` get their own position
            embedding, farther ones share one. Defaults to 3 (the release's 7 buckets a side).
        topk (int): Each query attends to its ``topk`` highest-scoring allowed keys (<= 0:
            all). In training a random value in ``[topk // 2, 2 * topk)`` is drawn per
            forward, as in the release. Defaults to 32.

    Example:
        >>> net = MaskedContextTransformer(8, dim=16, depth=1, num_heads=2, head_dim=8)
        >>> visible = torch.rand(1, 4, 6) > 0.5
        >>> net(torch.randn(1, 8, 4, 6), visible).shape
        torch.Size([1, 16, 4, 6])
    """

    def __init__(self, in_channels: int, dim: int = 384, depth: int = 6, num_heads: int = 6,
                 head_dim: int = 64, mlp_ratio: float = 4.0, radius: int = 3,
                 topk: int = 32) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels), ('dim', dim), ('depth', depth),
                            ('num_heads', num_heads), ('head_dim', head_dim)):
            check_int(f'context {name}', value)
        check_int('context radius', radius, minimum=0)
        self.radius, self.topk = radius, int(topk)
        self.embed = nn.Linear(in_channels, dim)
        self.rel_emb = nn.Parameter(torch.randn((2 * radius + 1)**2 + 1, head_dim) * 0.02)
        self.blocks = nn.ModuleList(
            [_Block(dim, num_heads, head_dim, mlp_ratio) for _ in range(depth)])
        self.out_channels = dim
        _init_linears(self)

    def _topk(self) -> int:
        return _draw_topk(self.topk, self.training)

    def forward(self, y_hat: torch.Tensor, visible: torch.Tensor,
                topk: Optional[int] = None) -> torch.Tensor:
        """``visible``: bool (H, W) or (B, H, W); returns (B, dim, H, W), zero where visible."""
        b, _, h, w = y_hat.shape
        if visible.dim() == 2:
            visible = visible.expand(b, h, w)
        if visible.shape != (b, h, w) or visible.dtype != torch.bool:
            raise ValueError(f'visible must be a bool (H, W) or (B, H, W) mask for a latent '
                             f'of shape {tuple(y_hat.shape)}, got {tuple(visible.shape)}')
        vis = visible.reshape(b, 1, h * w)
        layout = _Layout(h, w, self.radius, vis[:, 0])
        tokens = self.embed(torch.where(vis, y_hat.flatten(2), 0.0).transpose(1, 2))
        k = self._topk() if topk is None else topk
        for block in self.blocks:
            tokens = block(tokens, layout, self.rel_emb, k)
        out = tokens.transpose(1, 2) * ~vis
        return out.reshape(b, -1, h, w)

    def flops(self, h: int, w: int) -> int:
        """Multiply-accumulates of one forward on an (h, w) latent (batch 1)."""
        n = h * w
        return (self.embed.in_features * self.out_channels * n +
                len(self.blocks) * self.blocks[0].flops(n))


def _draw_topk(topk: int, training: bool) -> int:
    """The release's top-k: a random value in ``[topk // 2, 2 * topk)`` per training forward,
    ``topk`` itself outside training."""
    if training and topk > 1:
        return int(torch.randint(topk // 2, 2 * topk, ()))
    return topk


class RelPosTransformer(nn.Module):
    """Transformer blocks over every position of an NCHW map, with the context model's
    contextual relative position and top-k attention: one stage of the release's
    hyper-coder (``TransHyperScale`` in ``moco/hyper_codec.py``), where nothing is masked.

    .. code-block:: none

        t = flatten(x)                          # (B, C, H, W) -> (B, H*W, C)
        depth x [ t = t + Attn(LN(t)) | score += q_i . E[offset(i, j)], top-k keys
                  t = t + MLP(LN(t)) ]          # Linear -> LeakyReLU(0.2) -> Linear
        out = unflatten(t)

    Attention is global (chunked over queries): meant for latent and hyper-latent maps.

    Args:
        dim (int): Channels (token width).
        depth (int): Blocks. Defaults to 1 (the release: one per resolution).
        num_heads (int): Attention heads. Defaults to 6.
        head_dim (int): Width of each head. Defaults to 64.
        mlp_ratio (float): MLP hidden width / dim. Defaults to 4.0.
        radius (int): Offsets with ``|dy| + |dx| <= radius`` get their own position
            embedding (shared by this stage's blocks), farther ones share one. Defaults to 3.
        topk (int): Keys each query attends to (<= 0: all); drawn in
            ``[topk // 2, 2 * topk)`` per training forward. Defaults to 32.

    Example:
        >>> net = RelPosTransformer(16, num_heads=2, head_dim=8, radius=2, topk=4)
        >>> net(torch.randn(1, 16, 4, 6)).shape
        torch.Size([1, 16, 4, 6])
    """

    def __init__(self, dim: int, depth: int = 1, num_heads: int = 6, head_dim: int = 64,
                 mlp_ratio: float = 4.0, radius: int = 3, topk: int = 32) -> None:
        super().__init__()
        for name, value in (('dim', dim), ('depth', depth), ('num_heads', num_heads),
                            ('head_dim', head_dim)):
            check_int(f'hyper-coder {name}', value)
        check_int('hyper-coder radius', radius, minimum=0)
        self.radius, self.topk = radius, int(topk)
        self.rel_emb = nn.Parameter(torch.randn((2 * radius + 1)**2 + 1, head_dim) * 0.02)
        self.blocks = nn.ModuleList(
            [_Block(dim, num_heads, head_dim, mlp_ratio) for _ in range(depth)])
        _init_linears(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        layout = _Layout(h, w, self.radius,
                         torch.ones(b, h * w, dtype=torch.bool, device=x.device))
        tokens = x.flatten(2).transpose(1, 2)
        k = _draw_topk(self.topk, self.training)
        for block in self.blocks:
            tokens = block(tokens, layout, self.rel_emb, k)
        return tokens.transpose(1, 2).reshape(b, c, h, w)

    def flops(self, h: int, w: int) -> int:
        """Multiply-accumulates of one forward on an (h, w) map (batch 1)."""
        return len(self.blocks) * self.blocks[0].flops(h * w)
