"""Moved to :mod:`mmdicm.apis.config_types`; this alias goes in the next release."""
import warnings

from ..apis.config_types import *  # noqa: F401,F403
from ..apis.config_types import __all__  # noqa: F401

warnings.warn('mmdicm.engine.config_types moved to mmdicm.apis.config_types', DeprecationWarning, stacklevel=2)
