"""Evaluation of mmdicm's codec: speed / compute benchmark against CompressAI and JPEG."""
from .benchmark import (BENCHMARK_TARGETS, build_resnet_head, cpu_model, format_benchmark,
                        parse_size, run_benchmark)

__all__ = ['BENCHMARK_TARGETS', 'build_resnet_head', 'cpu_model', 'format_benchmark',
           'parse_size', 'run_benchmark']
