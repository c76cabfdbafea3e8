"""Start-up hook: mmengine learns the ``mmdicm::`` config scope before any config is parsed.

setup.py installs a copy of this file as ``site-packages/_mmdicm_mim_hook.py`` next to
``mmdicm-mim-hook.pth``, whose one line Python's ``site`` module runs at interpreter start::

    import _mmdicm_mim_hook; _mmdicm_mim_hook.install()

:func:`install` only puts a :class:`ScopeFinder` at the front of ``sys.meta_path``: it imports
nothing (standard library only, no torch, no mmengine). The finder declines every import
except ``mmengine.config.utils``; that one it lets the regular finders load, and adds
``'mmdicm': 'mmdicm.mim'`` to the module's ``MODULE2PACKAGE`` table right after it has run.
So stock tools (mmdet's and mmpretrain's ``tools/train.py``) resolve
``_base_ = 'mmdicm::dicm/...'`` without importing mmdicm first. Why the table and why that
value: :mod:`mmdicm.mim`. The same pattern (a one-shot meta-path finder that amends a module
after it loads) is how virtualenv's ``_virtualenv.pth`` patches distutils.

This file must stay importable on its own (it is copied out of the package): standard
library only, no relative imports, and nothing imported at start that ``python -c pass`` does
not load anyway (``typing`` alone would cost more than the whole hook; annotations are
strings).
"""
import sys

__all__ = ['SCOPE', 'PACKAGE', 'TARGET', 'ScopeFinder', 'register', 'install']

#: the scope users write before ``::`` (kept equal to :data:`mmdicm.mim.SCOPE` by a test)
SCOPE = 'mmdicm'
#: what mmengine resolves the scope's package directory from (see :mod:`mmdicm.mim`)
PACKAGE = 'mmdicm.mim'
#: the module that holds ``MODULE2PACKAGE``
TARGET = 'mmengine.config.utils'


def register(module: 'types.ModuleType') -> None:
    """Add the scope to ``module.MODULE2PACKAGE`` (idempotent; an existing entry wins)."""
    module.MODULE2PACKAGE.setdefault(SCOPE, PACKAGE)


class ScopeFinder:
    """Meta-path finder that finds nothing itself and waits for :data:`TARGET`.

    Any other name costs one string comparison. For :data:`TARGET` it asks the finders after
    it for the module's spec and wraps that loader's ``exec_module`` so that :func:`register`
    runs on the module right after its code. It stays in ``sys.meta_path`` (removing itself
    while another thread iterates that list could make that thread skip a finder), so a
    second import of :data:`TARGET` (after a ``del sys.modules[...]``) is registered too.
    """

    def find_spec(self, fullname: str, path: 'Optional[Sequence[str]]' = None,
                  target: 'Optional[types.ModuleType]' = None
                  ) -> 'Optional[importlib.machinery.ModuleSpec]':
        if fullname != TARGET:
            return None
        for finder in list(sys.meta_path):
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = getattr(spec.loader, 'exec_module', None)
        if exec_module is None:
            return spec

        def exec_and_register(module: 'types.ModuleType') -> None:
            exec_module(module)
            register(module)

        spec.loader.exec_module = exec_and_register  # this module's own loader instance
        return spec


def install() -> None:
    """Register the scope now if mmengine's table is already loaded, else wait for it."""
    module = sys.modules.get(TARGET)
    if module is not None:
        register(module)
    elif not any(type(f).__name__ == 'ScopeFinder' for f in sys.meta_path):
        sys.meta_path.insert(0, ScopeFinder())
