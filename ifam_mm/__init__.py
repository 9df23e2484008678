# Copyright (c) ifam_mm contributors. All rights reserved.
"""ifam_mm: two-stage hard-masked vision transformers for MMPretrain.

Importing the package applies the stack fixes in :mod:`ifam_mm.compat` and
registers every component into mmpretrain's registries.
"""
from . import compat  # noqa: F401  (must run before anything else)
from .utils.mmcv_check import require_mmcv

require_mmcv()  # before mmpretrain's import fails with a bare message
from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
