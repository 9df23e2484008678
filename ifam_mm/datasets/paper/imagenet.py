# Copyright (c) ifam_mm contributors. All rights reserved.
"""ImageNet-1K class folders and the ImageNet-9 backgrounds challenge."""
import json
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple, Union

from mmpretrain.datasets import BaseDataset, ImageNet
from mmpretrain.registry import DATASETS
from .utils import list_images, require_dir, require_file, sub_dirs

_WNID = re.compile(r'^n\d{8}$')
_IN9_FIX = ('Expected <data_root>/<variant>/<split>/<9 class folders '
            '00_dog ... 08_fish>/<image>, as unpacked from '
            'backgrounds_challenge_data.tar.gz; see docs/datasets.md.')


@DATASETS.register_module()
class ImageNet1k(ImageNet):
    """mmpretrain's ``ImageNet`` with checks on the class folders.

    Class indices are the positions of the WordNet ids in sorted order, the
    standard 0-999 indices that pretrained heads and ``in_to_in9.json``
    assume. Before scanning, the split folder must exist and hold
    ``len(classes)`` folders named by WordNet id (``n01440764``); a
    validation folder of loose images, or renamed folders, would silently
    shift the indices. With an annotation file (``meta/<split>.txt``, found
    automatically as in mmpretrain) the labels come from the file instead.

    Args:
        data_root (str): The ImageNet folder with ``train/`` and ``val/``.
        split (str): ``'train'`` or ``'val'`` (``'test'`` has no labels).
            Defaults to ``'train'``.
        **kwargs: Other arguments of mmpretrain's ``ImageNet``; pass
            ``classes`` to use a subset of the classes.
    """

    def __init__(self, data_root: str, split: str = 'train', **kwargs) -> None:
        super().__init__(data_root=data_root, split=split, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Check the class folders, then scan them as mmpretrain does.

        Returns:
            List[dict]: One dict per image.
        """
        if not self.ann_file and self.with_label:
            root = require_dir(
                self.img_prefix, 'ImageNet split folder',
                'Point data_root at the folder holding train/ and val/.')
            folders = sub_dirs(root)
            fix = ('Keep one folder per WordNet id (n01440764 ...) and sort '
                   'the validation images into them, or list them in '
                   'meta/<split>.txt as "<path> <label>" lines.')
            bad = [f for f in folders if not _WNID.match(f)]
            if bad:
                raise ValueError(f'{root} holds folders that are not '
                                 f'WordNet ids: {bad[:5]}. {fix}')
            if len(folders) != len(self.CLASSES):
                raise ValueError(
                    f'{root} holds {len(folders)} class folders, expected '
                    f'{len(self.CLASSES)} (len(classes)). {fix}')
        return super().load_data_list()


def load_in9_mapping(path: str) -> Tuple[int, ...]:
    """Read an ``in_to_in9.json`` file: ImageNet class -> IN-9 class or -1.

    The file is a JSON object with keys ``"0"`` ... ``"999"`` and values
    0-8, or -1 for classes outside the nine super-classes.

    Args:
        path (str): The JSON file. It is never looked up implicitly.

    Returns:
        Tuple[int, ...]: ``table[imagenet_class]``.
    """
    fix = ('Use in_to_in9.json from the MadryLab backgrounds_challenge '
           'repository; see docs/datasets.md.')
    with open(require_file(path, 'IN-9 class mapping', fix)) as f:
        try:
            mapping = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(
                f'{path} is not valid JSON ({e}). {fix}') from None
    if not isinstance(mapping, dict):
        raise ValueError(f'{path} must hold a JSON object. {fix}')
    try:
        table = {int(k): v for k, v in mapping.items()}
    except ValueError:
        raise ValueError(f'{path}: keys must be ImageNet class indices. '
                         f'{fix}') from None
    if sorted(table) != list(range(len(table))):
        raise ValueError(f'{path}: keys must be "0" ... '
                         f'"{len(table) - 1}" without gaps. {fix}')
    bad = {k: v for k, v in table.items() if v not in range(-1, 9)}
    if bad:
        raise ValueError(f'{path}: values must be IN-9 classes 0-8 or -1, '
                         f'got {dict(list(bad.items())[:3])}. {fix}')
    return tuple(table[k] for k in range(len(table)))


@DATASETS.register_module()
class ImageNet9(BaseDataset):
    """ImageNet-9 backgrounds challenge (Xiao et al., 2021), several variants.

    Loads ``<data_root>/<variant>/<split>/<class folder>/<image>`` for each
    requested variant into one dataset, so a single test run gives
    :class:`IN9Accuracy` every ``acc_<variant>`` and the BG-GAP. Class
    folders (``00_dog`` ... ``08_fish``) must be the same nine in every
    variant; labels are their sorted positions and ``classes`` their names
    without the number. Each sample carries ``gt_label`` (0-8) and
    ``variant`` (e.g. ``'mixed_rand'``).

    Args:
        data_root (str): The ``bg_challenge`` folder.
        variants (str | Sequence[str]): Among ``VARIANTS``. Defaults to
            ``PAPER_VARIANTS``: ``('original', 'mixed_same',
            'mixed_rand')``.
        split (str): Sub-folder of each variant. Defaults to ``'val'``
            (the only one the challenge archive has).
        class_mapping (str, optional): Path of ``in_to_in9.json``; its table
            is validated and stored as ``metainfo['in_to_in9']`` (pass the
            same path to ``IN9Accuracy(mapping=...)`` for a 1000-class
            model). Never looked up in the working directory. Defaults to
            None.
        extensions (Sequence[str]): Image file extensions, matched without
            regard to case. Defaults to ``('.jpg', '.jpeg', '.png')``.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``.
    """
    VARIANTS = ('original', 'only_fg', 'no_fg', 'only_bg_b', 'only_bg_t',
                'mixed_same', 'mixed_rand', 'mixed_next')
    PAPER_VARIANTS = ('original', 'mixed_same', 'mixed_rand')

    def __init__(self,
                 data_root: str,
                 variants: Union[str, Sequence[str]] = PAPER_VARIANTS,
                 split: str = 'val',
                 class_mapping: Optional[str] = None,
                 extensions: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                 **kwargs) -> None:
        variants = (variants, ) if isinstance(variants, str) else variants
        for variant in variants:
            if variant == 'fg_mask':
                raise ValueError(
                    'ImageNet9: fg_mask holds .npy foreground masks, not '
                    f'images; choose variants among {self.VARIANTS}.')
            if variant not in self.VARIANTS:
                raise ValueError(f'ImageNet9: unknown variant {variant!r}; '
                                 f'choose among {self.VARIANTS}.')
        self.variants = tuple(variants)
        self.split = split
        self.class_mapping = class_mapping
        self.extensions = tuple(e.lower() for e in extensions)
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Scan the class folders of every variant.

        Returns:
            List[dict]: One dict per image, variant by variant.
        """
        if self.class_mapping is not None:
            self._metainfo['in_to_in9'] = load_in9_mapping(self.class_mapping)
        data_list = []
        folders = None
        for variant in self.variants:
            root = require_dir(
                osp.join(self.data_root, variant, self.split),
                f'IN-9 variant {variant!r}', _IN9_FIX)
            found = sub_dirs(root)
            if len(found) != 9 or (folders is not None and found != folders):
                raise ValueError(
                    f'{root} holds class folders {found}, expected nine '
                    f'folders, the same in every variant. {_IN9_FIX}')
            folders = found
            for label, name in enumerate(folders):
                images = list_images(osp.join(root, name), self.extensions)
                if not images:
                    raise ValueError(f'No image in {osp.join(root, name)}. '
                                     f'{_IN9_FIX}')
                data_list.extend(
                    dict(
                        img_path=osp.join(root, name, rel),
                        gt_label=label,
                        variant=variant) for rel in images)
        # '02_wheeled vehicle' -> 'wheeled vehicle'.
        self._metainfo['classes'] = tuple(
            re.sub(r'^\d+_', '', name) for name in folders)
        self._metainfo['variants'] = self.variants
        return data_list

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [
            f'Root of dataset: \t{self.data_root}',
            f'Variants: \t{", ".join(self.variants)}'
        ]
