# Copyright (c) ifam_mm contributors. All rights reserved.
"""Part-quality metrics on the part maps and token masks of ``predict``."""
from .foreground_iou import ForegroundIoU
from .keypoint_regression import KeypointRegression
from .part_nmi_ari import PartNMIARI

__all__ = ['ForegroundIoU', 'KeypointRegression', 'PartNMIARI']
