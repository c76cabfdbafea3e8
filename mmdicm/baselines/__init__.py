"""Pixel-codec baselines for rate-accuracy curves: code an image, decode it, count the bytes::

    RGB uint8 ─► encode(img, quality) ─► bytes ─► decode(bytes) ─► RGB uint8 ─► task model
                                           └─► bpp = 8 * len(bytes) / (H * W)  (input pixels)

One file per family: :mod:`.pillow` (jpeg, webp, avif), :mod:`.heif` (hevc), :mod:`.vvc`
(vvc), :mod:`.learned` (mbt2018-mean, trained here by :mod:`.learned_training`), on the
:class:`PixelCodec` base and registry of :mod:`.base`; :mod:`.payload` counts the
entropy-coded part of a file, :mod:`.sweep` runs codecs over images. Not imported by
``import mmdicm``. Codecs, settings and byte counts: ``docs/baselines.md``. The
feature-domain anchor (split features packed into a frame, coded by VVC) is
:mod:`.feature_vvc` (:data:`FEATURE_CODECS`).
"""
from .base import (PIXEL_CODECS, CodecError, CodecUnavailableError, PixelCodec, bpp,
                   get_pixel_codec, pixel_codec_availability, register_pixel_codec)
from .payload import PayloadError, payload_size
# the families, in registration (= PIXEL_CODECS) order
from .pillow import AVIFCodec, JPEGCodec, PillowCodec, WebPCodec  # isort: skip
from .heif import HEVCCodec  # isort: skip
from .vvc import VVCCodec  # isort: skip
from .learned import LearnedCodec, MBT2018MeanCodec  # isort: skip
from .sweep import SweepPoint, sweep
from .feature_vvc import (FEATURE_CODECS, ChannelPCA, ChannelStats, FeatureVVCCodec,
                          FeatureVVCFPNCodec, FeatureVVCPCACodec, get_feature_codec)

__all__ = [
    'CodecError', 'CodecUnavailableError', 'PixelCodec', 'PillowCodec', 'JPEGCodec',
    'WebPCodec', 'AVIFCodec', 'HEVCCodec', 'VVCCodec', 'PIXEL_CODECS', 'register_pixel_codec',
    'get_pixel_codec', 'pixel_codec_availability', 'bpp', 'SweepPoint', 'sweep',
    'PayloadError', 'payload_size', 'LearnedCodec', 'MBT2018MeanCodec', 'FEATURE_CODECS',
    'FeatureVVCCodec', 'FeatureVVCFPNCodec', 'FeatureVVCPCACodec', 'ChannelPCA',
    'ChannelStats', 'get_feature_codec'
]
