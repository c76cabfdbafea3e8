"""``PixelCodecRoundtrip``: a pixel-codec baseline inside a stock mmdet / mmpretrain pipeline.

The classic route the DICM paper compares with -- code the image, decode it, run the task
model on the decoded image -- as one data transform, so the *same* test loop, model and
metric evaluate every baseline. The codecs (:mod:`mmdicm.baselines`) are imported when a
transform is built, not when this module registers it.
"""
from typing import TYPE_CHECKING, Any, Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

if TYPE_CHECKING:
    from ...baselines import PixelCodec

__all__ = ['PixelCodecRoundtrip']


@TRANSFORMS.register_module()
class PixelCodecRoundtrip(BaseTransform):
    """Replace ``results['img']`` by its pixel-codec round trip; record the coded bits::

        LoadImageFromFile ─► Resize ─► PixelCodecRoundtrip(codec, quality) ─► Pack*Inputs ─► model
                                       │ img := decode(encode(img))
                                       ├ codec_bits := 8 * len(bytes)  ─► PixelCodecBppMetric
                                       └ codec_payload_bits := 8 * payload bytes (no headers)

    Put it after the geometric transforms and before the Pack transform, and add
    ``'codec_bits'`` and ``'codec_payload_bits'`` to the Pack transform's ``meta_keys``
    (``mmdicm.apis.rate_sweep.with_pixel_codec`` does both for a config). The image is coded
    at the size the model sees (after the resize), as DICM codes the model input, so both
    rates are bits per model-input pixel. The pipeline's images are BGR (mmcv's loading
    convention); the codec is given RGB. Transforms that change pixels after the round trip
    would change what was coded: the transform refuses nothing, but geometric transforms
    belong before it.

    Args:
        codec (str): A name of :data:`~mmdicm.baselines.PIXEL_CODECS` ('jpeg', 'webp',
            'avif', 'hevc', 'vvc').
        quality (int): The codec's quality parameter (JPEG quality, HEVC/VVC QP, ...).
        codec_kwargs (dict, optional): Options of the codec's wrapper (e.g. ``preset``).
            Defaults to None.

    Required keys: ``img`` ((H, W, 3) uint8, BGR). Modified keys: ``img``. Added keys:
    ``codec_bits`` (int: the whole coded file), ``codec_payload_bits`` (int: its
    entropy-coded payload, :meth:`~mmdicm.baselines.PixelCodec.payload_bytes`), ``codec``
    (str), ``codec_quality`` (int).

    Raises:
        ValueError: Unknown codec, or a quality outside the codec's range (at construction).
        CodecUnavailableError: The codec's backend is missing here (at construction, not at
            the first image).
    """

    def __init__(self, codec: str, quality: int, codec_kwargs: Optional[dict] = None) -> None:
        from ...baselines import get_pixel_codec

        self.codec: 'PixelCodec' = get_pixel_codec(codec, **(codec_kwargs or {}))
        self.quality = self.codec.check_quality(quality)
        self.codec.check_available()

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        img = results.get('img')
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 \
                or img.dtype != np.uint8:
            got = (f'{img.dtype} array of shape {img.shape}' if isinstance(img, np.ndarray)
                   else type(img).__name__)
            raise ValueError(f"PixelCodecRoundtrip needs results['img'] as an (H, W, 3) uint8 "
                             f"BGR image (put it after LoadImageFromFile and Resize), got {got}")
        rgb = np.ascontiguousarray(img[..., ::-1])
        data = self.codec.encode(rgb, self.quality)
        decoded = self.codec.decode(data, size=rgb.shape[:2])
        results['img'] = np.ascontiguousarray(decoded[..., ::-1])
        results['codec_bits'] = 8 * len(data)
        results['codec_payload_bits'] = 8 * self.codec.payload_bytes(data)
        results['codec'] = self.codec.name
        results['codec_quality'] = self.quality
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(codec={self.codec.name!r}, quality={self.quality})'
