"""The rate sweep behind ``tools/rate_sweep.py``: DICM at several λ against pixel codecs in
one task pipeline, with BD-rate. Protocol, diagram and files: ``docs/rate_sweep.md``."""
from .configs import with_feature_codec, with_pixel_codec
from .curve import PLATEAU_GAIN, plateau, read_learning_curve
from .report import RATES, SweepResult, format_sweep_markdown, format_sweep_summary
from .runs import merge_codec_checkpoint, merge_edge_checkpoint
from .sweep import run_rate_sweep
from .tasks import (DEFAULT_LAMBDAS, DEFAULT_LEARNED_LAMBDAS, DEFAULT_QUALITIES, LEARNED_CODECS,
                    SWEEP_TASKS, SecondTask, SweepError, SweepTask)

__all__ = ['DEFAULT_LAMBDAS', 'DEFAULT_LEARNED_LAMBDAS', 'DEFAULT_QUALITIES', 'LEARNED_CODECS',
           'PLATEAU_GAIN', 'RATES', 'SWEEP_TASKS', 'SecondTask', 'SweepError', 'SweepResult',
           'SweepTask', 'format_sweep_markdown', 'format_sweep_summary',
           'merge_codec_checkpoint', 'merge_edge_checkpoint', 'plateau',
           'read_learning_curve', 'run_rate_sweep', 'with_feature_codec', 'with_pixel_codec']
