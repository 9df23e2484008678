# Copyright (c) ifam_mm contributors. All rights reserved.
"""Helpers for the paper-dataset tests: tiny images and a standard build."""
import os
import os.path as osp
from typing import List, Sequence

import cv2
import numpy as np

import ifam_mm  # noqa: F401  (stack fixes first)
import ifam_mm.datasets.paper  # noqa: F401  (registers the datasets)
from mmpretrain.registry import DATASETS


def write_image(path: str, value: int = 0, size=(6, 8), gray=False) -> None:
    """Write a constant image of ``size`` (H, W), making folders."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.full(size if gray else (*size, 3), value, np.uint8)
    assert cv2.imwrite(path, img), path


def write_text(path: str, lines: Sequence[str]) -> None:
    """Write ``lines`` to ``path``, making folders."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def build(
        algorithm_keys: Sequence[str] = (), transforms: Sequence[dict] = (),
        **cfg):
    """Build a dataset from the registry with the usual test pipeline:
    ``LoadImageFromFile``, ``transforms``, ``PackInputs(algorithm_keys)``."""
    pipeline = [
        dict(type='LoadImageFromFile'), *transforms,
        dict(type='PackInputs', algorithm_keys=tuple(algorithm_keys))
    ]
    return DATASETS.build(dict(pipeline=pipeline, **cfg))


def packed(dataset) -> List:
    """The packed data sample of every item of ``dataset``."""
    return [dataset[i]['data_samples'] for i in range(len(dataset))]


def rel_paths(samples, root: str) -> List[str]:
    """Image paths of data samples relative to ``root``, with ``/``."""
    return [
        osp.relpath(s.img_path, str(root)).replace(osp.sep, '/')
        for s in samples
    ]
