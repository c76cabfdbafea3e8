"""Moved to :mod:`mmdicm.baselines`; this alias goes in the next release."""
import warnings

from ..baselines import *  # noqa: F401,F403
from ..baselines import __all__  # noqa: F401

warnings.warn('mmdicm.evaluation.pixel_codecs moved to mmdicm.baselines',
              DeprecationWarning, stacklevel=2)
