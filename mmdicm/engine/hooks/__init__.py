"""mmengine hooks of mmdicm, one per file: the rate terms (:class:`RateLossHook`) and the
training stages' rate-distortion terms (:class:`RateDistortionLossHook`), fresh entropy
tables (:class:`EntropyUpdateHook`), real-bitstream sizes (:class:`BitstreamRecordHook`), a
feature-domain baseline's round trip (:class:`FeatureCodecRoundtripHook`) and the channel
basis it may reduce with (:class:`FeatureStatsHook`),
and the SSL stage's semantic boxes (:class:`SemanticBoxHook`). What they share:
:mod:`.codec_hook`. How they fit the loss dict and the optimizer: ``docs/training.md``."""
from .bitstream_record_hook import BitstreamRecordHook
from .codec_hook import (AUX_PARAM_KEY, CodecForwardHook, find_codec_modules, likelihood_bpp,
                         unwrap_model)
from .entropy_update_hook import EntropyUpdateHook
from .feature_codec_hook import FeatureCodecRoundtripHook, FeatureStatsHook
from .rate_distortion_hook import RateDistortionLossHook, feature_distortion, normalized_mse
from .rate_loss_hook import RateLossHook
from .semantic_box_hook import SemanticBoxHook, compute_semantic_boxes

__all__ = ['AUX_PARAM_KEY', 'BitstreamRecordHook', 'CodecForwardHook', 'EntropyUpdateHook',
           'FeatureCodecRoundtripHook', 'FeatureStatsHook', 'RateDistortionLossHook',
           'RateLossHook', 'SemanticBoxHook',
           'compute_semantic_boxes', 'feature_distortion', 'find_codec_modules',
           'likelihood_bpp', 'normalized_mse', 'unwrap_model']
