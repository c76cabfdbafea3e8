"""High-level entry points behind the tools: ``make demo`` (:mod:`.demo`), the edge /
receiver deployment tools ``tools/compress.py`` / ``tools/analyze.py`` (:mod:`.deploy`) and
the rate sweep ``tools/rate_sweep.py`` (:mod:`.rate_sweep`)."""
from .demo import DEMO_CONFIG, DEMO_METRICS, format_summary, learned, run_demo
from .deploy import (AnalyzeResult, BitAllocation, CompressResult, DeployError, DeployModel,
                     analyze_bitstreams, bit_allocation, compress_images,
                     inject_backbone_features, load_deploy_model, render_bit_map)
from .rate_sweep import (SWEEP_TASKS, SweepError, SweepResult, SweepTask, format_sweep_summary,
                         merge_codec_checkpoint, run_rate_sweep, with_pixel_codec)

__all__ = ['AnalyzeResult', 'BitAllocation', 'CompressResult', 'DEMO_CONFIG', 'DEMO_METRICS',
           'DeployError', 'DeployModel', 'analyze_bitstreams', 'bit_allocation',
           'compress_images', 'format_summary', 'inject_backbone_features', 'learned',
           'load_deploy_model', 'render_bit_map', 'run_demo', 'SWEEP_TASKS', 'SweepError',
           'SweepResult', 'SweepTask', 'format_sweep_summary', 'merge_codec_checkpoint',
           'run_rate_sweep', 'with_pixel_codec']
