# Copyright (c) ifam_mm contributors. All rights reserved.
"""CUB-200-2011 with parts, boxes and masks, and Waterbird200."""
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .utils import (check_files, parse_float, parse_int, read_table,
                    resolve_split, select_holdout)

_FIX = 'Use the files of CUB_200_2011.tgz unchanged; see docs/datasets.md.'
_IDS = range(1, sys.maxsize)


@DATASETS.register_module()
class CUB200(BaseDataset):
    """CUB-200-2011 (Wah et al., 2011) in its native layout.

    Reads ``classes.txt``, ``images.txt``, ``image_class_labels.txt`` and
    ``train_test_split.txt`` under ``data_root``, and optionally
    ``parts/parts.txt``, ``parts/part_locs.txt`` and ``bounding_boxes.txt``.
    The official train images are split again into ``train`` and a held-out
    ``val`` for model selection (``val_fraction`` of each class, chosen by
    hashing, see :func:`holdout_mask`); ``trainval`` is the whole official
    train split, the training set of the papers.

    Each sample carries ``gt_label`` (0-199, the CUB class id minus 1),
    ``img_id`` (the CUB image id) and, when asked for:

    - ``gt_keypoints`` (float32 [1, P, 3]): x, y, visibility (1 or 0) of the
      P = 15 parts, in pixels of the original image, in the order of
      ``parts.txt`` (``metainfo['part_names']``); invisible parts are at
      (0, 0).
    - ``gt_bboxes`` (float32 [1, 4]): the bird's box as x1, y1, x2, y2
      (``bounding_boxes.txt`` gives x, y, width, height).
    - ``seg_map_path``: the mask ``<seg_map_path>/<image path>.png`` from
      the separate CUB segmentations archive.

    The keys and shapes are mmcv's, so mmcv's ``Resize`` and ``CenterCrop``
    move keypoints and boxes with the image (a crop marks the keypoints it
    cuts off invisible, as the papers' keypoint evaluation does);
    mmpretrain's ``ResizeEdge`` does not. CUB has no group or spurious
    label.

    Args:
        data_root (str): The ``CUB_200_2011`` folder.
        split (str): ``'train'``, ``'val'``, ``'trainval'`` or ``'test'``; or
            ``'test_as_val'``, the test split with a warning, for the
            reference's selection on test. Defaults to ``'train'``.
        data_prefix (str | dict): Image folder, or a dict with ``img_path``
            and optionally ``seg_map_path`` (e.g. ``'segmentations'``).
            Defaults to ``'images'``.
        val_fraction (float): Fraction of each class of the official train
            split held out as ``val``. 0 makes ``train`` the full official
            split and ``val`` unavailable. Defaults to 0.1.
        seed (int): Seed of the held-out choice. Defaults to 0.
        with_parts (bool): Load ``gt_keypoints``. Defaults to False.
        with_bbox (bool): Load ``gt_bboxes``. Defaults to False.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``.

    Examples:
        >>> from mmpretrain.registry import DATASETS
        >>> test_set = DATASETS.build(dict(  # doctest: +SKIP
        ...     type='CUB200', data_root='data/CUB_200_2011', split='test',
        ...     data_prefix=dict(img_path='images',
        ...                      seg_map_path='segmentations'),
        ...     with_parts=True, with_bbox=True))
    """
    SPLITS = ('train', 'val', 'trainval', 'test')
    DEFAULT_IMG_PREFIX = 'images'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 data_prefix: Union[str, dict, None] = None,
                 val_fraction: float = 0.1,
                 seed: int = 0,
                 with_parts: bool = False,
                 with_bbox: bool = False,
                 **kwargs) -> None:
        self.split = split
        self._split = resolve_split(type(self).__name__, split, self.SPLITS)
        self.val_fraction = val_fraction
        self.seed = seed
        self.with_parts = with_parts
        self.with_bbox = with_bbox
        if data_prefix is None:
            data_prefix = self.DEFAULT_IMG_PREFIX
        if isinstance(data_prefix, dict):
            data_prefix = {'img_path': self.DEFAULT_IMG_PREFIX, **data_prefix}
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def _path(self, name: str) -> str:
        return osp.join(self.data_root, name)

    def _id_table(self,
                  name: str,
                  allowed: Optional[Sequence[int]] = None) -> Dict[int, str]:
        """Read an ``<image id> <value>`` file into {id: value}."""
        path = self._path(name)
        table = {}
        for row, (image_id, value) in enumerate(read_table(path, 2, _FIX)):
            image_id = parse_int(image_id, _IDS, f'{path}, row {row + 1}',
                                 _FIX)
            if allowed is not None:
                value = parse_int(value, allowed,
                                  f'{path}, image id {image_id}', _FIX)
            table[image_id] = value
        return table

    def load_data_list(self) -> List[dict]:
        """Read the CUB annotation files and keep the samples of the split.

        Returns:
            List[dict]: One dict per image.
        """
        classes = [
            name for _, name in read_table(self._path('classes.txt'), 2, _FIX)
        ]
        # '001.Black_footed_Albatross' -> 'Black_footed_Albatross', the
        # names mmpretrain's own CUB dataset uses.
        self._metainfo['classes'] = tuple(
            name.split('.', 1)[-1] for name in classes)
        images = self._id_table('images.txt')
        class_ids = range(1, len(classes) + 1)
        labels = self._id_table('image_class_labels.txt', class_ids)
        is_train = self._id_table('train_test_split.txt', (0, 1))
        for name, table in (('image_class_labels.txt', labels),
                            ('train_test_split.txt', is_train)):
            missing = sorted(images.keys() - table.keys())
            if missing:
                raise ValueError(
                    f'{self._path(name)} has no entry for image ids '
                    f'{missing[:5]} of images.txt ({len(missing)} in all). '
                    f'{_FIX}')

        want_train = self._split != 'test'
        ids = [i for i in images if is_train[i] == want_train]
        data_list = [
            dict(
                img_path=osp.join(self.img_prefix, images[i]),
                gt_label=labels[i] - 1,
                img_id=i) for i in ids
        ]
        if want_train:
            data_list = select_holdout(
                type(self).__name__, data_list,
                [images[d['img_id']] for d in data_list], self._split,
                self.val_fraction, self.seed)
        self._add_annotations(data_list, images)
        check_files([d['img_path'] for d in data_list], 'CUB images',
                    'Point data_root and data_prefix at the extracted '
                    'CUB_200_2011 folder.')
        return data_list

    def _add_annotations(self, data_list: List[dict],
                         images: Dict[int, str]) -> None:
        """Add keypoints, boxes and mask paths in place, as configured."""
        if self.with_parts:
            keypoints = self._read_parts()
        if self.with_bbox:
            boxes = self._read_boxes()
        seg_root = self.data_prefix.get('seg_map_path')
        for info in data_list:
            image_id = info['img_id']
            if self.with_parts:
                if image_id not in keypoints:
                    raise ValueError(
                        f'{self._path("parts/part_locs.txt")} has no entry '
                        f'for image id {image_id}. {_FIX}')
                info['gt_keypoints'] = keypoints[image_id]
            if self.with_bbox:
                if image_id not in boxes:
                    raise ValueError(
                        f'{self._path("bounding_boxes.txt")} has no entry '
                        f'for image id {image_id}. {_FIX}')
                info['gt_bboxes'] = boxes[image_id]
            if seg_root is not None:
                info['seg_map_path'] = osp.join(
                    seg_root,
                    osp.splitext(images[image_id])[0] + '.png')
        if seg_root is not None:
            check_files([d['seg_map_path'] for d in data_list],
                        'CUB segmentation masks',
                        'Extract the CUB-200-2011 segmentations archive and '
                        "point data_prefix['seg_map_path'] at its "
                        'segmentations folder.')

    def _read_parts(self) -> Dict[int, np.ndarray]:
        """Read ``parts/parts.txt`` and ``parts/part_locs.txt``.

        Returns:
            Dict[int, np.ndarray]: {image id: float32 [1, P, 3]}.
        """
        names = [
            name for _, name in read_table(
                self._path(osp.join('parts', 'parts.txt')), 2, _FIX)
        ]
        self._metainfo['part_names'] = tuple(names)
        path = self._path(osp.join('parts', 'part_locs.txt'))
        keypoints = {}
        for image_id, part_id, x, y, vis in read_table(path, 5, _FIX):
            where = f'{path}, image id {image_id}, part id {part_id}'
            image_id = parse_int(image_id, _IDS, where, _FIX)
            part = parse_int(part_id, range(1, len(names) + 1), where, _FIX)
            if image_id not in keypoints:
                keypoints[image_id] = np.zeros((1, len(names), 3), np.float32)
            keypoints[image_id][0, part - 1] = [
                parse_float(x, where, _FIX),
                parse_float(y, where, _FIX),
                parse_int(vis, (0, 1), where, _FIX)
            ]
        return keypoints

    def _read_boxes(self) -> Dict[int, np.ndarray]:
        """Read ``bounding_boxes.txt`` into {image id: float32 [1, 4]}."""
        path = self._path('bounding_boxes.txt')
        boxes = {}
        for image_id, *values in read_table(path, 5, _FIX):
            where = f'{path}, image id {image_id}'
            image_id = parse_int(image_id, _IDS, where, _FIX)
            x, y, w, h = (parse_float(v, where, _FIX) for v in values)
            boxes[image_id] = np.array([[x, y, x + w, y + h]], np.float32)
        return boxes

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}'
        ]


@DATASETS.register_module()
class Waterbird200(CUB200):
    """CUB-200-2011 test birds on Waterbirds' Places backgrounds.

    The 200-class CUB task with the images of the Waterbirds archive
    extracted into ``CUB_200_2011/`` (same relative paths as the CUB
    images): a background-shift test of a CUB model. Splits, labels, parts,
    boxes and masks are CUB's (the birds are pasted at the same place, so
    the CUB masks fit).

    Args:
        data_root (str): The ``CUB_200_2011`` folder.
        split (str): See :class:`CUB200`. Defaults to ``'test'``.
        data_prefix (str | dict): See :class:`CUB200`. Defaults to
            ``'waterbird_complete95_forest2water2'``.
        **kwargs: Other arguments of :class:`CUB200`.
    """
    DEFAULT_IMG_PREFIX = 'waterbird_complete95_forest2water2'

    def __init__(self,
                 data_root: str,
                 split: str = 'test',
                 data_prefix: Union[str, dict, None] = None,
                 **kwargs) -> None:
        super().__init__(
            data_root=data_root,
            split=split,
            data_prefix=data_prefix,
            **kwargs)
