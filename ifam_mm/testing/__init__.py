# Copyright (c) ifam_mm contributors. All rights reserved.
from .cub_tree import make_cub_tree
from .toy_images import make_toy_classification_set

__all__ = ['make_cub_tree', 'make_toy_classification_set']
