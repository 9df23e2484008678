# Copyright (c) ifam_mm contributors. All rights reserved.
"""Foreground objects: animal silhouettes or drawn creatures, as part maps."""
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

from .animals import ANIMAL_CLASSES, load_animal_silhouettes
from .creatures import CREATURE_CLASSES, CREATURE_PARTS, draw_creature

FG_SOURCES = ('animals', 'creatures')
# Silhouettes of each animal are split once into disjoint pools, so no
# evaluation image shows a silhouette seen in training.
POOL_FRACTIONS = dict(train=0.6, val=0.15, test=0.25)


class ObjectSource:
    """Draws objects of a class as part-label maps.

    Args:
        fg_source (str): ``'animals'`` (silhouettes of animal-shape-mnist,
            one part) or ``'creatures'`` (drawn, four parts).
        animal_classes (Sequence[Sequence[str]]): For ``'animals'``, the
            animals of class 0 and of class 1.
        seed (int): Seed of the split into silhouette pools.
    """

    def __init__(self, fg_source: str,
                 animal_classes: Sequence[Sequence[str]], seed: int) -> None:
        if fg_source not in FG_SOURCES:
            raise ValueError(f'fg_source must be one of {FG_SOURCES}, got '
                             f'{fg_source!r}.')
        self.fg_source = fg_source
        if fg_source == 'creatures':
            self.classes = CREATURE_CLASSES
            self.part_names = CREATURE_PARTS
            return
        self.classes, self.part_names = animal_class_names(animal_classes), (
            'animal', )
        images, labels = load_animal_silhouettes()
        self.images = images
        rng = np.random.default_rng([seed, 1000])
        self.pools: Dict[Tuple[int, str], np.ndarray] = {}
        for label, animals in enumerate(animal_classes):
            ids = np.flatnonzero(
                np.isin(labels, [ANIMAL_CLASSES.index(a) for a in animals]))
            ids = rng.permutation(ids)
            n_train = int(len(ids) * POOL_FRACTIONS['train'])
            n_val = int(len(ids) * POOL_FRACTIONS['val'])
            self.pools[label, 'train'] = ids[:n_train]
            self.pools[label, 'val'] = ids[n_train:n_train + n_val]
            self.pools[label, 'test'] = ids[n_train + n_val:]

    def draw(self, label: int, size: int, pool: str,
             rng: np.random.Generator) -> np.ndarray:
        """One object of class ``label`` as a uint8 part map [size, size].

        Args:
            label (int): Class index, 0 or 1.
            size (int): Side of the map in pixels.
            pool (str): Silhouette pool, ``'train'``, ``'val'`` or
                ``'test'`` (ignored by drawn creatures).
            rng (np.random.Generator): Source of randomness.

        Returns:
            np.ndarray: 0 outside the object, part ids (from 1) inside.
        """
        if self.fg_source == 'creatures':
            return draw_creature(label, size, rng)
        ids = self.pools[label, pool]
        silhouette = self.images[ids[int(rng.integers(len(ids)))]]
        if rng.random() < 0.5:
            silhouette = silhouette[:, ::-1]
        # Threshold after interpolation: a binary alpha keeps the mask exact.
        big = cv2.resize(
            np.ascontiguousarray(silhouette), (size, size),
            interpolation=cv2.INTER_LINEAR)
        return (big > 127).astype(np.uint8)


def animal_class_names(
        animal_classes: Sequence[Sequence[str]]) -> Tuple[str, str]:
    """Check the animals of the two classes and name the classes.

    Args:
        animal_classes (Sequence[Sequence[str]]): Animals of class 0 and of
            class 1, e.g. ``(('bird',), ('cat', 'dog'))``.

    Returns:
        tuple[str, str]: Class names, e.g. ``('bird', 'cat+dog')``.
    """
    if len(animal_classes) != 2 or not all(animal_classes):
        raise ValueError('animal_classes must list the animals of class 0 and '
                         f'of class 1, got {animal_classes!r}.')
    flat = [a for animals in animal_classes for a in animals]
    unknown = sorted(set(flat) - set(ANIMAL_CLASSES))
    if unknown or len(flat) != len(set(flat)):
        raise ValueError(f'animal_classes {animal_classes!r} must name '
                         f'distinct animals of {ANIMAL_CLASSES}.')
    return tuple('+'.join(animals) for animals in animal_classes)
