# Copyright (c) ifam_mm contributors. All rights reserved.
"""Generate every split of SpuriousShapes into a folder of PNGs and JSONs."""
import os
import os.path as osp
from typing import Tuple

import cv2
import mmengine
import numpy as np

from .objects import ObjectSource
from .render import CUE_OBJECTS, render

SPLITS = ('train', 'val', 'test', 'test_heldout_bg', 'only_fg', 'only_bg',
          'mixed_same', 'mixed_rand')
CUES = ('background', 'cooccurring_object')
# Attribute value of the samples whose spurious attribute is absent
# (only_fg has no background and no co-occurring object).
NO_ATTRIBUTE = -1


def _balanced(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """n ids in [0, k), as equal in count as n allows, shuffled."""
    return rng.permutation(np.arange(n) % k)


def _train_counts(n: int, p_major: float) -> Tuple[int, int, int, int]:
    """Training samples of groups 0-3 (group = 2 * class + attribute)."""
    per_class = (n // 2, n - n // 2)
    minority = [c - int(round(c * p_major)) for c in per_class]
    return (per_class[0] - minority[0], minority[0], minority[1],
            per_class[1] - minority[1])


def _plan(split: str, n: int, p_major: float,
          rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Class label and attribute value (0/1, or NO_ATTRIBUTE) per sample.

    Attribute value ``a`` is the "majority" one of class ``a``. In train
    the group sizes are exact (:func:`_train_counts`), not a coin flip per
    sample, so the correlation is exactly ``p_major``.
    """
    if split == 'train':
        groups = np.repeat(np.arange(4), _train_counts(n, p_major))
        groups = rng.permutation(groups)
        return groups // 2, groups % 2
    if split in ('val', 'test', 'test_heldout_bg'):
        groups = _balanced(n, 4, rng)
        return groups // 2, groups % 2
    labels = _balanced(n, 2, rng)
    if split == 'only_fg':
        return labels, np.full(n, NO_ATTRIBUTE)
    if split == 'mixed_rand':
        return labels, rng.integers(0, 2, size=n)
    return labels, labels.copy()  # only_bg, mixed_same: the class's own


def _fixed_attribute(split: str, cue: str) -> bool:
    """Whether every sample of the split has the same attribute, so that a
    group is just a class: no background in only_fg, and the held-out
    background when the background is the cue."""
    return split == 'only_fg' or (split == 'test_heldout_bg'
                                  and cue == 'background')


def split_metainfo(split: str, params: dict, classes: Tuple[str],
                   part_names: Tuple[str]) -> dict:
    """What the ids of one split mean: classes, attributes, groups, parts.

    Args:
        split (str): Split name.
        params (dict): Generator parameters.
        classes (tuple[str]): Class names.
        part_names (tuple[str]): Names of part ids 1, 2, ...

    Returns:
        dict: The split's ``metainfo``.
    """
    cue = params['cue']
    backgrounds = tuple(params['textures']) + tuple(params['heldout_textures'])
    attributes = backgrounds if cue == 'background' else CUE_OBJECTS
    meta = dict(
        classes=classes,
        cue=cue,
        split=split,
        attributes=attributes,
        backgrounds=backgrounds,
        part_names=part_names)
    if _fixed_attribute(split, cue):
        attr = 'blank' if split == 'only_fg' else '|'.join(
            params['heldout_textures'])
        meta['group_names'] = tuple(f'{c}/{attr}' for c in classes)
        return meta
    meta['group_names'] = tuple(f'{c}/{a}' for c in classes
                                for a in attributes[:2])
    meta['train_group_counts'] = _train_counts(params['num_samples']['train'],
                                               params['p_major'])
    meta['minority_groups'] = (1, 2)
    return meta


def _background(split: str, attr: int, params: dict,
                rng: np.random.Generator) -> int:
    """Index of the sample's texture in textures + heldout_textures, or -1
    for a blank background."""
    n_train, n_heldout = len(params['textures']), len(
        params['heldout_textures'])
    if attr == NO_ATTRIBUTE:
        return -1
    if split == 'test_heldout_bg':
        return n_train + int(rng.integers(n_heldout))
    if params['cue'] == 'background':
        return attr
    return int(rng.integers(n_train))


def generate_split(split: str, params: dict, objects: ObjectSource,
                   out_dir: str) -> dict:
    """Render one split into ``out_dir/split`` and describe it.

    Args:
        split (str): Split name, one of :data:`SPLITS`.
        params (dict): Generator parameters (see ``SpuriousShapes``).
        objects (ObjectSource): Where the objects come from.
        out_dir (str): Cache folder being written.

    Returns:
        dict: OpenMMLab 2.0 annotation, ``metainfo`` and ``data_list`` with
        paths relative to ``out_dir``.
    """
    # One independent stream per split: a split's images depend on the seed
    # and its own size, not on the sizes of the other splits.
    rng = np.random.default_rng([params['seed'], SPLITS.index(split)])
    cue, img_size = params['cue'], params['img_size']
    backgrounds = tuple(params['textures']) + tuple(params['heldout_textures'])
    pool = split if split in ('train', 'val') else 'test'
    for sub in ('img', 'mask'):
        os.makedirs(osp.join(out_dir, split, sub))
    labels, attrs = _plan(split, params['num_samples'][split],
                          params['p_major'], rng)
    lo, hi = params['obj_size']
    data_list = []
    for i, (label, attr) in enumerate(zip(labels.tolist(), attrs.tolist())):
        bg = _background(split, attr, params, rng)
        side = int(round(rng.uniform(lo, hi) * img_size))
        obj = objects.draw(label, side, pool, rng)
        with_cue = cue == 'cooccurring_object' and attr != NO_ATTRIBUTE
        img, label_map = render(
            obj,
            backgrounds[bg] if bg >= 0 else None,
            cue,
            attr if with_cue else None,
            img_size,
            params['patch_size'],
            params['cue_size'],
            rng,
            erase_object=split == 'only_bg')
        name = f'{i:05d}.png'
        for sub, array in (('img', img), ('mask', label_map)):
            path = osp.join(out_dir, split, sub, name)
            if not cv2.imwrite(path, array):
                raise OSError(f'Could not write {path}.')
        spurious = bg if cue == 'background' and bg >= 0 else attr
        group = label if _fixed_attribute(split, cue) else 2 * label + attr
        data_list.append(
            dict(
                img_path=osp.join(split, 'img', name),
                mask_path=osp.join(split, 'mask', name),
                gt_label=label,
                spurious_label=spurious,
                group_label=group,
                bg_label=bg,
                variant=split if split in ('only_fg', 'only_bg', 'mixed_same',
                                           'mixed_rand') else 'original'))
    meta = split_metainfo(split, params, objects.classes, objects.part_names)
    return dict(metainfo=meta, data_list=data_list)


def generate(params: dict, out_dir: str) -> None:
    """Write all splits and their annotation files into ``out_dir``.

    Args:
        params (dict): Generator parameters (see ``SpuriousShapes``).
        out_dir (str): An empty folder.
    """
    objects = ObjectSource(params['fg_source'], params['animal_classes'],
                           params['seed'])
    for split in SPLITS:
        annotation = generate_split(split, params, objects, out_dir)
        mmengine.dump(annotation, osp.join(out_dir, f'{split}.json'))
