"""Moved to :mod:`mmdicm.apis.ssl_pipeline`; this alias goes in the next release."""
import warnings

from ..apis.ssl_pipeline import *  # noqa: F401,F403
from ..apis.ssl_pipeline import __all__  # noqa: F401

warnings.warn('mmdicm.engine.ssl_pipeline moved to mmdicm.apis.ssl_pipeline', DeprecationWarning, stacklevel=2)
