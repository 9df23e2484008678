# Copyright (c) ifam_mm contributors. All rights reserved.
from .group_accuracy import GroupAccuracy
from .group_auroc import GroupAUROC
from .in9_accuracy import IN9Accuracy
from .mask_leak import MaskLeakMetric
from .part_quality import ForegroundIoU, KeypointRegression, PartNMIARI

__all__ = [
    'GroupAccuracy', 'GroupAUROC', 'IN9Accuracy', 'MaskLeakMetric',
    'ForegroundIoU', 'KeypointRegression', 'PartNMIARI'
]
