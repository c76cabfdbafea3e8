"""Pixel-codec baselines for rate-accuracy curves: code an image, decode it, count the bytes.

The DICM paper compares feature compression with the classic route -- compress the *image*
with a standard codec, decode it, run the stock detector / classifier on the decoded image --
at several quality settings, giving (bpp, mAP) points for BD-rate / BD-accuracy
(:mod:`mmdicm.evaluation.bd_metrics`)::

    RGB uint8 ─► encode(img, quality) ─► bytes ─► decode(bytes) ─► RGB uint8 ─► detector
                                          │
                                          └─► bpp = 8 * len(bytes) / (H * W)  (input pixels)

Five codecs, registered in :data:`PIXEL_CODECS` by name. ``quality`` is each codec's own
parameter; every default sweep (``codec.qualities``) is ordered from the lowest to the highest
rate:

======== ================================== ============= ========= ============================
name     backend                            parameter     more bits bytes counted
======== ================================== ============= ========= ============================
jpeg     Pillow (libjpeg-turbo)             quality 1-100 higher    whole JFIF file
webp     Pillow (libwebp, lossy VP8)        quality 0-100 higher    whole RIFF/WebP file
avif     Pillow (libavif: aom enc, dav1d)   quality 0-100 higher    whole AVIF (HEIF) file
hevc     pillow-heif (libheif: x265 enc,    QP 0-51       lower     whole HEIF file
         libde265 dec); BPG's core coder
vvc      ffmpeg of imageio-ffmpeg (libvvenc QP 0-63       lower     raw Annex-B bitstream
         enc, native vvc dec); VTM-like                             (.266), no container
======== ================================== ============= ========= ============================

Colour format, set explicitly in every encoder call (never left to a library default):

- jpeg: YCbCr 4:2:0, 8-bit, BT.601 full range (JFIF), optimised Huffman tables, baseline.
- webp: YCbCr 4:2:0, 8-bit, BT.601 limited range (lossy WebP is 4:2:0 / limited by
  definition), ``method=4``.
- avif: YCbCr 4:2:0, 8-bit, BT.601 matrix, full range (nclx 1/13/6/full), aom encoder at
  ``speed=6``, ONE thread (libaom's output depends on its thread count).
- hevc: YCbCr 4:2:0, 8-bit, BT.601 matrix, full range (nclx 1/13/6/full), x265 preset
  ``slow``, one intra picture at a constant QP (``x265:qp``; x265 turns adaptive
  quantisation off in constant-QP mode) -- like BPG, whose defaults are also 4:2:0 and
  BT.601 full range.
- vvc: YCbCr 4:2:0, **10-bit** (libvvenc accepts only ``yuv420p10le``; VTM's common test
  conditions also code 8-bit content at 10 bits), BT.601 full range; RGB<->YCbCr conversion
  done by ffmpeg's ``scale`` filter with explicit matrix and range on both sides. vvenc
  preset ``medium``, one intra (IDR) frame at a constant QP (``-qp``, ``-qpa 0``). vvenc is
  close to, not identical with, VTM's reference encoder.

QP is the slice QP of the coded picture for both hevc and vvc. Left to themselves, both
encoders code an intra picture 3 below the QP asked for (x265: ``ipratio`` 1.4; vvenc:
``IntraQPOffset`` -3); the wrappers set ``x265:ipratio=1`` and ``IntraQPOffset=0`` so that
QP 32 means slice QP 32, as in VTM's all-intra configuration.

Bytes are the codec's real output. The HEIF/AVIF container (``ftyp`` + ``meta`` boxes:
item info, properties, ``hvcC``/``av1C`` with the parameter sets, ``colr``) is included; it
measured about 370 bytes for hevc and 270 bytes for avif on a 128x128 image, i.e. about
0.01 bpp on a 640x480 image -- noticeable at the lowest rates. JPEG's headers and tables
(a few hundred bytes) are included too. VVC is counted as its raw Annex-B bitstream
(access-unit delimiter, SPS, PPS and slice NAL units with start codes), with no container.
:meth:`PixelCodec.payload_bytes` gives the entropy-coded part alone (measured overheads at
64x64 and 256x256: jpeg 290-370 bytes, webp 30, avif 275, hevc 377, vvc 190-206), for
comparisons on small images where the fixed part decides.

Sizes: every codec accepts any size from 1x1. hevc relies on libheif (even-sized coded
picture, cropped by the HEIF ``clap`` box). vvc cannot signal an odd size at 4:2:0, and
libvvenc rejects frames under ~350 pixels, so the wrapper pads the image by edge replication
to even sides of at least 32 pixels before coding; :meth:`VVCCodec.decode` returns the padded
picture unless given ``size=(H, W)``, which :meth:`PixelCodec.roundtrip` and :func:`sweep` pass.
bpp is always counted per *input* pixel.

Every codec here is deterministic: the same image and setting give the same bytes.

Example:
    >>> from skimage import data
    >>> img = data.astronaut()[100:228, 180:308]          # 128x128x3 uint8
    >>> codec = get_pixel_codec('jpeg')
    >>> decoded, num_bytes = codec.roundtrip(img, quality=50)
    >>> decoded.shape, decoded.dtype
    ((128, 128, 3), dtype('uint8'))
    >>> round(bpp(num_bytes, 128, 128), 2)  # doctest: +SKIP
    1.02
    >>> for point in sweep(['jpeg', 'vvc'], [img]):      # doctest: +SKIP
    ...     print(point.codec, point.quality, round(point.bpp, 3))
"""
from __future__ import annotations

import functools
import io
import logging
import numbers
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional, Union

import numpy as np

from .payload import PayloadError, payload_size

__all__ = [
    'CodecError', 'CodecUnavailableError', 'PixelCodec', 'JPEGCodec', 'WebPCodec', 'AVIFCodec',
    'HEVCCodec', 'VVCCodec', 'PIXEL_CODECS', 'get_pixel_codec', 'pixel_codec_availability',
    'bpp', 'SweepPoint', 'sweep', 'PayloadError'
]

logger = logging.getLogger(__name__)

#: Bound on every ffmpeg call of :class:`VVCCodec`, in seconds (per call, configurable).
FFMPEG_TIMEOUT = 300.0


class CodecError(RuntimeError):
    """A codec backend failed on its input (encoder error, undecodable bytes, ffmpeg exit)."""


class CodecUnavailableError(CodecError):
    """A codec's backend is missing here (package not importable, encoder/decoder not built).

    The message is one line naming the codec and what is missing, e.g.
    ``"vvc: ffmpeg at /usr/bin/ffmpeg has no 'libvvenc' encoder"``.
    """


# ---------------------------------------------------------------------------------- helpers
def _check_int(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {type(value).__name__}')
    value = int(value)
    if value < low or (high is not None and value > high):
        span = f'in [{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'{name} must be {span}, got {value}')
    return value


def _check_image(img: Any, what: str = 'img') -> np.ndarray:
    """The image as a C-contiguous (H, W, 3) uint8 array, or TypeError / ValueError."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{what} must be a numpy array (H, W, 3) uint8 RGB, '
                        f'got {type(img).__name__}')
    if img.dtype != np.uint8:
        raise TypeError(f'{what} must have dtype uint8 (RGB 0-255), got {img.dtype}')
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{what} must have shape (H, W, 3) (RGB), got {img.shape}')
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f'{what} must have at least 1x1 pixels, got {img.shape}')
    return np.ascontiguousarray(img)


def _check_data(data: Any, codec: str) -> bytes:
    if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f'{codec}: data must be bytes, got {type(data).__name__}')
    data = bytes(data)
    if not data:
        raise ValueError(f'{codec}: data is empty')
    return data


def _check_size(size: Any) -> Optional[tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f'size must be None or (height, width), got {size!r}')
    return (_check_int('size[0] (height)', size[0], 1), _check_int('size[1] (width)', size[1], 1))


def _crop(img: np.ndarray, size: Optional[tuple[int, int]], codec: str) -> np.ndarray:
    if size is None or img.shape[:2] == size:
        return img
    if img.shape[0] < size[0] or img.shape[1] < size[1]:
        raise ValueError(f'{codec}: decoded image is {img.shape[0]}x{img.shape[1]}, smaller '
                         f'than the requested size {size[0]}x{size[1]}')
    return np.ascontiguousarray(img[:size[0], :size[1]])


def _to_rgb_array(pil_image: Any) -> np.ndarray:
    if pil_image.mode != 'RGB':
        pil_image = pil_image.convert('RGB')
    return np.array(pil_image, dtype=np.uint8)


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of the *input* image: ``8 * num_bytes / (height * width)``.

    Args:
        num_bytes (int): Bytes of the coded image (>= 0).
        height (int): Height of the input image (>= 1), before any codec padding.
        width (int): Width of the input image (>= 1).

    Returns:
        float: The rate in bits per input pixel.

    Example:
        >>> bpp(2048, 128, 128)
        1.0
    """
    num_bytes = _check_int('num_bytes', num_bytes, 0)
    height = _check_int('height', height, 1)
    width = _check_int('width', width, 1)
    return 8.0 * num_bytes / (height * width)


# ---------------------------------------------------------------------------------- base
class PixelCodec:
    """Base of the pixel-codec wrappers: validation, availability and round trip.

    Subclasses set the class attributes and implement ``_require`` (raise
    :class:`CodecUnavailableError` if the backend is missing), ``_encode`` and ``_decode``.

    Attributes:
        name (str): Registry name ('jpeg', 'webp', 'avif', 'hevc', 'vvc').
        quality_name (str): What ``quality`` means for this codec ('quality' or 'QP').
        quality_range (tuple[int, int]): Inclusive range of ``quality``.
        higher_quality_more_bits (bool): True if a larger ``quality`` gives more bits (JPEG
            quality), False if fewer (a QP).
        qualities (tuple[int, ...]): Default sweep, ordered from the lowest to the highest
            rate.
        color_format (str): The coded colour format, e.g. 'YCbCr 4:2:0, 8-bit, BT.601 full
            range'.
        chroma_subsampling (str): '4:2:0' for every codec here.
        payload (str): What the byte count includes (container overhead).
    """
    name: ClassVar[str] = ''
    quality_name: ClassVar[str] = 'quality'
    quality_range: ClassVar[tuple[int, int]] = (0, 100)
    higher_quality_more_bits: ClassVar[bool] = True
    qualities: tuple[int, ...] = ()
    color_format: ClassVar[str] = ''
    chroma_subsampling: ClassVar[str] = '4:2:0'
    payload: ClassVar[str] = ''

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name={self.name!r})'

    # -- availability
    def _require(self) -> str:
        """Raise :class:`CodecUnavailableError` if unusable; else return a backend summary."""
        raise NotImplementedError

    def check_available(self) -> str:
        """Raise :class:`CodecUnavailableError` if the backend is missing.

        Returns:
            str: A one-line description of the backend (library versions).
        """
        return self._require()

    def available(self) -> tuple[bool, str]:
        """Whether the codec works here.

        Returns:
            tuple[bool, str]: ``(True, backend description)`` or ``(False, reason)``, the
            reason being the :class:`CodecUnavailableError` message.
        """
        try:
            return True, self._require()
        except CodecUnavailableError as e:
            return False, str(e)

    # -- validation
    def check_quality(self, quality: Any) -> int:
        """``quality`` as an int within :attr:`quality_range`, else TypeError / ValueError."""
        low, high = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, numbers.Integral):
            raise TypeError(f'{self.name} {self.quality_name} must be an int, '
                            f'got {type(quality).__name__}')
        quality = int(quality)
        if not low <= quality <= high:
            direction = 'higher' if self.higher_quality_more_bits else 'lower'
            raise ValueError(f'{self.name} {self.quality_name} must be in [{low}, {high}] '
                             f'({direction} = more bits), got {quality}')
        return quality

    # -- coding
    def encode(self, img: np.ndarray, quality: int) -> bytes:
        """Code one image.

        Args:
            img (np.ndarray): (H, W, 3) uint8 RGB.
            quality (int): The codec's quality parameter, see :attr:`quality_range`.

        Returns:
            bytes: The coded image (see :attr:`payload` for what it contains).
        """
        img = _check_image(img)
        quality = self.check_quality(quality)
        self._require()
        return self._encode(img, quality)

    def decode(self, data: bytes, size: Optional[Sequence[int]] = None) -> np.ndarray:
        """Decode bytes written by :meth:`encode`.

        Args:
            data (bytes): The coded image.
            size (tuple[int, int], optional): The original (height, width). The decoded
                image is cropped to it (only :class:`VVCCodec` ever decodes a larger, padded
                picture). Defaults to None: no crop.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB.
        """
        data = _check_data(data, self.name)
        size = _check_size(size)
        self._require()
        return _crop(self._decode(data), size, self.name)

    def payload_bytes(self, data: bytes) -> int:
        """Entropy-coded payload of ``data`` (bytes written by :meth:`encode`): the file
        without headers, tables, parameter sets and container boxes (see
        :mod:`~mmdicm.evaluation.payload` for what each format leaves out). A diagnostic for
        small images; rates are whole files.

        Raises:
            PayloadError: ``data`` is not a well-formed file of this codec's format.
        """
        return payload_size(self.name, _check_data(data, self.name))

    def roundtrip(self, img: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
        """Encode then decode one image.

        Args:
            img (np.ndarray): (H, W, 3) uint8 RGB.
            quality (int): The codec's quality parameter.

        Returns:
            tuple[np.ndarray, int]: The decoded (H, W, 3) uint8 image, same size as ``img``,
            and the number of coded bytes.
        """
        img = _check_image(img)
        data = self.encode(img, quality)
        return self.decode(data, size=img.shape[:2]), len(data)

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError


class _PillowCodec(PixelCodec):
    """A codec Pillow writes and reads (``feature`` names it in ``PIL.features``)."""
    pil_format: ClassVar[str] = ''
    feature: ClassVar[str] = ''

    def _require(self) -> str:
        try:
            import PIL
            from PIL import features
        except ImportError as e:
            raise CodecUnavailableError(f'{self.name}: Pillow is not importable ({e})') from None
        if not features.check(self.feature):
            raise CodecUnavailableError(
                f"{self.name}: this Pillow {PIL.__version__} is built without '{self.feature}' "
                'support')
        return f'Pillow {PIL.__version__}, {self.feature} {features.version(self.feature)}'

    def _save_options(self, quality: int) -> dict:
        raise NotImplementedError

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        try:
            Image.fromarray(img).save(buf, format=self.pil_format, **self._save_options(quality))
        except (OSError, ValueError) as e:
            raise CodecError(f'{self.name}: Pillow failed to encode a {img.shape[0]}x'
                             f'{img.shape[1]} image: {e}') from e
        return buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data), formats=[self.pil_format]) as im:
                im.load()
                return _to_rgb_array(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise CodecError(f'{self.name}: cannot decode {len(data)} bytes: {e}') from e


# ---------------------------------------------------------------------------------- codecs
class JPEGCodec(_PillowCodec):
    """JPEG (Pillow / libjpeg-turbo): YCbCr 4:2:0, 8-bit, BT.601 full range (JFIF).

    Baseline (not progressive) with optimised Huffman tables and the standard (Annex K)
    quantisation tables scaled by ``quality``. The bytes are the whole JFIF file.

    Args:
        optimize (bool): Optimise the Huffman tables (smaller file, same pixels).
            Defaults to True.
    """
    name = 'jpeg'
    pil_format = 'JPEG'
    feature = 'jpg'
    quality_range = (1, 100)
    color_format = 'YCbCr 4:2:0, 8-bit, BT.601 full range (JFIF)'
    payload = 'whole JFIF file: markers, quantisation and Huffman tables, entropy-coded data'

    qualities = (5, 15, 30, 50, 75, 95)

    def __init__(self, optimize: bool = True) -> None:
        self.optimize = bool(optimize)

    def _save_options(self, quality: int) -> dict:
        return dict(quality=quality, subsampling='4:2:0', optimize=self.optimize,
                    progressive=False)


class WebPCodec(_PillowCodec):
    """Lossy WebP (Pillow / libwebp, VP8 intra): YCbCr 4:2:0, 8-bit, BT.601 limited range.

    Lossy WebP is 4:2:0 with limited-range BT.601 by definition; ``lossless=False`` is set
    explicitly. The bytes are the whole RIFF/WebP file (a ~26-byte header beyond VP8 data).

    Args:
        method (int): libwebp effort, 0 (fast) to 6 (best). Defaults to 4 (libwebp's).
    """
    name = 'webp'
    pil_format = 'WEBP'
    feature = 'webp'
    quality_range = (0, 100)
    color_format = 'YCbCr 4:2:0, 8-bit, BT.601 limited range (lossy WebP / VP8)'
    payload = 'whole RIFF/WebP file (RIFF + VP8 chunk headers, VP8 key frame)'

    qualities = (5, 15, 30, 50, 75, 95)

    def __init__(self, method: int = 4) -> None:
        self.method = _check_int('method', method, 0, 6)

    def _save_options(self, quality: int) -> dict:
        return dict(quality=quality, lossless=False, method=self.method, exact=False)


class AVIFCodec(_PillowCodec):
    """AVIF (Pillow / libavif; AV1 intra by aom, decoded by dav1d or aom).

    YCbCr 4:2:0, 8-bit, BT.601 matrix, full range (``subsampling='4:2:0'``, ``range='full'``;
    libavif writes nclx 1/13/6/full). Encoded with ONE thread: libaom's output changes with
    its thread count, so more threads would break determinism. The bytes are the whole AVIF
    file (HEIF container: ``ftyp`` + ``meta`` ~270 bytes, then ``mdat``).

    Args:
        speed (int): libavif speed, 0 (slowest, best) to 10. Defaults to 6 (Pillow's).
        encoder (str): AV1 encoder libavif uses. Defaults to 'aom'.
    """
    name = 'avif'
    pil_format = 'AVIF'
    feature = 'avif'
    quality_range = (0, 100)
    color_format = 'YCbCr 4:2:0, 8-bit, BT.601 full range (nclx 1/13/6/full)'
    payload = 'whole AVIF file: HEIF container (ftyp, meta with av1C/colr/ispe) + mdat'
    qualities = (5, 15, 30, 50, 75, 95)

    def __init__(self, speed: int = 6, encoder: str = 'aom') -> None:
        self.speed = _check_int('speed', speed, 0, 10)
        if not isinstance(encoder, str) or not encoder:
            raise TypeError(f'encoder must be a non-empty str (e.g. "aom"), got {encoder!r}')
        self.encoder = encoder

    def _require(self) -> str:
        info = super()._require()
        try:
            from PIL import _avif
            ok = _avif.encoder_codec_available(self.encoder)
        except (ImportError, AttributeError):
            ok = False
        if not ok:
            raise CodecUnavailableError(
                f"avif: Pillow's libavif has no '{self.encoder}' AV1 encoder")
        return f'{info}, encoder {self.encoder}'

    def _save_options(self, quality: int) -> dict:
        return dict(quality=quality, subsampling='4:2:0', range='full', speed=self.speed,
                    codec=self.encoder, max_threads=1)


class HEVCCodec(PixelCodec):
    """HEVC intra in HEIF (pillow-heif: libheif + x265, decoded by libde265) -- BPG's core.

    YCbCr 4:2:0 (``chroma=420``), 8-bit, BT.601 matrix, full range (nclx 1/13/6/full written
    explicitly), x265 ``preset`` / ``tune`` set explicitly and a constant QP (``x265:qp``,
    ``x265:ipratio=1`` so the intra picture is coded at that QP, not 3 below; x265 disables
    adaptive quantisation in constant-QP mode), one picture, no grid tiling.
    Odd sizes are handled by libheif (even coded picture + ``clap`` crop box). The bytes are
    the whole HEIF file: ``ftyp`` + ``meta`` (~370 bytes, including ``hvcC`` with
    VPS/SPS/PPS) + ``mdat``.

    Args:
        preset (str): x265 preset. Defaults to 'slow' (libheif's).
        tune (str): x265 tune. Defaults to 'ssim' (libheif's).
    """
    name = 'hevc'
    quality_name = 'QP'
    quality_range = (0, 51)
    higher_quality_more_bits = False
    color_format = 'YCbCr 4:2:0, 8-bit, BT.601 full range (nclx 1/13/6/full)'
    payload = 'whole HEIF file: ftyp + meta (hvcC with VPS/SPS/PPS, colr, ispe) + mdat'
    qualities = (47, 42, 37, 32, 27, 22)

    def __init__(self, preset: str = 'slow', tune: str = 'ssim') -> None:
        for arg, value in (('preset', preset), ('tune', tune)):
            if not isinstance(value, str) or not value:
                raise TypeError(f'{arg} must be a non-empty x265 name, got {value!r}')
        self.preset, self.tune = preset, tune

    def _require(self) -> str:
        try:
            import pillow_heif
        except ImportError as e:
            raise CodecUnavailableError(f'hevc: pillow_heif is not importable ({e})') from None
        info = pillow_heif.libheif_info()
        if not info.get('HEIF'):
            raise CodecUnavailableError("hevc: pillow-heif's libheif has no HEVC (x265) encoder")
        decoders = info.get('decoders', {})
        if not any('hevc' in f'{k} {v}'.lower() or '265' in k for k, v in decoders.items()):
            raise CodecUnavailableError("hevc: pillow-heif's libheif has no HEVC decoder")
        return (f'pillow-heif {pillow_heif.__version__}, libheif {info.get("libheif")}, '
                f'{info["HEIF"]}')

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        import pillow_heif

        h, w = img.shape[:2]
        try:
            heif = pillow_heif.from_bytes(mode='RGB', size=(w, h), data=img.tobytes())
            buf = io.BytesIO()
            heif.save(buf, quality=50,  # overridden by x265:qp (constant-QP rate control)
                      chroma=420, tile_size=0, save_nclx_profile=True,
                      color_primaries=1, transfer_characteristics=13, matrix_coefficients=6,
                      full_range_flag=1,
                      enc_params={'preset': self.preset, 'tune': self.tune,
                                  'x265:qp': str(quality), 'x265:ipratio': '1'})
        except (RuntimeError, ValueError, OSError) as e:
            raise CodecError(f'hevc: libheif failed to encode a {h}x{w} image: {e}') from e
        return buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        try:
            heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
            return _to_rgb_array(heif.to_pillow())
        except (RuntimeError, ValueError, OSError, SyntaxError) as e:
            raise CodecError(f'hevc: cannot decode {len(data)} bytes: {e}') from e


# ---------------------------------------------------------------------------------- ffmpeg
@functools.lru_cache(maxsize=8)
def _ffmpeg_capabilities(exe: str) -> frozenset:
    """``{'encoder:libvvenc', 'decoder:vvc', 'muxer:vvc', ...}`` as listed by ``exe``."""
    caps = set()
    for kind, flag in (('encoder', '-encoders'), ('decoder', '-decoders'),
                       ('muxer', '-muxers'), ('demuxer', '-demuxers')):
        try:
            out = subprocess.run([exe, '-hide_banner', flag], stdin=subprocess.DEVNULL,
                                 capture_output=True, timeout=30, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        body = out.decode('utf-8', 'replace').split('--', 1)[-1]
        for line in body.splitlines():
            tokens = line.split()
            if len(tokens) >= 2:
                caps.update(f'{kind}:{name}' for name in tokens[1].split(','))
    return frozenset(caps)


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode('utf-8', 'replace').splitlines() if ln.strip()]
    return lines[-1] if lines else '(no message)'


class VVCCodec(PixelCodec):
    """VVC intra (ffmpeg: libvvenc encoder, native ``vvc`` decoder) -- VTM's core coder.

    RGB -> YCbCr 4:2:0 **10-bit** (``yuv420p10le``, the only format libvvenc takes), BT.601
    full range, converted by ffmpeg's ``scale`` filter with explicit matrix and range (and
    back the same way when decoding, whatever the bitstream signals). One intra (IDR)
    frame at a constant slice QP (``-qp``; perceptual QP adaptation off with ``-qpa 0``;
    ``IntraQPOffset=0``, else vvenc codes the intra picture 3 below), vvenc ``preset``.
    The bytes are the raw Annex-B bitstream ffmpeg's ``vvc`` muxer writes (a ``.266``
    file: AUD, SPS, PPS and slice NAL units with start codes), no container.

    Sizes: the image is padded by edge replication to even sides (4:2:0 cannot signal an
    odd crop) of at least 32 pixels (libvvenc rejects frames under ~350 pixels). The
    bitstream holds the padded picture; :meth:`decode` with ``size`` (as :meth:`roundtrip`
    does) crops it back. bpp should be counted on the input size (:func:`bpp`).

    ffmpeg runs as a subprocess (stdin/stdout pipes) with a timeout; a failure raises
    :class:`CodecError` quoting ffmpeg's last stderr line.

    Args:
        preset (str): vvenc preset: 'faster', 'fast', 'medium', 'slow', 'slower'.
            Defaults to 'medium' (vvenc's).
        threads (int): Encoder / decoder threads. vvenc's output does not depend on it;
            defaults to 1 (polite on shared machines).
        ffmpeg (str, optional): Path of the ffmpeg binary. Defaults to None:
            ``imageio_ffmpeg.get_ffmpeg_exe()``.
        timeout (float): Seconds allowed per ffmpeg call. Defaults to :data:`FFMPEG_TIMEOUT`.
    """
    name = 'vvc'
    quality_name = 'QP'
    quality_range = (0, 63)
    higher_quality_more_bits = False
    color_format = 'YCbCr 4:2:0, 10-bit, BT.601 full range'
    payload = 'raw Annex-B VVC bitstream (AUD, SPS, PPS, slice NAL units), no container'
    qualities = (47, 42, 37, 32, 27, 22)
    PRESETS: ClassVar[tuple[str, ...]] = ('faster', 'fast', 'medium', 'slow', 'slower')
    MIN_SIDE: ClassVar[int] = 32
    _REQUIRED = (('encoder:libvvenc', "'libvvenc' encoder"), ('muxer:vvc', "'vvc' muxer"),
                 ('demuxer:vvc', "'vvc' demuxer"),
                 ('decoder:vvc', "'vvc' decoder (native, ffmpeg >= 7)"))
    _SCALE = 'scale=flags=bicubic+accurate_rnd+full_chroma_int'

    def __init__(self, preset: str = 'medium', threads: int = 1, ffmpeg: Optional[str] = None,
                 timeout: float = FFMPEG_TIMEOUT) -> None:
        if preset not in self.PRESETS:
            raise ValueError(f'preset must be one of {self.PRESETS}, got {preset!r}')
        self.preset = preset
        self.threads = _check_int('threads', threads, 0)
        if ffmpeg is not None and not isinstance(ffmpeg, str):
            raise TypeError(f'ffmpeg must be None or a path str, got {type(ffmpeg).__name__}')
        self.ffmpeg = ffmpeg
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout <= 0:
            raise ValueError(f'timeout must be a positive number of seconds, got {timeout!r}')
        self.timeout = float(timeout)

    def _exe(self) -> str:
        if self.ffmpeg is not None:
            exe = shutil.which(self.ffmpeg)
            if exe is None:
                raise CodecUnavailableError(f'vvc: ffmpeg not found at {self.ffmpeg!r}')
            return exe
        try:
            import imageio_ffmpeg
            return imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError) as e:
            raise CodecUnavailableError(
                f'vvc: no ffmpeg binary (imageio-ffmpeg: {e})'.replace('\n', ' ')) from None

    def _require(self) -> str:
        exe = self._exe()
        caps = _ffmpeg_capabilities(exe)
        missing = [what for key, what in self._REQUIRED if key not in caps]
        if missing:
            raise CodecUnavailableError(f'vvc: ffmpeg at {exe} has no {", ".join(missing)}')
        return f'ffmpeg {exe} (libvvenc encoder, native vvc decoder)'

    def _run(self, args: list, data: bytes, what: str) -> bytes:
        cmd = [self._exe(), '-hide_banner', '-nostats', '-loglevel', 'error', *args]
        try:
            proc = subprocess.run(cmd, input=data, capture_output=True, timeout=self.timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise CodecError(f'vvc: ffmpeg {what} timed out after {self.timeout:g} s') from None
        except OSError as e:
            raise CodecUnavailableError(f'vvc: cannot run ffmpeg ({e})') from None
        if proc.returncode != 0 or not proc.stdout:
            raise CodecError(f'vvc: ffmpeg {what} failed (exit code {proc.returncode}): '
                             f'{_last_line(proc.stderr)}')
        return proc.stdout

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The coded picture size for an input of ``height`` x ``width``."""
        def side(n: int) -> int:
            return max(n + n % 2, self.MIN_SIDE)

        return side(height), side(width)

    def _encode(self, img: np.ndarray, quality: int) -> bytes:
        h, w = img.shape[:2]
        ph, pw = self.padded_size(h, w)
        if (ph, pw) != (h, w):
            img = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode='edge')
        args = ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{pw}x{ph}', '-i', 'pipe:0',
                '-vf', f'{self._SCALE}:out_color_matrix=bt601:out_range=pc,format=yuv420p10le',
                '-frames:v', '1', '-c:v', 'libvvenc', '-preset', self.preset,
                '-qp', str(quality), '-qpa', '0', '-vvenc-params', 'IntraQPOffset=0',
                '-threads', str(self.threads),
                '-color_range', 'pc', '-colorspace', 'bt470bg', '-color_primaries', 'bt709',
                '-color_trc', 'iec61966-2-1', '-f', 'vvc', 'pipe:1']
        return self._run(args, np.ascontiguousarray(img).tobytes(), f'encode of {h}x{w}')

    def _decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        args = ['-threads', str(self.threads), '-f', 'vvc', '-i', 'pipe:0', '-frames:v', '1',
                '-vf', f'{self._SCALE}:in_color_matrix=bt601:in_range=pc,format=rgb24',
                '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1']
        ppm = self._run(args, data, f'decode of {len(data)} bytes')
        try:
            with Image.open(io.BytesIO(ppm), formats=['PPM']) as im:
                im.load()
                return _to_rgb_array(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise CodecError(f'vvc: ffmpeg decoded {len(data)} bytes to an unreadable '
                             f'image: {e}') from e


# ---------------------------------------------------------------------------------- registry
#: Codec classes by name; :func:`get_pixel_codec` builds one with default settings.
PIXEL_CODECS: dict[str, type[PixelCodec]] = {
    cls.name: cls for cls in (JPEGCodec, WebPCodec, AVIFCodec, HEVCCodec, VVCCodec)
}


def get_pixel_codec(name: str, **kwargs: Any) -> PixelCodec:
    """Build the codec registered as ``name`` (keyword arguments go to its class).

    Args:
        name (str): One of :data:`PIXEL_CODECS` ('jpeg', 'webp', 'avif', 'hevc', 'vvc').
        **kwargs: Settings of the codec class, e.g. ``preset='slow'`` for 'vvc'.

    Returns:
        PixelCodec: The codec (not yet checked for availability: see
        :meth:`PixelCodec.available`).
    """
    if not isinstance(name, str):
        raise TypeError(f'codec name must be a str, got {type(name).__name__}')
    if name not in PIXEL_CODECS:
        raise ValueError(f'unknown pixel codec {name!r}; known: {sorted(PIXEL_CODECS)}')
    return PIXEL_CODECS[name](**kwargs)


def pixel_codec_availability() -> dict[str, tuple[bool, str]]:
    """``{name: (available, reason or backend description)}`` for every registered codec."""
    return {name: cls().available() for name, cls in PIXEL_CODECS.items()}


# ---------------------------------------------------------------------------------- sweep
@dataclass
class SweepPoint:
    """One (codec, quality) point of a :func:`sweep` over a set of images.

    Attributes:
        codec (str): Codec name.
        quality (int): The codec's quality parameter (see the codec's ``quality_name``).
        bpp (float): Aggregate rate: total bits / total input pixels over all images.
        num_bytes (list[int]): Coded bytes of each image, in order.
        num_pixels (int): Total input pixels (sum of H * W).
        decoded (list[np.ndarray] or None): The decoded images, in order, if kept.
    """
    codec: str
    quality: int
    bpp: float
    num_bytes: list[int]
    num_pixels: int
    decoded: Optional[list[np.ndarray]] = None


SweepCallback = Callable[[str, int, int, np.ndarray, int], None]


def _as_codecs(codecs: Any) -> list[PixelCodec]:
    if isinstance(codecs, (str, PixelCodec)):
        codecs = [codecs]
    if not isinstance(codecs, Sequence) or not codecs:
        raise TypeError('codecs must be a codec name, a PixelCodec or a non-empty sequence of '
                        f'them, got {codecs!r}')
    out = []
    for c in codecs:
        if isinstance(c, PixelCodec):
            out.append(c)
        else:
            out.append(get_pixel_codec(c))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f'codecs must be distinct, got {names}')
    return out


def _sweep_qualities(codec: PixelCodec, qualities: Any, single: bool) -> list[int]:
    if qualities is None:
        chosen = codec.qualities
    elif isinstance(qualities, Mapping):
        chosen = qualities.get(codec.name, codec.qualities)
    elif isinstance(qualities, Sequence) and not isinstance(qualities, (str, bytes)):
        if not single:
            raise TypeError('qualities as a plain list is ambiguous for several codecs (each '
                            'has its own scale); pass {codec name: [qualities]}')
        chosen = qualities
    else:
        raise TypeError('qualities must be None, a sequence of ints (one codec) or a mapping '
                        f'{{codec name: sequence of ints}}, got {type(qualities).__name__}')
    if isinstance(chosen, (str, bytes)) or not isinstance(chosen, Sequence) or not chosen:
        raise ValueError(f'{codec.name}: qualities must be a non-empty sequence of ints, '
                         f'got {chosen!r}')
    return [codec.check_quality(q) for q in chosen]


def sweep(codecs: Union[str, PixelCodec, Sequence[Union[str, PixelCodec]]],
          images: Iterable[np.ndarray],
          qualities: Union[None, Sequence[int], Mapping[str, Sequence[int]]] = None,
          *,
          keep_decoded: bool = True,
          callback: Optional[SweepCallback] = None,
          skip_unavailable: bool = True) -> Iterator[SweepPoint]:
    """Code every image with every codec at every quality; yield one point per setting.

    Unavailable codecs are skipped with a logged warning (``logging``, printed to stderr if
    logging is not configured) naming the codec and what is missing; with
    ``skip_unavailable=False`` they raise :class:`CodecUnavailableError` instead. Everything
    is checked before the first image is coded (codec names, qualities, images).

    Args:
        codecs (str | PixelCodec | Sequence): Codec names of :data:`PIXEL_CODECS` and/or
            configured codec objects.
        images (Iterable[np.ndarray]): (H, W, 3) uint8 RGB images; sizes may differ. Read
            once into a list (a generator is fine; a single array is an error).
        qualities (None | Sequence[int] | Mapping[str, Sequence[int]]): None for each
            codec's default sweep; a mapping ``{name: [q, ...]}`` (missing names use the
            default); a plain sequence only when sweeping one codec. Defaults to None.
        keep_decoded (bool): Keep the decoded images in each point's ``decoded``. Set False
            with a ``callback`` to stream over a large set. Defaults to True.
        callback (callable, optional): Called as ``callback(codec, quality, index, decoded,
            num_bytes)`` for every decoded image, e.g. to run a detector. Defaults to None.
        skip_unavailable (bool): Skip (True) or raise for unavailable codecs.
            Defaults to True.

    Yields:
        SweepPoint: Per (codec, quality), in codec order then quality order; ``bpp`` is the
        total bits over the total input pixels of all images.
    """
    codec_objs = _as_codecs(codecs)
    if isinstance(qualities, Mapping):
        unknown = sorted(set(qualities) - {c.name for c in codec_objs})
        if unknown:
            raise ValueError(f'qualities names codecs that are not swept: {unknown}; swept: '
                             f'{[c.name for c in codec_objs]}')
    plan = [(c, _sweep_qualities(c, qualities, len(codec_objs) == 1)) for c in codec_objs]
    if isinstance(images, (np.ndarray, str, bytes)) or not isinstance(images, Iterable):
        raise TypeError('images must be a sequence (e.g. list) of (H, W, 3) uint8 arrays, '
                        f'got {type(images).__name__}')
    images = list(images)  # iterated once per (codec, quality)
    if len(images) == 0:
        raise ValueError('images is empty')
    images = [_check_image(img, f'images[{i}]') for i, img in enumerate(images)]
    if callback is not None and not callable(callback):
        raise TypeError(f'callback must be callable, got {type(callback).__name__}')
    num_pixels = sum(img.shape[0] * img.shape[1] for img in images)

    for codec, codec_qualities in plan:
        ok, reason = codec.available()
        if not ok:
            if not skip_unavailable:
                raise CodecUnavailableError(reason)
            logger.warning('skipping pixel codec %r: %s', codec.name, reason)
            continue
        for quality in codec_qualities:
            sizes, decoded = [], []
            for index, img in enumerate(images):
                rec, num_bytes = codec.roundtrip(img, quality)
                sizes.append(num_bytes)
                if keep_decoded:
                    decoded.append(rec)
                if callback is not None:
                    callback(codec.name, quality, index, rec, num_bytes)
            yield SweepPoint(codec=codec.name, quality=quality,
                             bpp=8.0 * sum(sizes) / num_pixels, num_bytes=sizes,
                             num_pixels=num_pixels, decoded=decoded if keep_decoded else None)
