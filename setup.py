"""mmdicm: learned compression of features for machine vision, as an OpenMMLab plugin.

Runtime pins live in ``requirements/*.txt`` (one source of truth for this file, for
``tools/setup/bootstrap.sh`` and for ``tests/test_environment.py``).
"""
import os.path as osp
import re

from setuptools import Extension, find_packages, setup

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
    extras_require={'tests': parse_requirements('tests'), 'codecs': parse_requirements('codecs')},
    zip_safe=False,
)
