"""Evaluation: measured bpp and per-object top-1 as mmengine metrics, BD-rate / BD-accuracy of
rate-accuracy curves.

The pixel-codec baselines moved to :mod:`mmdicm.baselines`, their pipeline transform to
:mod:`mmdicm.datasets.transforms` and the benchmarks to :mod:`mmdicm.benchmarks`; their old
names here still resolve, for one release, with a ``DeprecationWarning``, and are imported
only when asked for.
"""
import importlib
import warnings
from typing import Any, List

from .bd_metrics import (MIN_OVERLAP, MIN_POINTS, BDOverlapWarning, Curve, bd_metric, bd_rate,
                         bd_rate_bound, compare, equal_metric_rate)
from .bd_results import write_results
from .metrics import DICMBppMetric, PixelCodecBppMetric
from .region import RegionAccuracy

#: old name here -> the module it moved to
_MOVED = {
    **dict.fromkeys(('PIXEL_CODECS', 'AVIFCodec', 'CodecError', 'CodecUnavailableError',
                     'HEVCCodec', 'JPEGCodec', 'PixelCodec', 'SweepPoint', 'VVCCodec',
                     'WebPCodec', 'get_pixel_codec', 'pixel_codec_availability', 'sweep'),
                    'mmdicm.baselines'),
    'PixelCodecRoundtrip': 'mmdicm.datasets.transforms',
    **dict.fromkeys(('BENCHMARK_TARGETS', 'build_resnet_head', 'cpu_model', 'format_benchmark',
                     'parse_size', 'run_benchmark', 'TRAIN_STEP_TARGET', 'build_train_model',
                     'format_train_step_benchmark', 'make_detection_batch',
                     'run_train_step_benchmark', 'PIPELINE_TARGETS', 'build_detector',
                     'build_pixel_codec', 'fix_detection_workload', 'fixed_proposals',
                     'format_pipeline_benchmark', 'run_pipeline_benchmark'),
                    'mmdicm.benchmarks'),
}

__all__ = [
    'AVIFCodec', 'BDOverlapWarning', 'BENCHMARK_TARGETS', 'CodecError', 'CodecUnavailableError',
    'Curve', 'DICMBppMetric', 'HEVCCodec', 'JPEGCodec', 'MIN_OVERLAP', 'MIN_POINTS',
    'PIXEL_CODECS', 'PixelCodec', 'PixelCodecBppMetric', 'PixelCodecRoundtrip', 'SweepPoint',
    'VVCCodec', 'WebPCodec', 'bd_metric', 'bd_rate', 'bd_rate_bound', 'build_resnet_head',
    'compare', 'cpu_model', 'equal_metric_rate', 'format_benchmark', 'get_pixel_codec',
    'parse_size', 'pixel_codec_availability', 'run_benchmark', 'sweep', 'write_results',
    'TRAIN_STEP_TARGET', 'build_train_model', 'format_train_step_benchmark',
    'make_detection_batch', 'run_train_step_benchmark', 'PIPELINE_TARGETS', 'build_detector',
    'build_pixel_codec', 'fix_detection_workload', 'fixed_proposals',
    'format_pipeline_benchmark', 'run_pipeline_benchmark', 'RegionAccuracy'
]


def __getattr__(name: str) -> Any:
    """A moved name, from where it lives now (PEP 562), with a ``DeprecationWarning``."""
    if name not in _MOVED:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    warnings.warn(f'mmdicm.evaluation.{name} moved to {_MOVED[name]}.{name}; the old name '
                  'goes in the next release', DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(_MOVED[name]), name)


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_MOVED))
