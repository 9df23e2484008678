# Copyright (c) ifam_mm contributors. All rights reserved.
"""What mmengine's config parser lacks, applied only where our tools ask.

Two gaps of mmengine 0.10 cannot be closed by registering a component:

* ``_base_ = 'ifam_mm::...'`` fails with "mmengine does not support to load
  ifam_mm config": the parser only knows a fixed table of OpenMMLab packages
  (``MODULE2PACKAGE``; open-mmlab/mmengine#1410).
* ``_base_ = 'mmpretrain::...'`` fails with "No module named
  'pkg_resources'" on setuptools>=81, which dropped it
  (reported upstream as open-mmlab/mmcv#3325; see docs/install.md).

:func:`prepare_config_parsing` closes both for the process that calls it.
Importing ifam_mm never calls it; our tools do, before ``Config.fromfile``,
and it logs once what it changed.
"""
import importlib.util
import os.path as osp
from importlib import metadata
from typing import List

import mmengine.config.config as mmengine_config
import mmengine.config.utils as mmengine_config_utils
from mmengine.logging import print_log

PACKAGE = 'ifam_mm'


def _is_installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _get_installed_path(package: str) -> str:
    """Directory of an installed package, as mmengine's helper returns."""
    try:
        dist = metadata.distribution(package)
        top_level = (dist.read_text('top_level.txt') or package).split()[0]
        spec = importlib.util.find_spec(top_level)
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'{package} is not installed.')
    return osp.dirname(spec.origin)


def prepare_config_parsing() -> List[str]:
    """Let ``Config.fromfile`` resolve ``ifam_mm::`` and ``mmpretrain::``.

    Idempotent; logs the changes it makes the first time only.

    Returns:
        list[str]: What was changed by this call (empty when nothing was).
    """
    changed = []
    if mmengine_config_utils.MODULE2PACKAGE.get(PACKAGE) != PACKAGE:
        mmengine_config_utils.MODULE2PACKAGE[PACKAGE] = PACKAGE
        changed.append("added 'ifam_mm' to mmengine's config packages "
                       '(open-mmlab/mmengine#1410)')
    if (importlib.util.find_spec('pkg_resources') is None
            and mmengine_config.is_installed is not _is_installed):
        mmengine_config.is_installed = _is_installed
        mmengine_config.get_installed_path = _get_installed_path
        changed.append('package lookup through importlib: this setuptools '
                       'has no pkg_resources')
    for change in changed:
        print_log(f'ifam_mm config parsing: {change}', logger='current')
    return changed
