"""Moved to :mod:`mmdicm.apis.heatmaps`; this alias goes in the next release."""
import warnings

from ..apis.heatmaps import *  # noqa: F401,F403
from ..apis.heatmaps import __all__  # noqa: F401

warnings.warn('mmdicm.engine.heatmaps moved to mmdicm.apis.heatmaps', DeprecationWarning, stacklevel=2)
