"""The codecs Pillow writes and reads: JPEG (libjpeg-turbo), lossy WebP (libwebp), AVIF (libavif).

Settings and byte counts of each: ``docs/baselines.md``.
"""
import io
from typing import ClassVar

import numpy as np

from ..utils import check_int
from .base import (CodecError, CodecUnavailableError, PixelCodec, register_pixel_codec,
                   to_rgb_array)

__all__ = ['PillowCodec', 'JPEGCodec', 'WebPCodec', 'AVIFCodec']


class PillowCodec(PixelCodec):
    """A codec Pillow writes and reads (``feature`` names it in ``PIL.features``).

    Subclasses set ``pil_format`` and ``feature`` and implement ``_save_options``.
    """
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
                return to_rgb_array(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise CodecError(f'{self.name}: cannot decode {len(data)} bytes: {e}') from e


@register_pixel_codec
class JPEGCodec(PillowCodec):
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


@register_pixel_codec
class WebPCodec(PillowCodec):
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
        self.method = check_int('method', method, 0, 6, strict=True)

    def _save_options(self, quality: int) -> dict:
        return dict(quality=quality, lossless=False, method=self.method, exact=False)


@register_pixel_codec
class AVIFCodec(PillowCodec):
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
        self.speed = check_int('speed', speed, 0, 10, strict=True)
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
