# Copyright (c) ifam_mm contributors. All rights reserved.
"""Install ifam_mm, an MMPretrain plugin for two-stage hard-masked ViTs.

Requirements live in ``requirements/`` as in MMPretrain; ``docs/install.md``
says why each bound exists. mmcv is not a runtime requirement: a user's full
mmcv is kept, and the ``lite`` extra (mmcv-lite) provides it everywhere else.
"""
import os
import os.path as osp
import shutil
import sys
from typing import List

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
# What mim and ``_base_ = 'ifam_mm::...'`` read from the installed package.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_text(path: str) -> str:
    with open(osp.join(ROOT, path)) as f:
        return f.read()


def read_version() -> str:
    namespace: dict = {}
    exec(read_text(osp.join('ifam_mm', 'version.py')), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> List[str]:
    """Requirement lines of ``requirements/<name>``, ``-r`` included."""
    folder = osp.join(ROOT, 'requirements')
    requirements = []
    for line in read_text(osp.join(folder, name)).splitlines():
        line = line.split('#', 1)[0].strip()
        if line.startswith('-r '):
            requirements += read_requirements(line[3:].strip())
        elif line:
            requirements.append(line)
    return requirements


def add_mim_extension() -> None:
    """Put configs, tools and the model index under ``ifam_mm/.mim``.

    As MMPretrain's setup.py does: a develop/editable install links them (so
    edits to ``configs/`` take effect), a wheel or sdist copies them. Other
    setup.py commands (egg_info, dist_info) leave ``.mim`` as it is.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif 'bdist_wheel' in sys.argv or 'sdist' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_dir = osp.join(ROOT, 'ifam_mm', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue  # building from an sdist: its .mim is already there
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='ifam_mm',
        version=read_version(),
        description='Two-stage hard-masked vision transformers (iFAM) '
        'for MMPretrain',
        long_description=read_text('README.md'),
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
        include_package_data=True,
        python_requires='>=3.10',
        install_requires=read_requirements('runtime.txt'),
        extras_require={
            # mmcv-lite, for machines without mmcv (the README's commands);
            # never next to a full mmcv, which owns the same import name.
            'lite': read_requirements('mmcv_lite.txt'),
            # Full mmcv, as `mim install` resolves it.
            'mim': read_requirements('mminstall.txt'),
            'tests': read_requirements('tests.txt'),
            'animals': read_requirements('animals.txt'),
            'dicom': read_requirements('dicom.txt'),
            'optional': read_requirements('optional.txt'),
        },
        license='Apache-2.0',
        zip_safe=False,
    )
