"""mmdicm: learned compression of features for machine vision, as an OpenMMLab plugin.

Runtime pins live in ``requirements/*.txt`` (one source of truth for this file, for
``tools/setup/bootstrap.sh`` and for ``tests/test_environment.py``).
"""
import os.path as osp
import re

from setuptools import Extension, find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = osp.dirname(osp.abspath(__file__))


def parse_requirements(*names: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` (comments and blanks dropped)."""
    reqs = []
    for name in names:
        with open(osp.join(HERE, 'requirements', f'{name}.txt'), encoding='utf-8') as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if line:
                    reqs.append(line)
    return reqs


def get_version() -> str:
    with open(osp.join(HERE, 'mmdicm', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def startup_files() -> dict:
    """Files for the top of site-packages: the ``mmdicm::`` config-scope hook.

    Python runs ``.pth`` lines that start with ``import`` at interpreter start; this one
    installs :class:`mmdicm.mim_hook.ScopeFinder`, which tells mmengine about the scope when
    (and only if) ``mmengine.config.utils`` is imported. The hook module is a copy of
    ``mmdicm/mim_hook.py`` (standard library only), importable without importing mmdicm.
    Why: ``mmdicm/mim.py``.
    """
    with open(osp.join(HERE, 'mmdicm', 'mim_hook.py'), encoding='utf-8') as f:
        hook = f.read()
    return {'_mmdicm_mim_hook.py': hook,
            'mmdicm-mim-hook.pth': 'import _mmdicm_mim_hook; _mmdicm_mim_hook.install()\n'}


class BuildPyWithStartupFiles(build_py):
    """A regular wheel: the startup files at the top of ``build_lib`` (the wheel's root, which
    pip installs into site-packages)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable wheel gets them from the class below
            for name, text in startup_files().items():
                with open(osp.join(self.build_lib, name), 'w', encoding='utf-8') as f:
                    f.write(text)


class EditableWheelWithStartupFiles(editable_wheel):
    """``pip install -e .`` (PEP 660): setuptools' editable wheel holds only its own import
    hook and never copies build output, so the startup files are written into that wheel
    next to the hook (the same ``WheelFile``, hence listed in RECORD: uninstall removes
    them). Needs setuptools >= 64; ``_select_strategy`` is the one internal it relies on."""

    def run(self) -> None:
        if not callable(getattr(editable_wheel, '_select_strategy', None)):
            raise RuntimeError(
                'this setuptools has no editable_wheel._select_strategy: mmdicm cannot add its '
                'mmdicm:: startup hook to an editable install; use setuptools>=64,<81 '
                '(tools/setup/bootstrap.sh installs it)')
        super().run()

    def _select_strategy(self, *args, **kwargs):
        return _AlsoWriteStartupFiles(super()._select_strategy(*args, **kwargs))


class _AlsoWriteStartupFiles:
    """Wraps an editable strategy: after it writes its files, write the startup files."""

    def __init__(self, strategy) -> None:
        self.strategy = strategy

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping) -> None:
        self.strategy(wheel, files, mapping)
        for name, text in startup_files().items():
            wheel.writestr(name, text.encode('utf-8'))


with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='mmdicm',
    version=get_version(),
    description='DICM learned feature compression for multiple vision tasks, '
    'as an OpenMMLab plugin',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9,<3.12',
    packages=find_packages(exclude=('tests', 'tests.*', 'tools', 'configs')),
    include_package_data=True,
    # `mmdicm::dicm/<config>` (mmdicm/mim.py): the configs travel inside the package; in a
    # checkout .mim/configs/dicm is a link to configs/, a wheel holds copies.
    package_data={'mmdicm': ['.mim/model-index.yml', '.mim/configs/dicm/*.py',
                             '.mim/configs/dicm/*/*.py', '.mim/configs/dicm/*/*/*.py']},
    # The bounds-checked rANS decoder (mmdicm/codec/rans.py): plain C, Python's C API only.
    ext_modules=[Extension('mmdicm.codec._rans', ['mmdicm/codec/_rans.c'],
                           extra_compile_args=['-O2', '-std=c99'])],
    install_requires=parse_requirements('torch', 'mmcv', 'runtime'),
    # 'detectron2': its pure-Python dependencies; detectron2 itself is not on PyPI, see
    # tools/setup/detectron2.sh (PyPI's detectron2-cdo sdist, patched)
    extras_require={'tests': parse_requirements('tests'), 'codecs': parse_requirements('codecs'),
                    'detectron2': parse_requirements('detectron2')},
    cmdclass={'build_py': BuildPyWithStartupFiles,
              'editable_wheel': EditableWheelWithStartupFiles},
    zip_safe=False,
)
