# Copyright (c) ifam_mm contributors. All rights reserved.
from .load_image import LoadImageWithChecks

__all__ = ['LoadImageWithChecks']
