"""The ``mmdicm::`` config scope: model-zoo inheritance from a user's own project.

A user's mmdet/mmpretrain project inherits mmdicm's configs by package scope, the ``.mim``
convention of mmdet's own package::

    _base_ = 'mmdicm::dicm/mask-rcnn_dicm.py'      # = configs/mask-rcnn_dicm.py of mmdicm
    model = dict(roi_head=dict(bbox_head=dict(num_classes=3)))

Every file under the repository's ``configs/`` is reachable as ``mmdicm::dicm/<path>``
(``mmdicm/.mim/configs/dicm`` links to ``configs/`` in a checkout and is a copy in a wheel).
Nothing needs importing first: mmdicm's own tools, mmdet's and mmpretrain's stock
``tools/train.py``/``tools/test.py`` and ``Config.fromfile`` in any script all resolve it.
Four facts of mmengine 0.10.7 (``mmengine/config/utils.py``, ``mmengine/config/config.py``)
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
  ``mmdicm`` package, in an editable install and a regular one alike;
- mmengine tags every dict with a ``type`` that a config loaded through a scope defines
  with ``_scope_='<scope>'`` (unless it has one), and builds it in that scope's registries.
  mmdicm has no registries of its own: its modules register into mmengine's root
  registries, which the ``mmdet`` and ``mmpretrain`` scopes both search, so the same
  backbone, hooks and metric serve both. A ``_scope_='mmdicm'`` would send ``CocoMetric``
  or ``CustomDataset`` to a registry that lacks them (``KeyError: 'CocoMetric is not in the
  mmengine::metric registry'``, after a warning that tells to ``pip install mmdicm.mim``).
  :func:`drop_scope_tags` removes exactly those tags, so every dict builds in the config's
  ``default_scope``, as when the config is used in place. :class:`~mmdicm.engine.DICMRunner`
  (every mmdicm config's ``runner_type``, honoured by the stock tools) applies it before
  it builds anything, and so do mmdicm's tools. (Writing ``_scope_='mmdet'`` into every
  type dict of every config file instead would take well over a hundred tags, and cannot
  work for ``collate_fn``: mmengine passes any ``_scope_`` on to the collate function.)
  A script that builds parts of an inherited config itself, without a Runner, calls
  ``drop_scope_tags(cfg)`` after ``Config.fromfile``.
"""
from typing import Any, TypeVar

from .mim_hook import SCOPE, register

__all__ = ['SCOPE', 'CONFIG_FOLDER', 'register_config_scope', 'drop_scope_tags']

#: ``<SCOPE>::<CONFIG_FOLDER>/<path under configs/>``
CONFIG_FOLDER = 'dicm'

_Cfg = TypeVar('_Cfg')


def register_config_scope() -> None:
    """Let mmengine resolve ``mmdicm::dicm/...`` base configs (idempotent)."""
    from mmengine.config import utils
    register(utils)


def drop_scope_tags(cfg: _Cfg) -> _Cfg:
    """Remove, in place, every ``_scope_='mmdicm'`` key from a config (see the module
    docstring); other scopes (``'mmdet'``, ``'mmpretrain'`` of model-zoo bases) stay.

    Args:
        cfg (Config | dict | list): A config, or any part of one.

    Returns:
        The same object, for chaining: ``cfg = drop_scope_tags(Config.fromfile(path))``.
    """
    # a Config has no __delitem__: walk its ConfigDict
    _drop(getattr(cfg, '_cfg_dict', cfg), set())
    return cfg


def _drop(node: Any, seen: set) -> None:
    if id(node) in seen:
        return
    if isinstance(node, dict):  # dict, ConfigDict
        seen.add(id(node))
        if node.get('_scope_') == SCOPE:
            del node['_scope_']
        for value in list(dict.values(node)):  # raw values (a ConfigDict builds lazy ones)
            _drop(value, seen)
    elif isinstance(node, (list, tuple)):
        seen.add(id(node))
        for item in node:
            _drop(item, seen)
