# Copyright (c) ifam_mm contributors. All rights reserved.
"""Loaders for the datasets of the iFAM papers, in their native layouts.

Nothing here downloads anything: see ``docs/datasets.md`` for where each
dataset comes from and the folder layout each loader expects.
"""
from .cub import CUB200, Waterbird200
from .dicom import LoadDicomFromFile, has_pydicom, read_dicom
from .imagenet import ImageNet1k, ImageNet9, load_in9_mapping
from .metashift import MetaShift
from .siim_acr import SIIMACR
from .utils import TEST_AS_VAL, holdout_mask
from .waterbirds import Waterbirds

__all__ = [
    'CUB200', 'Waterbird200', 'Waterbirds', 'MetaShift', 'SIIMACR',
    'ImageNet1k', 'ImageNet9', 'LoadDicomFromFile', 'read_dicom',
    'has_pydicom', 'load_in9_mapping', 'holdout_mask', 'TEST_AS_VAL'
]
