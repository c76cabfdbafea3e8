"""The feature-coding anchor of the field (MPEG FCM's test-model approach): split features
quantised to 10 bits, their channels tiled into one frame, coded intra by VVC.

::

    f (C, H, W) float ─ min/max ─► 10-bit ─ tile C channels ─► (rows*H, cols*W) luma frame
        ─ vvenc intra @ QP (4:2:0 10-bit, chroma flat) ─► Annex-B bytes
    file = header (12 B) + ranges (float32 lo/hi: 1 pair per tensor or per channel) + bytes

Every byte of the file is counted in its rate: the header and the ranges are the side
information a receiver needs to unpack and dequantise. VVC is libvvenc through ffmpeg, the
settings of :class:`~mmdicm.baselines.VVCCodec` (constant QP, no QP adaptation).

``fcm-vvc-pca`` reduces the channels first, as FCTM's feature reduction does, with a fixed
linear basis instead of FCTM's trained network: the top principal components of the split's
channels, fitted once on the task model's features of training images
(:class:`ChannelStats`, :class:`ChannelPCA`) and known to both ends like a network's weights;
each file names the basis it was coded with (a 4-byte fingerprint). What FCTM does beyond
this (temporal coding) and what was chosen here: ``docs/baselines.md``.
"""
import hashlib
import math
import os.path as osp
import struct
from typing import Optional, Tuple, Union

import numpy as np

from ..utils import check_int
from .base import CodecError, CodecUnavailableError
from .vvc import FFMPEG_TIMEOUT, VVCCodec

__all__ = ['FEATURE_CODECS', 'ChannelPCA', 'ChannelStats', 'FeatureVVCCodec', 'FeatureVVCFPNCodec',
           'FeatureVVCPCACodec', 'QUANT_MODES', 'dequantise', 'get_feature_codec', 'pack_frame',
           'quantise', 'tile_grid', 'unpack_frame']

#: ``quant`` of :class:`FeatureVVCCodec`: one min/max for the tensor, or one per channel
QUANT_MODES = ('tensor', 'channel')
_MAGIC = b'FCM1'
_HEADER = struct.Struct('<4sHHHBB')  # magic, C, H, W, quant mode, bit depth: 12 bytes


def tile_grid(channels: int) -> Tuple[int, int]:
    """``(rows, cols)`` of the tiles of ``channels`` feature maps: the squarest grid
    (``cols = ceil(sqrt(C))``)."""
    cols = math.ceil(math.sqrt(check_int('channels', channels)))
    return math.ceil(channels / cols), cols


def pack_frame(f: np.ndarray, fill: int = 0) -> np.ndarray:
    """Channels of ``f`` (C, H, W) tiled row by row into one (rows*H, cols*W) frame; the
    tiles past the last channel hold ``fill``."""
    c, h, w = f.shape
    rows, cols = tile_grid(c)
    frame = np.full((rows * h, cols * w), fill, dtype=f.dtype)
    for i in range(c):
        r, k = divmod(i, cols)
        frame[r * h:(r + 1) * h, k * w:(k + 1) * w] = f[i]
    return frame


def unpack_frame(frame: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """The inverse of :func:`pack_frame`: (C, H, W) from the top-left (rows*H, cols*W) of
    ``frame`` (a codec may have padded it)."""
    rows, cols = tile_grid(channels)
    if frame.shape[0] < rows * height or frame.shape[1] < cols * width:
        raise CodecError(f'fcm-vvc: decoded frame {frame.shape[0]}x{frame.shape[1]} is smaller '
                         f'than {channels} tiles of {height}x{width} need')
    out = np.empty((channels, height, width), dtype=frame.dtype)
    for i in range(channels):
        r, k = divmod(i, cols)
        out[i] = frame[r * height:(r + 1) * height, k * width:(k + 1) * width]
    return out


def quantise(f: np.ndarray, mode: str = 'tensor',
             bits: int = 10) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``f`` (C, H, W) -> (uint16 levels in [0, 2**bits - 1], lo, hi): uniform quantisation
    between the minimum and maximum of the tensor (``mode='tensor'``, lo/hi of shape (1,))
    or of each channel (``'channel'``, shape (C,)); lo and hi are float32, as sent."""
    if mode not in QUANT_MODES:
        raise ValueError(f'quant must be one of {QUANT_MODES}, got {mode!r}')
    f = np.asarray(f, dtype=np.float32)
    if not np.isfinite(f).all():
        raise ValueError('fcm-vvc: the features hold NaN or inf')
    flat = f.reshape(1 if mode == 'tensor' else f.shape[0], -1)
    lo, hi = flat.min(axis=1).astype(np.float32), flat.max(axis=1).astype(np.float32)
    levels = 2**bits - 1
    scale = np.where(hi > lo, (hi - lo) / levels, 1.0).astype(np.float64)
    q = np.rint((flat - lo[:, None]) / scale[:, None])
    return np.clip(q, 0, levels).astype(np.uint16).reshape(f.shape), lo, hi


def dequantise(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, bits: int = 10) -> np.ndarray:
    """The inverse of :func:`quantise` (float32), within half a step of the input."""
    levels = 2**bits - 1
    flat = q.reshape(lo.shape[0], -1).astype(np.float64)
    scale = np.where(hi > lo, (hi.astype(np.float64) - lo) / levels, 1.0)
    return (flat * scale[:, None] + lo[:, None]).astype(np.float32).reshape(q.shape)


class FeatureVVCCodec:
    """Features -> quantise -> one packed frame -> VVC intra -> bytes, and back.

    Args:
        quant (str): ``'tensor'`` (one min/max, 8 bytes of side information) or
            ``'channel'`` (one per channel, 8 x C bytes). Defaults to ``'tensor'``.
        bit_depth (int): Bits per quantised level, 8-10 (the frame is 10-bit).
            Defaults to 10.
        preset (str): vvenc preset. Defaults to ``'medium'``.
        threads (int): ffmpeg threads. Defaults to 1.
        ffmpeg (str, optional): ffmpeg binary (default: imageio-ffmpeg's).
        timeout (float): Seconds per ffmpeg call. Defaults to the VVC codec's.

    Example:
        >>> codec = FeatureVVCCodec()
        >>> f = np.random.rand(16, 8, 8).astype(np.float32)
        >>> data = codec.encode(f, qp=22)            # doctest: +SKIP
        >>> codec.decode(data).shape                 # doctest: +SKIP
        (16, 8, 8)
    """
    name = 'fcm-vvc'
    #: the layer whose output the sweep codes (DICM's split: f1 after ResNet's layer1)
    coded_module = 'backbone.layer1'
    quality_name = 'QP'
    quality_range = (0, 63)
    higher_quality_more_bits = False
    qualities = (47, 42, 37, 32, 27, 22)

    def __init__(self, quant: str = 'tensor', bit_depth: int = 10, preset: str = 'medium',
                 threads: int = 1, ffmpeg: Optional[str] = None,
                 timeout: float = FFMPEG_TIMEOUT) -> None:
        if quant not in QUANT_MODES:
            raise ValueError(f'quant must be one of {QUANT_MODES}, got {quant!r}')
        self.quant = quant
        self.bit_depth = check_int('bit_depth', bit_depth, 8)
        if self.bit_depth > 10:
            raise ValueError(f'bit_depth must be 8-10 (a 10-bit frame), got {bit_depth}')
        self.vvc = VVCCodec(preset=preset, threads=threads, ffmpeg=ffmpeg, timeout=timeout)

    def available(self) -> Tuple[bool, str]:
        """``(True, backend)`` or ``(False, why)``, as the pixel codecs'."""
        try:
            return True, self.vvc._require()
        except CodecUnavailableError as e:
            return False, str(e).replace('vvc:', 'fcm-vvc:', 1)

    def check_ready(self) -> None:
        """Raise if the codec lacks something it needs to code (nothing, here)."""

    def check_quality(self, qp: int) -> int:
        qp = check_int('QP', qp, 0)
        if qp > self.quality_range[1]:
            raise ValueError(f'fcm-vvc: QP must be in [0, 63], got {qp}')
        return qp

    # ------------------------------------------------------------------ coding
    def encode(self, f: np.ndarray, qp: int) -> bytes:
        """One feature tensor (C, H, W) -> the bytes of one file (header, ranges, VVC)."""
        qp = self.check_quality(qp)
        f = np.asarray(f)
        if f.ndim != 3 or min(f.shape) < 1 or max(f.shape) > 0xFFFF:
            raise ValueError(f'fcm-vvc: features must be (C, H, W) with sides of 1-65535, got '
                             f'shape {f.shape}')
        q, lo, hi = quantise(f, self.quant, self.bit_depth)
        shift = 10 - self.bit_depth  # levels on the 10-bit frame's scale
        frame = pack_frame(q << shift, fill=512)
        header = _HEADER.pack(_MAGIC, *f.shape, QUANT_MODES.index(self.quant), self.bit_depth)
        ranges = np.stack([lo, hi], axis=1).astype('<f4').tobytes()
        return header + ranges + self._encode_frame(frame, qp)

    def split(self, data: bytes) -> Tuple[Tuple[int, int, int], str, int, np.ndarray,
                                          np.ndarray, bytes]:
        """Parse a file: ``((C, H, W), quant, bit depth, lo, hi, VVC bytes)``; a file that
        is not one raises :class:`CodecError` naming what is wrong."""
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise CodecError(f'fcm-vvc: {len(data)} bytes is shorter than the header')
        magic, c, h, w, mode, bits = _HEADER.unpack_from(data)
        if magic != _MAGIC or mode >= len(QUANT_MODES) or not 8 <= bits <= 10 or \
                min(c, h, w) < 1:
            raise CodecError('fcm-vvc: not a feature file (bad magic, quant mode, bit depth or '
                             'shape in its header)')
        n = 1 if QUANT_MODES[mode] == 'tensor' else c
        end = _HEADER.size + 8 * n
        if len(data) <= end:
            raise CodecError(f'fcm-vvc: {len(data)} bytes end before the VVC bitstream '
                             f'(header and ranges take {end})')
        ranges = np.frombuffer(data[_HEADER.size:end], dtype='<f4').reshape(n, 2)
        lo, hi = ranges[:, 0].astype(np.float32), ranges[:, 1].astype(np.float32)
        if not (np.isfinite(ranges).all() and (hi >= lo).all()):
            raise CodecError('fcm-vvc: the ranges in the file are not finite lo <= hi pairs')
        return (c, h, w), QUANT_MODES[mode], bits, lo, hi, data[end:]

    def decode(self, data: bytes) -> np.ndarray:
        """A file from :meth:`encode` -> the dequantised features (C, H, W) float32."""
        (c, h, w), _, bits, lo, hi, stream = self.split(data)
        rows, cols = tile_grid(c)
        frame = self._decode_frame(stream, *self.vvc.padded_size(rows * h, cols * w))
        q = unpack_frame(frame, c, h, w) >> (10 - bits)
        return dequantise(q, lo, hi, bits)

    def side_info_bytes(self, data: bytes) -> int:
        """Bytes of the header and ranges (everything but the VVC bitstream)."""
        return len(data) - len(self.split(data)[-1])

    # ------------------------------------------------------------------ VVC on one frame
    def _encode_frame(self, frame: np.ndarray, qp: int) -> bytes:
        h, w = frame.shape
        ph, pw = self.vvc.padded_size(h, w)
        if (ph, pw) != (h, w):
            frame = np.pad(frame, ((0, ph - h), (0, pw - w)), mode='edge')
        chroma = np.full((ph // 2) * (pw // 2) * 2, 512, dtype='<u2')
        raw = np.ascontiguousarray(frame, dtype='<u2').tobytes() + chroma.tobytes()
        args = ['-f', 'rawvideo', '-pix_fmt', 'yuv420p10le', '-s', f'{pw}x{ph}', '-i', 'pipe:0',
                *self.vvc.encoder_args(qp), '-f', 'vvc', 'pipe:1']
        return self.vvc._run(args, raw, f'encode of a {ph}x{pw} feature frame')

    def _decode_frame(self, data: bytes, height: int, width: int) -> np.ndarray:
        args = ['-threads', str(self.vvc.threads), '-f', 'vvc', '-i', 'pipe:0', '-frames:v',
                '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p10le', 'pipe:1']
        raw = self.vvc._run(args, data, f'decode of {len(data)} bytes')
        luma = height * width
        if len(raw) < 2 * luma:
            raise CodecError(f'fcm-vvc: ffmpeg decoded {len(raw)} bytes, a {height}x{width} '
                             'frame needs more (the bitstream is of another size)')
        return np.frombuffer(raw[:2 * luma], dtype='<u2').reshape(height, width).astype(
            np.uint16)


class FeatureVVCFPNCodec(FeatureVVCCodec):
    """:class:`FeatureVVCCodec` at the FPN outputs (the split of FCM's detection
    pipelines): the sweep codes every pyramid level of the neck as its own file (one frame
    each, same QP, each with its header and ranges) and counts the bytes of all of them.
    The codec itself is the same; only where it is applied differs."""
    name = 'fcm-vvc-fpn'
    coded_module = 'neck'


class ChannelPCA:
    """A fixed channel basis: ``f`` (C, H, W) -> its ``k`` principal components (k, H, W) at
    every position, and back (the least-squares reconstruction in the basis' span).

    Args:
        mean (np.ndarray): (C,) the channels' mean.
        components (np.ndarray): (k, C) orthonormal rows, the largest variance first.
        explained (float, optional): The share of the fitted features' variance they hold
            (a record, saved with the basis).
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray,
                 explained: Optional[float] = None) -> None:
        mean = np.asarray(mean, dtype=np.float32)
        components = np.asarray(components, dtype=np.float32)
        if mean.ndim != 1 or components.ndim != 2 or components.shape[1] != mean.shape[0] \
                or not 1 <= components.shape[0] <= components.shape[1]:
            raise ValueError(f'a channel basis needs mean (C,) and components (k, C) with '
                             f'1 <= k <= C, got {mean.shape} and {components.shape}')
        if not (np.isfinite(mean).all() and np.isfinite(components).all()):
            raise ValueError('the channel basis holds NaN or inf')
        self.mean, self.components = mean, components
        self.explained = None if explained is None else float(explained)

    @property
    def channels(self) -> int:
        return self.mean.shape[0]

    @property
    def k(self) -> int:
        return self.components.shape[0]

    @property
    def fingerprint(self) -> int:
        """4 bytes of the SHA-256 of the basis (as float32): what a file names its basis by."""
        digest = hashlib.sha256(self.mean.astype('<f4').tobytes() +
                                self.components.astype('<f4').tobytes()).digest()
        return int.from_bytes(digest[:4], 'little')

    def project(self, f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float32)
        if f.ndim != 3 or f.shape[0] != self.channels:
            raise ValueError(f'the channel basis takes ({self.channels}, H, W) features, got '
                             f'shape {f.shape}')
        return np.einsum('kc,chw->khw', self.components, f - self.mean[:, None, None])

    def restore(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 3 or y.shape[0] != self.k:
            raise ValueError(f'the channel basis restores ({self.k}, H, W) components, got '
                             f'shape {y.shape}')
        return (np.einsum('kc,khw->chw', self.components, y) +
                self.mean[:, None, None]).astype(np.float32)

    def save(self, path: str) -> str:
        """Write the basis to ``path`` (an ``.npz``); returns ``path``."""
        with open(path, 'wb') as fh:  # np.savez would append .npz to a name without it
            np.savez(fh, mean=self.mean, components=self.components,
                     explained=np.float64(np.nan if self.explained is None else self.explained))
        return path

    @classmethod
    def load(cls, path: str) -> 'ChannelPCA':
        """A basis written by :meth:`save`; a missing or foreign file raises naming it."""
        if not osp.isfile(path):
            raise FileNotFoundError(f'fcm-vvc-pca: no channel basis at {path} (fit one with '
                                    'ChannelStats on training features, then save it)')
        try:
            with np.load(path, allow_pickle=False) as z:
                explained = float(z['explained']) if 'explained' in z.files else math.nan
                return cls(z['mean'], z['components'],
                           None if math.isnan(explained) else explained)
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f'fcm-vvc-pca: {path} is not a channel basis ({e})') from None


class ChannelStats:
    """Running channel statistics of feature maps (float64), and the PCA basis they give.

    Example:
        >>> stats = ChannelStats()
        >>> for f in features:          # doctest: +SKIP
        ...     stats.update(f)         # each (C, H, W)
        >>> basis = stats.fit(16)  # doctest: +SKIP
        >>> basis.explained               # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.count = 0
        self.sum: Optional[np.ndarray] = None
        self.outer: Optional[np.ndarray] = None

    def update(self, f: np.ndarray) -> None:
        """Add every position of ``f`` (C, H, W)."""
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 3:
            raise ValueError(f'channel statistics take (C, H, W) features, got shape {f.shape}')
        x = f.reshape(f.shape[0], -1)
        if self.sum is None:
            self.sum = np.zeros(f.shape[0])
            self.outer = np.zeros((f.shape[0], f.shape[0]))
        elif self.sum.shape[0] != f.shape[0]:
            raise ValueError(f'features of {f.shape[0]} channels after {self.sum.shape[0]}')
        self.count += x.shape[1]
        self.sum += x.sum(axis=1)
        self.outer += x @ x.T

    def fit(self, k: int) -> ChannelPCA:
        """The ``k`` leading principal components (their share of the variance is the
        basis's ``explained``). Each component's sign is fixed (its largest entry
        positive), so a fit is reproducible."""
        if self.sum is None or self.count < 2:
            raise ValueError('channel statistics need features of at least two positions')
        k = check_int('k', k, 1)
        if k > self.sum.shape[0]:
            raise ValueError(f'k = {k} components of {self.sum.shape[0]} channels')
        mean = self.sum / self.count
        cov = self.outer / self.count - np.outer(mean, mean)
        values, vectors = np.linalg.eigh((cov + cov.T) / 2)
        order = np.argsort(values)[::-1][:k]
        comps = vectors[:, order].T
        flip = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        comps = comps * np.where(flip == 0, 1, flip)[:, None]
        total = max(float(np.clip(values, 0, None).sum()), 1e-30)
        return ChannelPCA(mean, comps, float(np.clip(values[order], 0, None).sum() / total))


_PCA_MAGIC = b'FCP1'
_PCA_HEADER = struct.Struct('<4sHI')  # magic, input channels, basis fingerprint: 10 bytes


class FeatureVVCPCACodec(FeatureVVCCodec):
    """:class:`FeatureVVCCodec` on the leading principal components of the channels.

    The file is a 10-byte header (magic, the input's channel count, the basis' fingerprint)
    followed by an ``fcm-vvc`` file of the k components; every byte counts. The basis itself
    is fitted once on training features and known to both ends (as a network's weights are,
    DICM's included), so it is not in the per-image rate; a file coded with another basis is
    refused.

    Args:
        basis (str | ChannelPCA, optional): The channel basis, or the ``.npz`` written by
            :meth:`ChannelPCA.save`. Needed to code; without it the codec can only tell its
            qualities and availability (what the sweep's plan checks before fitting one).
        **kwargs: The options of :class:`FeatureVVCCodec`.
    """
    name = 'fcm-vvc-pca'
    coded_module = 'backbone.layer1'
    #: components kept when the sweep fits the basis (R-18's split: 64 -> 16 channels)
    default_components = 16

    def __init__(self, basis: Union[str, ChannelPCA, None] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.basis = ChannelPCA.load(basis) if isinstance(basis, str) else basis

    def check_ready(self) -> None:
        self._require_basis()

    def _require_basis(self) -> ChannelPCA:
        if self.basis is None:
            raise ValueError('fcm-vvc-pca: no channel basis (basis=path to the .npz fitted on '
                             'training features)')
        return self.basis

    def encode(self, f: np.ndarray, qp: int) -> bytes:
        basis = self._require_basis()
        f = np.asarray(f)
        if f.ndim != 3 or f.shape[0] != basis.channels:
            raise ValueError(f'fcm-vvc-pca: features must be ({basis.channels}, H, W) (the '
                             f'basis\' channels), got shape {f.shape}')
        inner = super().encode(basis.project(f), qp)
        return _PCA_HEADER.pack(_PCA_MAGIC, basis.channels, basis.fingerprint) + inner

    def _inner(self, data: bytes) -> bytes:
        basis = self._require_basis()
        data = bytes(data)
        if len(data) < _PCA_HEADER.size:
            raise CodecError(f'fcm-vvc-pca: {len(data)} bytes is shorter than the header')
        magic, channels, fingerprint = _PCA_HEADER.unpack_from(data)
        if magic != _PCA_MAGIC:
            raise CodecError('fcm-vvc-pca: not a reduced feature file (bad magic)')
        if (channels, fingerprint) != (basis.channels, basis.fingerprint):
            raise CodecError(f'fcm-vvc-pca: the file was coded with another channel basis '
                             f'({channels} channels, fingerprint {fingerprint:08x}; this '
                             f'codec\'s: {basis.channels}, {basis.fingerprint:08x})')
        return data[_PCA_HEADER.size:]

    def decode(self, data: bytes) -> np.ndarray:
        y = super().decode(self._inner(data))
        if y.shape[0] != self.basis.k:
            raise CodecError(f'fcm-vvc-pca: the file holds {y.shape[0]} components, the basis '
                             f'{self.basis.k}')
        return self.basis.restore(y)

    def side_info_bytes(self, data: bytes) -> int:
        return _PCA_HEADER.size + super().side_info_bytes(self._inner(data))


#: feature-domain baselines by name
FEATURE_CODECS = {c.name: c for c in (FeatureVVCCodec, FeatureVVCFPNCodec, FeatureVVCPCACodec)}


def get_feature_codec(name: str, **kwargs) -> FeatureVVCCodec:
    """Build the feature codec registered as ``name`` (keyword arguments go to its class)."""
    if name not in FEATURE_CODECS:
        raise ValueError(f'unknown feature codec {name!r}; known: {sorted(FEATURE_CODECS)}')
    return FEATURE_CODECS[name](**kwargs)
