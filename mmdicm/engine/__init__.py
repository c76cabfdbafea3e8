"""Training machinery on top of mmengine: Runner with safe checkpoint loading (hooks follow)."""
from .checkpoint import (checkpoint_safe_globals, load_trusted_checkpoint,
                         mmengine_checkpoint_globals)
from .runner import DICMRunner

__all__ = ['DICMRunner', 'checkpoint_safe_globals', 'load_trusted_checkpoint',
           'mmengine_checkpoint_globals']
