# Copyright (c) ifam_mm contributors. All rights reserved.
"""Pipeline steps that bring SpuriousShapes masks along with the image."""
from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmpretrain.registry import TRANSFORMS
from .masks import BLANK_VALUE, decode_label_map

MASK_KEYS = ('gt_fg_mask', 'gt_part_mask', 'gt_cue_mask')


@TRANSFORMS.register_module()
class LoadSpuriousShapesMasks(BaseTransform):
    """Load a SpuriousShapes label map and decode it into pixel masks.

    Put it after ``LoadImageFromFile``. The masks have the image's size, so
    resizing or cropping steps must not come before it (it raises if the
    sizes differ); a horizontal or vertical ``RandomFlip`` before it is
    mirrored onto the masks. Pack the masks for the model with
    ``PackInputs(algorithm_keys=('group_label', 'spurious_label',
    'gt_fg_mask', ...))``; they stay numpy arrays in the data samples.

    **Required Keys:** ``mask_path``, ``img``. An image without a dataset
    record (neither ``mask_path`` nor ``img_path``: what mmpretrain's
    ``ImageClassificationInferencer`` passes) has no masks and passes
    through unchanged; a model that needs one then says so.

    **Added Keys:** the ones in ``keys``: ``gt_fg_mask`` (bool [H, W],
    the object), ``gt_part_mask`` (uint8 [H, W], part id on the object, 0
    elsewhere), ``gt_cue_mask`` (bool [H, W], pixels carrying the spurious
    attribute).

    Args:
        keys (Sequence[str]): Masks to add, a subset of :data:`MASK_KEYS`.
            Defaults to all of them.
    """

    def __init__(self, keys: Sequence[str] = MASK_KEYS) -> None:
        unknown = set(keys) - set(MASK_KEYS)
        if unknown:
            raise ValueError(f'Unknown mask keys {sorted(unknown)}; choose '
                             f'from {MASK_KEYS}.')
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        """Add the masks to ``results``."""
        if 'mask_path' not in results:
            if 'img_path' not in results:
                return results  # a bare image: nothing to load
            raise KeyError(
                f"LoadSpuriousShapesMasks: {results['img_path']!r} has no "
                "'mask_path'; it reads the label maps of a SpuriousShapes "
                'dataset. Remove it from pipelines of other datasets.')
        label_map = cv2.imread(results['mask_path'], cv2.IMREAD_UNCHANGED)
        if label_map is None:
            raise FileNotFoundError(
                f"Cannot read the mask {results['mask_path']}.")
        if results['img'].shape[:2] != label_map.shape:
            raise ValueError(
                f"Image {results['img'].shape[:2]} and mask {label_map.shape} "
                'differ in size: put LoadSpuriousShapesMasks before any '
                'resize or crop.')
        if results.get('flip'):
            axis = 1 if results['flip_direction'] == 'horizontal' else 0
            label_map = np.flip(label_map, axis=axis)
            if results['flip_direction'] == 'diagonal':
                label_map = np.flip(label_map, axis=1)
        masks = decode_label_map(label_map)
        results.update({key: np.ascontiguousarray(masks[key])
                        for key in self.keys})
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'


@TRANSFORMS.register_module()
class FillBackground(BaseTransform):
    """Set every pixel outside ``gt_fg_mask`` to a constant.

    This is the pixel-masked upper bound of SpuriousShapes: with the
    ground-truth mask applied to the input pixels no background (and no
    co-occurring object) reaches the model, at any patch size.

    **Required Keys:** ``img``, ``gt_fg_mask``. **Modified Keys:** ``img``.

    Args:
        value (int): Fill value. Defaults to 128, the mean grey of the
            textures, so the fill is no brightness cue.
    """

    def __init__(self, value: int = BLANK_VALUE) -> None:
        self.value = value

    def transform(self, results: dict) -> dict:
        """Blank the background of ``results['img']``."""
        if 'gt_fg_mask' not in results:
            raise KeyError(
                'FillBackground needs gt_fg_mask: put LoadSpuriousShapesMasks '
                "before it. An image without a dataset record (mmpretrain's "
                'ImageClassificationInferencer, demo/image_demo.py) has no '
                'mask: a pixel-masked model can only run on its dataset '
                '(tools/test.py).')
        img = results['img'].copy()
        img[~results['gt_fg_mask']] = self.value
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(value={self.value})'
