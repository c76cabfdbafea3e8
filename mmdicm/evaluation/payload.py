"""Moved to :mod:`mmdicm.baselines.payload`; this alias goes in the next release."""
import warnings

from ..baselines.payload import *  # noqa: F401,F403
from ..baselines.payload import __all__  # noqa: F401

warnings.warn('mmdicm.evaluation.payload moved to mmdicm.baselines.payload',
              DeprecationWarning, stacklevel=2)
