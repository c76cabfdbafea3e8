"""High-level entry points behind the tools: ``make demo`` (:mod:`.demo`) and the edge /
receiver deployment tools ``tools/compress.py`` / ``tools/analyze.py`` (:mod:`.deploy`)."""
from .demo import DEMO_CONFIG, DEMO_METRICS, format_summary, learned, run_demo
from .deploy import (AnalyzeResult, BitAllocation, CompressResult, DeployError, DeployModel,
                     analyze_bitstreams, bit_allocation, compress_images,
                     inject_backbone_features, load_deploy_model, render_bit_map)

__all__ = ['AnalyzeResult', 'BitAllocation', 'CompressResult', 'DEMO_CONFIG', 'DEMO_METRICS',
           'DeployError', 'DeployModel', 'analyze_bitstreams', 'bit_allocation',
           'compress_images', 'format_summary', 'inject_backbone_features', 'learned',
           'load_deploy_model', 'render_bit_map', 'run_demo']
