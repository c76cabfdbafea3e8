"""Moved to :mod:`mmdicm.engine.hooks.semantic_box_hook`; this alias goes in the next release."""
import warnings

from .hooks.semantic_box_hook import *  # noqa: F401,F403
from .hooks.semantic_box_hook import __all__  # noqa: F401

warnings.warn('mmdicm.engine.box_hook moved to mmdicm.engine.hooks.semantic_box_hook',
              DeprecationWarning, stacklevel=2)
