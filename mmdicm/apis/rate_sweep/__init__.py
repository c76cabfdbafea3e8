"""The rate sweep behind ``tools/rate_sweep.py``: DICM at several λ against pixel codecs in
one task pipeline, with BD-rate. Protocol, diagram and files: ``docs/rate_sweep.md``."""
from .configs import with_pixel_codec
from .report import RATES, SweepResult, format_sweep_markdown, format_sweep_summary
from .runs import merge_codec_checkpoint
from .sweep import run_rate_sweep
from .tasks import DEFAULT_LAMBDAS, DEFAULT_QUALITIES, SWEEP_TASKS, SweepError, SweepTask

__all__ = ['DEFAULT_LAMBDAS', 'DEFAULT_QUALITIES', 'RATES', 'SWEEP_TASKS', 'SweepError',
           'SweepResult', 'SweepTask', 'format_sweep_markdown', 'format_sweep_summary',
           'merge_codec_checkpoint', 'run_rate_sweep', 'with_pixel_codec']
