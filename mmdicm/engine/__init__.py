"""Training machinery on top of mmengine: Runner with safe checkpoint loading, rate and
bitstream hooks, the semantic-box refresh hook of the SSL stage."""
from .checkpoint import (checkpoint_safe_globals, load_trusted_checkpoint,
                         mmengine_checkpoint_globals)
from .hooks import (AUX_PARAM_KEY, BitstreamRecordHook, EntropyUpdateHook,
                    FeatureCodecRoundtripHook, FeatureStatsHook,
                    RateDistortionLossHook, RateLossHook, SemanticBoxHook,
                    compute_semantic_boxes, feature_distortion, find_codec_modules,
                    likelihood_bpp, unwrap_model)
from .optim import DICMOptimWrapper, DICMOptimWrapperConstructor, is_aux_parameter
from .pretrained import DICMPretrainedInit
from .runner import DICMRunner, ExitWithParent

__all__ = ['AUX_PARAM_KEY', 'BitstreamRecordHook', 'DICMOptimWrapper',
           'DICMOptimWrapperConstructor', 'DICMPretrainedInit', 'DICMRunner',
           'EntropyUpdateHook', 'ExitWithParent', 'FeatureCodecRoundtripHook', 'FeatureStatsHook',
           'RateDistortionLossHook', 'RateLossHook',
           'SemanticBoxHook', 'checkpoint_safe_globals', 'compute_semantic_boxes',
           'feature_distortion', 'is_aux_parameter', 'find_codec_modules', 'likelihood_bpp',
           'load_trusted_checkpoint', 'mmengine_checkpoint_globals', 'unwrap_model']
