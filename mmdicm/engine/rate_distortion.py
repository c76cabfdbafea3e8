"""Moved to :mod:`mmdicm.engine.hooks.rate_distortion_hook`; this alias goes in the next release."""
import warnings

from .hooks.rate_distortion_hook import *  # noqa: F401,F403
from .hooks.rate_distortion_hook import __all__  # noqa: F401

warnings.warn('mmdicm.engine.rate_distortion moved to mmdicm.engine.hooks.rate_distortion_hook',
              DeprecationWarning, stacklevel=2)
