# Copyright (c) ifam_mm contributors. All rights reserved.
"""MetaShift cat-vs-dog with context folders."""
import os.path as osp
import re
from typing import List, Sequence, Tuple

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .utils import (list_images, require_dir, resolve_split, select_holdout,
                    sub_dirs)

_FIX = ('Expected <data_root>/{train,test}/<class>/<context>/<image>, e.g. '
        'train/cat/cat(sofa)/1.jpg, as in MetaDatasetCatDog; see '
        'docs/datasets.md.')
# 'cat(sofa)' -> ('cat', 'sofa').
_CONTEXT = re.compile(r'^(?P<cls>[^()]+)\((?P<context>[^()]+)\)$')


@DATASETS.register_module()
class MetaShift(BaseDataset):
    """MetaShift cat-vs-dog (the ``MetaDatasetCatDog`` folders).

    Layout ``<data_root>/{train,test}/{cat,dog}/<context>/<image>``, where a
    context folder is named ``<class>(<context>)``, e.g. ``cat(sofa)``. The
    test set holds only ``cat(shelf)`` and ``dog(shelf)``. There is no
    official validation split: ``val`` is held out from ``train`` (see
    :func:`holdout_mask`) and ``trainval`` is the whole training folder, the
    papers' training set.

    Each sample carries:

    - ``gt_label``: 0 cat, 1 dog (order of ``classes``).
    - ``context``: the context name, e.g. ``'sofa'``.
    - ``spurious_label``: index of the context in
      ``metainfo['spurious_names']``, the sorted contexts of the train and
      test folders together, so an index means the same in every split.
    - ``group_label``: with ``group_by='class'`` the class, as in the papers
      (their WGA is the worst per-class accuracy on the one-context test
      set); with ``group_by='context'`` the index of the (class, context)
      pair in ``metainfo['group_names']`` (e.g. ``'cat(sofa)'``), sorted
      over both folders.

    Args:
        data_root (str): The ``MetaDatasetCatDog`` folder.
        split (str): ``'train'``, ``'val'``, ``'trainval'`` or ``'test'``;
            or ``'test_as_val'``, the test split with a warning, for the
            reference's selection on test. Defaults to ``'train'``.
        val_fraction (float): Fraction of each class of the training folder
            held out as ``val``. Defaults to 0.1.
        seed (int): Seed of the held-out choice. Defaults to 0.
        group_by (str): ``'class'`` or ``'context'``. Defaults to
            ``'class'``.
        extensions (Sequence[str]): Image file extensions. Defaults to
            ``('.jpg', '.jpeg', '.png')``.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``; pass
            ``classes`` for another MetaShift task with other class folders.
    """
    METAINFO = dict(classes=('cat', 'dog'))
    SPLITS = ('train', 'val', 'trainval', 'test')
    FOLDERS = ('train', 'test')
    GROUP_BY = ('class', 'context')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 val_fraction: float = 0.1,
                 seed: int = 0,
                 group_by: str = 'class',
                 extensions: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                 **kwargs) -> None:
        if group_by not in self.GROUP_BY:
            raise ValueError(f'MetaShift: group_by must be one of '
                             f'{self.GROUP_BY}, got {group_by!r}.')
        self.split = split
        self._split = resolve_split(type(self).__name__, split, self.SPLITS)
        self.val_fraction = val_fraction
        self.seed = seed
        self.group_by = group_by
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _scan(self, folder: str) -> List[Tuple[str, int, str]]:
        """List (relative path, class index, context name) of a folder."""
        root = require_dir(
            osp.join(self.data_root, folder), 'MetaShift folder', _FIX)
        classes = list(self.CLASSES)
        found = sub_dirs(root)
        if sorted(found) != sorted(classes):
            raise ValueError(f'{root} holds class folders {found}, expected '
                             f'{classes}. {_FIX}')
        samples = []
        for label, name in enumerate(classes):
            for rel in list_images(osp.join(root, name), self.extensions):
                if '/' not in rel:
                    raise ValueError(
                        f'{osp.join(root, name, rel)} is not in a context '
                        f'folder. {_FIX}')
                samples.append((f'{folder}/{name}/{rel}', label,
                                _context_name(rel.split('/', 1)[0])))
        if not samples:
            raise ValueError(f'No image with extension {self.extensions} '
                             f'under {root}. {_FIX}')
        return samples

    def load_data_list(self) -> List[dict]:
        """Scan the folders and keep the samples of the split.

        Returns:
            List[dict]: One dict per image.
        """
        folder = 'test' if self._split == 'test' else 'train'
        # Scan both folders (when present) so that context and group
        # indices do not depend on the split being loaded.
        scanned = {
            name: self._scan(name)
            for name in self.FOLDERS
            if name == folder or osp.isdir(osp.join(self.data_root, name))
        }
        pairs = sorted({(label, context)
                        for samples in scanned.values()
                        for _, label, context in samples})
        contexts = sorted({context for _, context in pairs})
        self._metainfo['spurious_names'] = tuple(contexts)
        if self.group_by == 'context':
            self._metainfo['group_names'] = tuple(
                f'{self.CLASSES[label]}({context})'
                for label, context in pairs)
        else:
            self._metainfo['group_names'] = tuple(self.CLASSES)

        samples = scanned[folder]
        by_context = self.group_by == 'context'
        group_ids = {pair: i for i, pair in enumerate(pairs)}
        data_list = [
            dict(
                img_path=osp.join(self.data_root, rel),
                gt_label=label,
                context=context,
                spurious_label=contexts.index(context),
                group_label=group_ids[label, context] if by_context else label)
            for rel, label, context in samples
        ]
        if folder == 'train':
            data_list = select_holdout(
                type(self).__name__, data_list, [rel for rel, *_ in samples],
                self._split, self.val_fraction, self.seed)
        return data_list

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}', f'Split: \t{self.split}'
        ]


def _context_name(folder: str) -> str:
    """``'cat(sofa)'`` -> ``'sofa'``; a folder without brackets is kept."""
    match = _CONTEXT.match(folder)
    return match.group('context') if match else folder
