# Copyright (c) ifam_mm contributors. All rights reserved.
"""Install ifam_mm, an MMPretrain plugin for two-stage hard-masked ViTs.

The version ranges below were verified together on a fresh Python 3.11
machine without a GPU; see ``docs/install.md`` for why each bound exists.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_version() -> str:
    namespace: dict = {}
    exec(read_text(osp.join('ifam_mm', 'version.py')), namespace)
    return namespace['__version__']


install_requires = [
    # >=2.6: weights-only torch.load, which ifam_mm.compat allow-lists for.
    'torch>=2.6',
    # The registry has no CPU build of torchvision; the CUDA build runs on
    # the CPU. Installed together with torch so both come from one resolve.
    'torchvision',
    # >=1.0.16: Block/Attention/forward_features take ``attn_mask``.
    'timm>=1.0.16,<1.1',
    'mmengine>=0.10,<0.11',
    # mmpretrain asserts 2.0.0 <= mmcv < 2.4.0; the lite build needs no
    # compiler (full mmcv fails to build from source here).
    'mmcv-lite>=2.0.0,<2.4.0',
    'mmpretrain>=1.2.0,<1.3',
    'opencv-python',
    'numpy',
    'safetensors',
    # SpuriousShapes: bundled CC0 textures (grass, brick, gravel).
    'scikit-image>=0.26',
    # SpuriousShapes' optional animal silhouettes; the reader checks this
    # exact file layout (and never unpickles it).
    'animal-shape-mnist==0.39',
    # setuptools>=81 has no pkg_resources, which mmengine needs to resolve
    # ``_base_ = 'mmpretrain::...'`` (ifam_mm.compat also shims it).
    'setuptools<81',
]

setup(
    name='ifam_mm',
    version=read_version(),
    description='Two-stage hard-masked vision transformers (iFAM) '
    'for MMPretrain',
    long_description=read_text('README.md'),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.10',
    install_requires=install_requires,
    extras_require={
        'tests': ['pytest>=7'],
        # SIIM-ACR's original DICOM files; PNG copies need nothing extra.
        'dicom': ['pydicom>=3'],
    },
    license='Apache-2.0',
    zip_safe=False,
)
