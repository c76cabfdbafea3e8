"""The ``mmdicm::`` config scope: model-zoo inheritance from a user's own project.

A user's mmdet/mmpretrain project inherits mmdicm's configs by package scope, the ``.mim``
convention of mmdet's own package::

    _base_ = 'mmdicm::dicm/mask-rcnn_dicm.py'      # = configs/mask-rcnn_dicm.py of mmdicm
    model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))

Every file under the repository's ``configs/`` is reachable as ``mmdicm::dicm/<path>``
(``mmdicm/.mim/configs/dicm`` links to ``configs/`` in a checkout and is a copy in a wheel).
Nothing needs importing first: mmdicm's own tools, mmdet's and mmpretrain's stock
``tools/train.py``/``tools/test.py`` and ``Config.fromfile`` in any script all resolve it.
Three facts of mmengine 0.10.7 (``mmengine/config/utils.py``, ``mmengine/config/config.py``)
shape how:

- a scope path must match ``\\w*::\\w*/\\w*`` -- at least one folder -- so
  ``'mmdicm::mask-rcnn_dicm.py'`` cannot be resolved; hence the ``dicm/`` folder;
- the known scopes are a hard-coded table (``MODULE2PACKAGE``), consulted while the config's
  ``_base_`` list is parsed, i.e. *before* ``custom_imports`` run. mmengine reads no entry
  points or package metadata for it. So installing mmdicm (``pip install -e .`` as
  ``tools/setup/bootstrap.sh`` does, or a wheel) also installs ``mmdicm-mim-hook.pth``,
  which adds the entry when -- and only if -- a process imports ``mmengine.config.utils``
  (:mod:`mmdicm.mim_hook`: no import at interpreter start beyond that small file).
  ``import mmdicm`` adds it too (:func:`register_config_scope`), for a checkout used
  through ``PYTHONPATH`` without installing;
- the scope's package directory is found with ``pkg_resources``, which for an editable
  (PEP 660) install reports ``site-packages`` instead of the source tree. So the scope maps
  to this module's dotted name, which mmengine resolves with ``importlib``'s ``find_spec``
  (the path it takes when no distribution has that name): the directory of the imported
  ``mmdicm`` package, in an editable install and a regular one alike.
"""
from .mim_hook import SCOPE, register

__all__ = ['SCOPE', 'CONFIG_FOLDER', 'register_config_scope']

#: ``<SCOPE>::<CONFIG_FOLDER>/<path under configs/>``
CONFIG_FOLDER = 'dicm'


def register_config_scope() -> None:
    """Let mmengine resolve ``mmdicm::dicm/...`` base configs (idempotent)."""
    from mmengine.config import utils
    register(utils)

