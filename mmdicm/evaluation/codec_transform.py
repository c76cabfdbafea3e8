"""Moved to :mod:`mmdicm.datasets.transforms`; this alias goes in the next release."""
import warnings

from ..datasets.transforms import *  # noqa: F401,F403
from ..datasets.transforms import __all__  # noqa: F401

warnings.warn('mmdicm.evaluation.codec_transform moved to mmdicm.datasets.transforms',
              DeprecationWarning, stacklevel=2)
