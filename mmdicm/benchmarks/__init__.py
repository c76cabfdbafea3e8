"""Speed and compute benchmarks of DICM against CompressAI codecs and JPEG (CPU).

Not imported by ``import mmdicm`` nor by any other mmdicm module: like
``compressai.utils.bench``, they are run by ``tools/benchmark_*.py``:

- :mod:`.codec`: the codec alone (edge and receiver), beside mbt2018-mean and JPEG;
- :mod:`.entropy_models`: the two entropy models of y (hyperprior, context_mixture);
- :mod:`.components`: parameters and GFLOPs of every block (``docs/components.md``);
- :mod:`.pipeline` (+ :mod:`.pipeline_report`): bitstream -> predictions and image -> bytes
  with a stock Mask R-CNN behind every codec;
- :mod:`.train_step`: one training step of a DICM detector beside the stock one;
- :mod:`.detection` and :mod:`.utils`: what they share. Protocols and measured numbers:
  ``docs/benchmarks.md``.
"""
from .codec import BENCHMARK_TARGETS, build_resnet_head, format_benchmark, run_benchmark
from .components import (COMPONENT_ROWS, build_component_model, component_table,
                         format_component_table)
from .entropy_models import format_entropy_model_benchmark, run_entropy_model_benchmark
from .detection import (DICM_DETECTOR_CONFIG, STOCK_DETECTOR_CONFIG, backbone_returns,
                        build_detector, fix_detection_workload, fixed_proposals,
                        make_detection_batch, record_proposals)
from .pipeline import (PIPELINE_PRESET_LIMITS, PIPELINE_TARGETS, PIPELINES, build_pixel_codec,
                       pipeline_targets, run_pipeline_benchmark, run_preset_comparison)
from .pipeline_report import format_pipeline_benchmark, format_preset_comparison
from .train_step import (DICM_CONFIG, STOCK_CONFIG, TRAIN_STEP_TARGET, build_train_model,
                         format_train_step_benchmark, profile_codec_step, resolve_config,
                         run_train_step_benchmark, share_weights)
from .utils import cpu_model, parse_size, print_result

__all__ = [
    # codec
    'BENCHMARK_TARGETS', 'build_resnet_head', 'run_benchmark', 'format_benchmark',
    'run_entropy_model_benchmark', 'format_entropy_model_benchmark',
    # components
    'COMPONENT_ROWS', 'build_component_model', 'component_table', 'format_component_table',
    # pipeline
    'PIPELINE_TARGETS', 'PIPELINE_PRESET_LIMITS', 'pipeline_targets', 'PIPELINES',
    'DICM_DETECTOR_CONFIG', 'STOCK_DETECTOR_CONFIG',
    'build_pixel_codec', 'run_pipeline_benchmark', 'format_pipeline_benchmark',
    'run_preset_comparison', 'format_preset_comparison',
    # training step
    'DICM_CONFIG', 'STOCK_CONFIG', 'TRAIN_STEP_TARGET', 'resolve_config', 'build_train_model',
    'make_detection_batch', 'share_weights', 'profile_codec_step', 'run_train_step_benchmark',
    'format_train_step_benchmark',
    # shared
    'build_detector', 'fix_detection_workload', 'backbone_returns', 'fixed_proposals',
    'record_proposals', 'parse_size', 'cpu_model', 'print_result'
]
