"""mmdicm: DICM (Tang, Yi, Wang, IEEE T-BC 2025) learned feature compression for OpenMMLab.

Importing this package only registers mmdicm's modules with the OpenMMLab registries; it
sets no environment variables, no multiprocessing start method and no global torch state.

``mmdicm.layers`` and ``mmdicm.codec`` need only torch, CompressAI and timm: without
mmengine/mmdet installed (e.g. in a detectron2 project) they import and work, and the
OpenMMLab glue (``mmdicm.engine``, ``mmdicm.models``) is simply not registered.
"""
from .version import __version__

try:
    import mmdet  # noqa: F401
    import mmengine  # noqa: F401
except ModuleNotFoundError as e:  # framework-free use; a broken install still raises
    if e.name not in ('mmdet', 'mmengine'):
        raise
    __all__ = ['__version__']
else:
    # register DICMRunner, the hooks, DICMResNet, DICMCodecNeck, DICMBppMetric,
    # SemanticGuidedCrop, ...
    from . import engine, evaluation, models  # noqa: F401
    from .datasets import transforms  # noqa: F401
    from .mim import register_config_scope
    register_config_scope()  # `_base_ = 'mmdicm::dicm/...'` in users' configs (see mim.py)
    __all__ = ['__version__', 'engine', 'evaluation', 'models']
