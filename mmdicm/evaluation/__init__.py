"""Evaluation of mmdicm's codec: measured bpp as a metric, speed / compute benchmark."""
from .benchmark import (BENCHMARK_TARGETS, build_resnet_head, cpu_model, format_benchmark,
                        parse_size, run_benchmark)
from .metrics import DICMBppMetric

__all__ = ['BENCHMARK_TARGETS', 'DICMBppMetric', 'build_resnet_head', 'cpu_model',
           'format_benchmark', 'parse_size', 'run_benchmark']
