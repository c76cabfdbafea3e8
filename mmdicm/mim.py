"""The ``mmdicm::`` config scope: ``_base_ = 'mmdicm::dicm/<path under configs/>'`` from a
user's own project, under mmdicm's tools, mmdet's and mmpretrain's stock tools and
``Config.fromfile`` alike, with nothing imported first. :func:`register_config_scope` adds
the scope to mmengine's table (the installed start-up hook :mod:`mmdicm.mim_hook` does it
when mmengine's config module loads); :func:`drop_scope_tags` lets inherited configs build
in their default scope. Why it takes both, against mmengine 0.10.7: ``docs/configs.md``.
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
