# Copyright (c) ifam_mm contributors. All rights reserved.
"""Waterbirds: CUB birds pasted on Places land or water backgrounds."""
import os.path as osp
from typing import List, Union

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .utils import check_files, parse_int, read_csv, resolve_split

_FIX = ('Use the metadata.csv shipped in waterbird_complete95_forest2water2'
        '.tar.gz (or WILDS waterbirds_v1.0); see docs/datasets.md.')


@DATASETS.register_module()
class Waterbirds(BaseDataset):
    """The Waterbirds dataset (Sagawa et al., 2020) from its ``metadata.csv``.

    Reads ``img_filename``, ``y`` (0 landbird, 1 waterbird), ``split`` (0
    train, 1 val, 2 test) and ``place`` (0 land, 1 water); other columns
    are ignored. Each sample carries:

    - ``gt_label``: ``y``.
    - ``spurious_label``: ``place``.
    - ``group_label``: ``2 * y + place``, i.e. 0 landbird on land,
      1 landbird on water, 2 waterbird on land, 3 waterbird on water.
      Groups 1 and 2 are the minority (spurious-conflicting) groups.
    - ``seg_map_path``: the bird's CUB segmentation mask, only when
      ``data_prefix`` has a ``seg_map_path`` entry. Masks are
      ``<seg_map_path>/<img_filename with .png>``.

    ``metainfo`` also holds what :class:`GroupAccuracy` reads:
    ``group_names``, ``minority_groups`` and ``train_group_counts`` (counted
    on the train rows of ``metadata.csv`` whatever the loaded split, for the
    training-distribution-weighted average accuracy).

    Args:
        data_root (str): Folder that ``ann_file`` and ``data_prefix`` are
            relative to.
        split (str): ``'train'``, ``'val'`` or ``'test'``; or
            ``'test_as_val'``, which loads the test split with a warning, for
            the reference's selection on test. Defaults to ``'train'``.
        ann_file (str): The metadata file. Defaults to ``'metadata.csv'``.
        data_prefix (str | dict): Image folder, or a dict with ``img_path``
            and optionally ``seg_map_path``. Defaults to ``''`` (images
            relative to ``data_root``).
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``.

    Examples:
        >>> from mmpretrain.registry import DATASETS
        >>> val_set = DATASETS.build(dict(  # doctest: +SKIP
        ...     type='Waterbirds', split='val',
        ...     data_root='data/waterbird_complete95_forest2water2'))
    """
    METAINFO = dict(
        classes=('landbird', 'waterbird'),
        spurious_names=('land', 'water'),
        group_names=('landbird_land', 'landbird_water', 'waterbird_land',
                     'waterbird_water'),
        minority_groups=(1, 2))
    SPLITS = {'train': 0, 'val': 1, 'test': 2}

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = 'metadata.csv',
                 data_prefix: Union[str, dict] = '',
                 **kwargs) -> None:
        self.split = split
        self._split = resolve_split(type(self).__name__, split, self.SPLITS)
        if isinstance(data_prefix, dict):
            data_prefix = {'img_path': '', **data_prefix}
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read ``metadata.csv`` and keep the rows of the split.

        Returns:
            List[dict]: One dict per image.
        """
        rows = read_csv(self.ann_file, ('img_filename', 'y', 'split', 'place'),
                        _FIX)
        train_counts = [0] * 4
        data_list = []
        seg_root = self.data_prefix.get('seg_map_path')
        for row in rows:
            where = f'{self.ann_file}, line {row["_line"]}'
            y = parse_int(row['y'], (0, 1), f'{where}, column y', _FIX)
            place = parse_int(row['place'], (0, 1), f'{where}, column place',
                              _FIX)
            split = parse_int(row['split'], (0, 1, 2),
                              f'{where}, column split', _FIX)
            group = 2 * y + place
            if split == 0:
                train_counts[group] += 1
            if split != self.SPLITS[self._split]:
                continue
            info = dict(
                img_path=osp.join(self.img_prefix, row['img_filename']),
                gt_label=y,
                spurious_label=place,
                group_label=group)
            if seg_root is not None:
                info['seg_map_path'] = osp.join(
                    seg_root,
                    osp.splitext(row['img_filename'])[0] + '.png')
            data_list.append(info)
        if not data_list:
            raise ValueError(
                f'{self.ann_file} has no row with split == '
                f'{self.SPLITS[self._split]} ({self._split}). {_FIX}')
        self._metainfo['train_group_counts'] = tuple(train_counts)
        check_files([d['img_path'] for d in data_list], 'Waterbirds images',
                    'Point data_root/data_prefix at the folder that holds '
                    'the class folders of metadata.csv.')
        if seg_root is not None:
            check_files([d['seg_map_path'] for d in data_list],
                        'segmentation masks',
                        'Extract the CUB-200-2011 segmentations and point '
                        "data_prefix['seg_map_path'] at that folder.")
        return data_list

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}'
        ]
