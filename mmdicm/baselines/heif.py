"""HEVC intra in HEIF through pillow-heif (libheif + x265, decoded by libde265): BPG's core coder.

Settings and byte counts: ``docs/baselines.md``.
"""
import io

import numpy as np

from .base import (CodecError, CodecUnavailableError, PixelCodec, register_pixel_codec,
                   to_rgb_array)

__all__ = ['HEVCCodec']


@register_pixel_codec
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
            return to_rgb_array(heif.to_pillow())
        except (RuntimeError, ValueError, OSError, SyntaxError) as e:
            raise CodecError(f'hevc: cannot decode {len(data)} bytes: {e}') from e
