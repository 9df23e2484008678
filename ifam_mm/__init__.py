# Copyright (c) ifam_mm contributors. All rights reserved.
"""ifam_mm: two-stage hard-masked vision transformers for MMPretrain.

Importing the package registers its components (models, datasets, metrics,
hooks, visualizers, the ``atomic_local`` file backend) into the
registries and changes nothing else in the process: what our tools need
beyond that they ask for by name (docs/stack_fixes.md).
"""
from . import (datasets, engine, evaluation, fileio, models,  # noqa: F401
               visualization)
from .version import __version__

__all__ = ['__version__']
