"""Moved to :mod:`mmdicm.apis.launch`; this alias goes in the next release."""
import warnings

from ..apis.launch import *  # noqa: F401,F403
from ..apis.launch import __all__  # noqa: F401

warnings.warn('mmdicm.engine.launch moved to mmdicm.apis.launch', DeprecationWarning, stacklevel=2)
