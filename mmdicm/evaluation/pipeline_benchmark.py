"""Moved to :mod:`mmdicm.benchmarks`; this alias goes in the next release."""
import warnings

from ..benchmarks import *  # noqa: F401,F403
from ..benchmarks import __all__  # noqa: F401

warnings.warn('mmdicm.evaluation.pipeline_benchmark moved to mmdicm.benchmarks',
              DeprecationWarning, stacklevel=2)
