# Copyright (c) ifam_mm contributors. All rights reserved.
from .ifam_classifier import IFAMClassifier

__all__ = ['IFAMClassifier']
