# Copyright (c) ifam_mm contributors. All rights reserved.
from .toy_images import make_toy_classification_set

__all__ = ['make_toy_classification_set']
