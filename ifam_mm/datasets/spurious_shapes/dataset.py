# Copyright (c) ifam_mm contributors. All rights reserved.
"""SpuriousShapes: an offline benchmark with a known spurious cue."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import mmengine

from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS
from .cache import prepare_cache
from .generator import CUES, SPLITS
from .objects import FG_SOURCES, animal_class_names
from .textures import TEXTURES

DEFAULT_NUM_SAMPLES = dict(
    train=2000,
    val=400,
    test=800,
    test_heldout_bg=400,
    only_fg=400,
    only_bg=400,
    mixed_same=400,
    mixed_rand=400)


@DATASETS.register_module()
class SpuriousShapes(BaseDataset):
    """Objects with exact masks on a background that correlates with class.

    A Waterbirds-like benchmark generated offline from a seed (no download):
    binary-alpha objects (animal silhouettes of ``animal-shape-mnist``, or
    drawn four-part creatures with exact part labels) pasted on crops of
    scikit-image's CC0 textures. Two classes and two values of a spurious
    attribute; attribute value ``a`` is the majority one of class ``a``:

    - ``cue='background'``: the attribute is the background texture
      (class 0 mostly on ``textures[0]``, class 1 on ``textures[1]``), as
      in Waterbirds.
    - ``cue='cooccurring_object'``: the attribute is a small second object
      (a white disk or a black square, see ``CUE_OBJECTS``) drawn on patch
      tokens that contain no pixel of the main object, as in MetaShift; the
      texture is drawn at random and carries no information.

    In ``train`` a fraction ``p_major`` of each class has its majority
    attribute; ``val`` and ``test`` are balanced over the four (class,
    attribute) groups. ``test_heldout_bg`` is drawn like ``test`` on
    ``heldout_textures`` only (so, for the background cue, its attribute is
    the held-out texture). The ImageNet-9-style splits: ``only_fg`` (the
    object on a blank grey background, no cue), ``only_bg`` (the object's
    bounding box blanked; attribute = the class's majority one), and
    ``mixed_same`` / ``mixed_rand`` (attribute = the class's majority one /
    uniformly random). Each sample carries:

    - ``img_path`` (BGR PNG) and ``mask_path`` (a label map PNG that
      :class:`LoadSpuriousShapesMasks` turns into ``gt_fg_mask``,
      ``gt_part_mask`` and ``gt_cue_mask``),
    - ``gt_label``; ``spurious_label`` (the attribute: index into
      ``metainfo['attributes']``, -1 in ``only_fg``); ``group_label``
      (index into ``metainfo['group_names']``: ``2 * gt_label + attribute``,
      or just ``gt_label`` in splits where every sample has the same
      attribute, i.e. ``only_fg`` and, for the background cue,
      ``test_heldout_bg``); ``bg_label`` (index into
      ``metainfo['backgrounds']``, -1 for blank); and ``variant``
      (``'original'``, or the ImageNet-9 variant name).

    ``metainfo`` also holds ``train_group_counts`` and ``minority_groups``
    where groups are (class, attribute) pairs, which ``GroupAccuracy``
    reads. All splits are generated together on first use (a few seconds)
    into ``data_root/<cue>-<fg_source>-seed<seed>-<hash>/`` and reused while
    the parameters (and library versions) stay the same.

    Args:
        data_root (str): Folder of the generated caches.
        split (str): One of ``'train'``, ``'val'``, ``'test'``,
            ``'test_heldout_bg'``, ``'only_fg'``, ``'only_bg'``,
            ``'mixed_same'``, ``'mixed_rand'``. Defaults to ``'train'``.
        seed (int): Seed of everything generated. Defaults to 0.
        cue (str): ``'background'`` or ``'cooccurring_object'``.
            Defaults to ``'background'``.
        fg_source (str): ``'animals'`` or ``'creatures'``. Defaults to
            ``'creatures'``.
        animal_classes (Sequence[Sequence[str]]): Animals of class 0 and of
            class 1, for ``fg_source='animals'``. Defaults to
            ``(('bird',), ('cat', 'dog'))``.
        img_size (int): Image side in pixels. Defaults to 64.
        patch_size (int): Patch side of the ViT meant to read the images;
            the co-occurring object is placed on tokens of its own.
            Defaults to 8.
        obj_size (tuple[float, float]): Range of the object's box side, as
            a fraction of ``img_size``. Defaults to (0.55, 0.75).
        cue_size (int): Side of the co-occurring object in pixels.
            Defaults to 10.
        p_major (float): Training share of each class with its majority
            attribute. Defaults to 0.95.
        textures (Sequence[str]): The two training textures (attribute
            values 0 and 1 for the background cue). Defaults to
            ``('grass', 'brick')``.
        heldout_textures (Sequence[str]): Textures of ``test_heldout_bg``.
            Defaults to ``('gravel',)``.
        num_samples (dict, optional): Samples per split; given keys override
            :data:`DEFAULT_NUM_SAMPLES`. Defaults to None.
        **kwargs: Passed to mmpretrain's ``BaseDataset`` (``pipeline``,
            ``test_mode``, ``indices``...).

    Example:
        >>> from ifam_mm.datasets.spurious_shapes import SpuriousShapes
        >>> test = SpuriousShapes('data/spurious_shapes', split='test')
        >>> test.metainfo['group_names']
        ('bird/grass', 'bird/brick', 'quadruped/grass', 'quadruped/brick')
        >>> sorted(test[0])[:3]
        ['bg_label', 'group_label', 'gt_label']
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 seed: int = 0,
                 cue: str = 'background',
                 fg_source: str = 'creatures',
                 animal_classes: Sequence[Sequence[str]] = (('bird', ),
                                                            ('cat', 'dog')),
                 img_size: int = 64,
                 patch_size: int = 8,
                 obj_size: Tuple[float, float] = (0.55, 0.75),
                 cue_size: int = 10,
                 p_major: float = 0.95,
                 textures: Sequence[str] = ('grass', 'brick'),
                 heldout_textures: Sequence[str] = ('gravel', ),
                 num_samples: Optional[dict] = None,
                 **kwargs) -> None:
        for key in ('ann_file', 'data_prefix'):
            if key in kwargs:
                raise TypeError(f'SpuriousShapes generates its own files; '
                                f'it takes no {key!r}.')
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, got {split!r}.')
        self.split = split
        self.params = _check_params(
            dict(
                seed=int(seed),
                cue=cue,
                fg_source=fg_source,
                animal_classes=[list(a) for a in animal_classes],
                img_size=int(img_size),
                patch_size=int(patch_size),
                obj_size=[float(s) for s in obj_size],
                cue_size=int(cue_size),
                p_major=float(p_major),
                textures=list(textures),
                heldout_textures=list(heldout_textures),
                num_samples=dict(DEFAULT_NUM_SAMPLES, **(num_samples or {}))))
        self.cache_dir = prepare_cache(data_root, self.params)
        super().__init__(
            ann_file=f'{split}.json', data_root=self.cache_dir, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the split's annotation file from the cache.

        Returns:
            list[dict]: One dict per sample, with absolute ``img_path`` and
            ``mask_path``.
        """
        annotation = mmengine.load(self.ann_file)
        for key, value in annotation['metainfo'].items():
            # As in mmengine: metainfo given to the constructor wins.
            self._metainfo.setdefault(key, _as_tuple(value))
        data_list = annotation['data_list']
        for info in data_list:
            for key in ('img_path', 'mask_path'):
                info[key] = osp.join(self.cache_dir, info[key])
        return data_list

    def extra_repr(self) -> List[str]:
        """Extra information shown by ``repr``."""
        return [
            f'Split: \t{self.split}', f"Cue: \t{self.params['cue']}",
            f'Cache: \t{self.cache_dir}'
        ]


def _as_tuple(value):
    # JSON turns tuples into lists; metainfo uses tuples like mmpretrain's.
    return tuple(value) if isinstance(value, list) else value


def _check_params(params: dict) -> dict:
    """Raise a clear error for parameters the generator cannot honour."""
    if params['cue'] not in CUES:
        raise ValueError(f"cue must be one of {CUES}, got {params['cue']!r}.")
    if params['fg_source'] not in FG_SOURCES:
        raise ValueError(f'fg_source must be one of {FG_SOURCES}, got '
                         f"{params['fg_source']!r}.")
    if params['fg_source'] == 'animals':
        animal_class_names(params['animal_classes'])
    size, patch = params['img_size'], params['patch_size']
    if size < 16 or patch < 1 or size % patch:
        raise ValueError(f'img_size ({size}) must be >= 16 and a multiple of '
                         f'patch_size ({patch}).')
    lo, hi = params['obj_size']
    if not 0 < lo <= hi <= 1:
        raise ValueError(f'obj_size must satisfy 0 < min <= max <= 1, got '
                         f"{params['obj_size']}.")
    if not 1 <= params['cue_size'] <= size // 2:
        raise ValueError(f"cue_size must be in [1, img_size / 2], got "
                         f"{params['cue_size']}.")
    if not 0.5 <= params['p_major'] <= 1:
        raise ValueError(f"p_major must be in [0.5, 1], got "
                         f"{params['p_major']}.")
    textures = params['textures'] + params['heldout_textures']
    if (len(params['textures']) != 2 or not params['heldout_textures']
            or len(set(textures)) != len(textures)
            or not set(textures) <= set(TEXTURES)):
        raise ValueError(
            'textures must name 2 and heldout_textures at least 1 distinct '
            f"textures of {TEXTURES}, got {params['textures']} and "
            f"{params['heldout_textures']}.")
    unknown = set(params['num_samples']) - set(SPLITS)
    if unknown or any(n < 4 for n in params['num_samples'].values()):
        raise ValueError(f'num_samples must map splits of {SPLITS} to at '
                         f"least 4 samples each, got {params['num_samples']}.")
    return params
