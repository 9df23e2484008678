# Copyright (c) ifam_mm contributors. All rights reserved.
"""SIIM-ACR pneumothorax with the chest-tube attribute."""
import os.path as osp
from typing import Dict, List, Sequence, Tuple, Union

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .utils import (check_files, list_images, require_dir, resolve_split,
                    select_holdout, sub_dirs)

_FIX = ('Build the folders with tools/dataset_converters/prepare_siim_acr.py '
        '(or the iFAM reference preparation); see docs/datasets.md.')


@DATASETS.register_module()
class SIIMACR(BaseDataset):
    """SIIM-ACR pneumothorax, prepared into label folders.

    Layout (``tools/dataset_converters/prepare_siim_acr.py`` writes it)::

        data_root/
          train_set/{0,1}/<id>.dcm|png     images without a chest-tube label
          full_test_set/{0,1}/...          all images with a chest-tube label
          robust_test_set/{0,1}/...        tube & negative, no tube & positive
          non_robust_test_set/{0,1}/...    no tube & negative, tube & positive
          all_masks/<id>.png               optional pneumothorax masks

    Folder ``1`` holds pneumothorax cases. The chest-tube attribute is known
    only for the test images: it follows from the robust / non-robust
    folder an image is in. Test samples carry:

    - ``gt_label``: 1 pneumothorax, 0 none.
    - ``spurious_label``: 1 chest tube, 0 none.
    - ``group_label``: ``2 * label + tube``: 0 negative without tube,
      1 negative with tube, 2 positive without tube, 3 positive with tube.
      Groups 1 and 2 are the spurious-conflicting ones, i.e.
      ``robust_test_set``; the papers' "worst-group AUROC" is one AUROC over
      them (``GroupAUROC`` with ``minority_groups=(1, 2)``, also in
      ``metainfo``).

    ``train``, ``val`` and ``trainval`` samples have no tube label, hence no
    ``spurious_label`` or ``group_label``, and their ``metainfo`` has no
    ``minority_groups``: validation selects on the overall AUROC. All
    samples carry ``img_id`` (the file name without extension) and, when
    ``data_prefix`` has a ``seg_map_path`` entry, ``seg_map_path``
    (``<seg_map_path>/<img_id>.png``).

    DICOM files need pydicom and the ``LoadDicomFromFile`` transform, which
    also reads PNG; PNG conversions work with ``LoadImageFromFile``.

    Args:
        data_root (str): The prepared folder.
        split (str): ``'train'`` (``train_set`` without the held-out part),
            ``'val'`` (the held-out part), ``'trainval'`` (all of
            ``train_set``, the papers' training set), ``'test'``
            (``full_test_set``), ``'robust_test'``, ``'non_robust_test'``;
            or ``'test_as_val'``, the full test set with a warning, for the
            reference's selection on test. Defaults to ``'train'``.
        data_prefix (str | dict): A dict may name ``seg_map_path``
            (e.g. ``'all_masks'``). Defaults to ``''``.
        val_fraction (float): Fraction of each class of ``train_set`` held
            out as ``val``. Defaults to 0.1.
        seed (int): Seed of the held-out choice. Defaults to 0.
        extensions (Sequence[str]): Image file extensions. Defaults to
            ``('.dcm', '.png', '.jpg', '.jpeg')``.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``.
    """
    METAINFO = dict(
        classes=('no_pneumothorax', 'pneumothorax'),
        spurious_names=('no_tube', 'tube'),
        group_names=('negative_no_tube', 'negative_tube', 'positive_no_tube',
                     'positive_tube'),
        minority_groups=(1, 2))
    FOLDERS = dict(
        trainval='train_set',
        test='full_test_set',
        robust_test='robust_test_set',
        non_robust_test='non_robust_test_set')
    SPLITS = ('train', 'val', 'trainval', 'test', 'robust_test',
              'non_robust_test')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 data_prefix: Union[str, dict] = '',
                 val_fraction: float = 0.1,
                 seed: int = 0,
                 extensions: Sequence[str] = ('.dcm', '.png', '.jpg', '.jpeg'),
                 **kwargs) -> None:
        self.split = split
        self._split = resolve_split(type(self).__name__, split, self.SPLITS)
        self.val_fraction = val_fraction
        self.seed = seed
        self.extensions = tuple(e.lower() for e in extensions)
        if isinstance(data_prefix, dict):
            data_prefix = {'img_path': '', **data_prefix}
        super().__init__(
            ann_file='',
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def _scan(self, split: str) -> List[Tuple[str, int, str]]:
        """List (relative path, label, image id) of a split's folder."""
        folder = self.FOLDERS[split]
        root = require_dir(
            osp.join(self.data_root, folder), 'SIIM-ACR folder', _FIX)
        found = sub_dirs(root)
        if not found or not set(found) <= {'0', '1'}:
            raise ValueError(f'{root} must hold label folders 0 and 1, found '
                             f'{found}. {_FIX}')
        samples = []
        for name in found:
            for rel in list_images(osp.join(root, name), self.extensions):
                image_id = osp.splitext(osp.basename(rel))[0]
                samples.append((f'{folder}/{name}/{rel}', int(name), image_id))
        if not samples:
            raise ValueError(f'No image with extension {self.extensions} '
                             f'under {root}. {_FIX}')
        return samples

    def _tubes(self, samples: List[Tuple[str, int, str]]) -> List[int]:
        """The chest-tube attribute of test samples, from the subsets."""
        if self._split == 'robust_test':
            return [1 - label for _, label, _ in samples]
        if self._split == 'non_robust_test':
            return [label for _, label, _ in samples]
        conflicting = {i for *_, i in self._scan('robust_test')}
        aligned = {i for *_, i in self._scan('non_robust_test')}
        tubes = []
        for rel, label, image_id in samples:
            if image_id in conflicting:
                tubes.append(1 - label)
            elif image_id in aligned:
                tubes.append(label)
            else:
                raise ValueError(
                    f'{osp.join(self.data_root, rel)} is in neither '
                    f'{self.FOLDERS["robust_test"]} nor '
                    f'{self.FOLDERS["non_robust_test"]}, so its chest-tube '
                    f'attribute is unknown. {_FIX}')
        return tubes

    def load_data_list(self) -> List[dict]:
        """Scan the split's folder and attach labels and attributes.

        Returns:
            List[dict]: One dict per image.
        """
        is_train = self._split in ('train', 'val', 'trainval')
        samples = self._scan('trainval' if is_train else self._split)
        data_list: List[Dict] = [
            dict(
                img_path=osp.join(self.data_root, rel),
                gt_label=label,
                img_id=image_id) for rel, label, image_id in samples
        ]
        if is_train:
            # No group labels here, so GroupAUROC must not look for them.
            self._metainfo.pop('minority_groups', None)
            data_list = select_holdout(
                type(self).__name__, data_list, [rel for rel, *_ in samples],
                self._split, self.val_fraction, self.seed)
        else:
            for info, tube in zip(data_list, self._tubes(samples)):
                info['spurious_label'] = tube
                info['group_label'] = 2 * info['gt_label'] + tube
        seg_root = self.data_prefix.get('seg_map_path')
        if seg_root is not None:
            for info in data_list:
                info['seg_map_path'] = osp.join(seg_root,
                                                info['img_id'] + '.png')
            check_files([d['seg_map_path'] for d in data_list],
                        'SIIM-ACR masks', _FIX)
        return data_list

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}'
        ]
