"""Evaluation: measured bpp as a metric, pixel-codec baselines, BD-rate / BD-accuracy, and
the speed / compute benchmark against CompressAI and JPEG."""
from ..baselines import (PIXEL_CODECS, AVIFCodec, CodecError, CodecUnavailableError, HEVCCodec,
                         JPEGCodec, PixelCodec, SweepPoint, VVCCodec, WebPCodec, get_pixel_codec,
                         pixel_codec_availability, sweep)
from .bd_metrics import (MIN_OVERLAP, MIN_POINTS, BDOverlapWarning, Curve, bd_metric, bd_rate,
                         compare, write_results)
from .benchmark import (BENCHMARK_TARGETS, build_resnet_head, cpu_model, format_benchmark,
                        parse_size, run_benchmark)
from .codec_transform import PixelCodecRoundtrip
from .metrics import DICMBppMetric, PixelCodecBppMetric
from .train_step_benchmark import (TRAIN_STEP_TARGET, build_train_model,
                                   format_train_step_benchmark, make_detection_batch,
                                   run_train_step_benchmark)
from .pipeline_benchmark import (PIPELINE_TARGETS, build_detector, build_pixel_codec,
                                 fix_detection_workload, fixed_proposals,
                                 format_pipeline_benchmark, run_pipeline_benchmark)

__all__ = [
    'AVIFCodec', 'BDOverlapWarning', 'BENCHMARK_TARGETS', 'CodecError', 'CodecUnavailableError',
    'Curve', 'DICMBppMetric', 'HEVCCodec', 'JPEGCodec', 'MIN_OVERLAP', 'MIN_POINTS',
    'PIXEL_CODECS', 'PixelCodec', 'PixelCodecBppMetric', 'PixelCodecRoundtrip', 'SweepPoint',
    'VVCCodec', 'WebPCodec', 'bd_metric', 'bd_rate',
    'build_resnet_head', 'compare', 'cpu_model', 'format_benchmark', 'get_pixel_codec',
    'parse_size', 'pixel_codec_availability', 'run_benchmark', 'sweep', 'write_results',
    'TRAIN_STEP_TARGET', 'build_train_model', 'format_train_step_benchmark',
    'make_detection_batch', 'run_train_step_benchmark', 'PIPELINE_TARGETS', 'build_detector',
    'build_pixel_codec', 'fix_detection_workload', 'fixed_proposals',
    'format_pipeline_benchmark', 'run_pipeline_benchmark'
]
