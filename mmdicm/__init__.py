"""mmdicm: DICM (Tang, Yi, Wang, IEEE T-BC 2025) learned feature compression for OpenMMLab.

Importing this package only registers mmdicm's modules with the OpenMMLab registries; it
sets no environment variables, no multiprocessing start method and no global torch state.
"""
from . import engine, models  # noqa: F401  (register DICMRunner, DICMResNet, ...)
from .version import __version__

__all__ = ['__version__', 'engine', 'models']
