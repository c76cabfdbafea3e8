"""Measured bits per pixel as an mmengine metric, next to the task metrics of the same pass.

:class:`DICMBppMetric` sums the ``dicm_bits`` that :class:`~mmdicm.engine.BitstreamRecordHook`
tags every prediction of a real-coding forward with (8 x its container bytes: header, CRC,
entropy-coded sections) and divides by the pixels of the images the codec was given
(``img_shape``: after the pipeline's resize, before batch padding)::

    model = dict(backbone=dict(real_coding=True))
    val_evaluator = [_base_.val_evaluator, dict(type='DICMBppMetric')]   # dicm/bpp, ...

:class:`PixelCodecBppMetric` is the same count for the pixel-codec baselines, whose
:class:`~mmdicm.datasets.transforms.PixelCodecRoundtrip` tags each test image with
``codec_bits``. With payload bits on every prediction (the entropy-coded part alone, see
``docs/baselines.md``), ``payload_bpp`` is reported beside ``bpp``.
"""
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

__all__ = ['DICMBppMetric', 'PixelCodecBppMetric']


class _BppMetric(BaseMetric):
    """Sum ``bits_key`` over the predictions, divide by their ``img_shape`` pixels."""

    bits_key: str = ''
    payload_key: str = ''
    missing_hint: str = ''

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        for sample in data_samples:
            bits = sample.get(self.bits_key)
            if bits is None:
                raise RuntimeError(f'{type(self).__name__}: a prediction carries no '
                                   f'{self.bits_key!r}. {self.missing_hint}')
            shape = sample.get('img_shape')
            if shape is None:
                raise RuntimeError(f"{type(self).__name__}: a prediction has no 'img_shape' in "
                                   'its metainfo (the pixels bpp is counted over)')
            payload = sample.get(self.payload_key)
            self.results.append((int(bits), int(shape[0]) * int(shape[1]),
                                 None if payload is None else int(payload)))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        bits = sum(r[0] for r in results)
        pixels = sum(r[1] for r in results)
        metrics = dict(bpp=bits / pixels, bytes_per_image=bits / 8 / len(results),
                       num_images=len(results))
        if results and all(r[2] is not None for r in results):
            metrics['payload_bpp'] = sum(r[2] for r in results) / pixels
        return metrics


@METRICS.register_module()
class DICMBppMetric(_BppMetric):
    """Bits per input pixel measured on real bitstreams.

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``, where ranks gather results.
        prefix (str): Metric name prefix. Defaults to ``'dicm'``.

    Reports ``bpp`` (total bits / total pixels of the evaluated images), ``bytes_per_image``
    (mean container size), ``num_images`` and ``payload_bpp`` (entropy-coded strings only,
    when :class:`~mmdicm.engine.BitstreamRecordHook` tagged them).
    """

    default_prefix: Optional[str] = 'dicm'
    bits_key = 'dicm_bits'
    payload_key = 'dicm_payload_bits'
    missing_hint = ('Measured bpp needs real coding at evaluation: set '
                    "model.backbone.real_coding=True and add dict(type='BitstreamRecordHook') "
                    "to custom_hooks (mmdicm's configs do both)")


@METRICS.register_module()
class PixelCodecBppMetric(_BppMetric):
    """Bits per input pixel of a pixel-codec baseline (bytes of the coded test images).

    Args:
        collect_device (str): ``'cpu'`` or ``'gpu'``, where ranks gather results.
        prefix (str): Metric name prefix. Defaults to ``'codec'``.

    Reports ``bpp``, ``bytes_per_image``, ``num_images`` and ``payload_bpp`` (when the
    transform's ``codec_payload_bits`` reached the predictions), like :class:`DICMBppMetric`.
    """

    default_prefix: Optional[str] = 'codec'
    bits_key = 'codec_bits'
    payload_key = 'codec_payload_bits'
    missing_hint = ("Add dict(type='PixelCodecRoundtrip', codec=..., quality=...) to the test "
                    "pipeline before the Pack transform, and 'codec_bits' to its meta_keys "
                    '(mmdicm.apis.rate_sweep.with_pixel_codec does both)')
