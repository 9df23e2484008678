# Copyright (c) ifam_mm contributors. All rights reserved.
from .hard_mask_vit import HardMaskViT

__all__ = ['HardMaskViT']
