# Copyright (c) ifam_mm contributors. All rights reserved.
from .early_mask_classifier import EarlyMaskClassifier
from .ifam_classifier import IFAMClassifier

__all__ = ['EarlyMaskClassifier', 'IFAMClassifier']
