"""The feature-coding anchor of the field (MPEG FCM's test-model approach): split features
quantised to 10 bits, their channels tiled into one frame, coded intra by VVC.

::

    f (C, H, W) float ─ min/max ─► 10-bit ─ tile C channels ─► (rows*H, cols*W) luma frame
        ─ vvenc intra @ QP (4:2:0 10-bit, chroma flat) ─► Annex-B bytes
    file = header (12 B) + ranges (float32 lo/hi: 1 pair per tensor or per channel) + bytes

Every byte of the file is counted in its rate: the header and the ranges are the side
information a receiver needs to unpack and dequantise. VVC is libvvenc through ffmpeg, the
settings of :class:`~mmdicm.baselines.VVCCodec` (constant QP, no QP adaptation). What FCTM
does beyond this (feature reduction, temporal coding) and what was chosen here:
``docs/baselines.md``.
"""
import math
import struct
from typing import Optional, Tuple

import numpy as np

from ..utils import check_int
from .base import CodecError, CodecUnavailableError
from .vvc import FFMPEG_TIMEOUT, VVCCodec

__all__ = ['FEATURE_CODECS', 'FeatureVVCCodec', 'FeatureVVCFPNCodec', 'QUANT_MODES', 'dequantise',
           'get_feature_codec', 'pack_frame', 'quantise', 'tile_grid', 'unpack_frame']

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


#: feature-domain baselines by name
FEATURE_CODECS = {c.name: c for c in (FeatureVVCCodec, FeatureVVCFPNCodec)}


def get_feature_codec(name: str, **kwargs) -> FeatureVVCCodec:
    """Build the feature codec registered as ``name`` (keyword arguments go to its class)."""
    if name not in FEATURE_CODECS:
        raise ValueError(f'unknown feature codec {name!r}; known: {sorted(FEATURE_CODECS)}')
    return FEATURE_CODECS[name](**kwargs)
