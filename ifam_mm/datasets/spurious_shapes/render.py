# Copyright (c) ifam_mm contributors. All rights reserved.
"""Compose one SpuriousShapes image and its label map."""
from typing import Optional, Tuple

import cv2
import numpy as np

from .masks import BACKGROUND, BLANK, BLANK_VALUE, CUE
from .textures import random_crop

# Kinds of the co-occurring object, by attribute value. They differ in shape
# and brightness, so a ViT picks them up from one or two tokens: far easier
# than the animal's outline, which is what makes them a shortcut.
CUE_OBJECTS = ('white_disk', 'black_square')
_CUE_GREY = (235, 20)
# How often to re-place the object before concluding that the co-occurring
# object can never get tokens of its own.
_MAX_TRIES = 100


def _object_colour(rng: np.random.Generator) -> np.ndarray:
    """A random saturated colour (BGR): stands out from the grey textures
    and, drawn the same way for every class, says nothing about the class."""
    hsv = np.array([[[rng.integers(180), rng.integers(150, 256),
                      rng.integers(150, 256)]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def _footprint(obj: np.ndarray, x0: int, y0: int, grid: int,
               patch: int) -> np.ndarray:
    """Bool [grid, grid]: tokens that contain any object pixel."""
    full = np.zeros((grid * patch, grid * patch), dtype=bool)
    full[y0:y0 + obj.shape[0], x0:x0 + obj.shape[1]] = obj > 0
    return full.reshape(grid, patch, grid, patch).any(axis=(1, 3))


def _free_blocks(taken: np.ndarray, cells: int) -> list:
    """Top-left token (row, col) of each free ``cells x cells`` block."""
    grid = taken.shape[0]
    return [(r, c) for r in range(grid - cells + 1)
            for c in range(grid - cells + 1)
            if not taken[r:r + cells, c:c + cells].any()]


def _place(obj: np.ndarray, img_size: int, patch: int, cue_size: int,
           with_cue: bool, rng: np.random.Generator) -> Tuple[tuple, tuple]:
    """Object offset, and the cue's pixel offset if ``with_cue``.

    The co-occurring object lies in a block of whole tokens that contains
    no object pixel, so a token mask can keep the object and drop the cue
    exactly: the cue is separable at token level by construction.
    """
    grid, cells = img_size // patch, -(-cue_size // patch)
    for _ in range(_MAX_TRIES):
        x0, y0 = (int(v) for v in rng.integers(
            0, img_size - obj.shape[0], size=2, endpoint=True))
        if not with_cue:
            return (x0, y0), None
        blocks = _free_blocks(_footprint(obj, x0, y0, grid, patch), cells)
        if blocks:
            row, col = blocks[int(rng.integers(len(blocks)))]
            dy, dx = rng.integers(0, cells * patch - cue_size, size=2,
                                  endpoint=True)
            return (x0, y0), (col * patch + int(dx), row * patch + int(dy))
    raise ValueError(
        f'Found no {cells}x{cells}-token block free of the object for the '
        f'co-occurring object after {_MAX_TRIES} placements: lower obj_size '
        'or cue_size, or raise img_size.')


def _draw_cue(kind: int, size: int) -> np.ndarray:
    """Bool [size, size] shape of co-occurring object ``kind``."""
    shape = np.zeros((size, size), dtype=np.uint8)
    if CUE_OBJECTS[kind] == 'white_disk':
        cv2.circle(shape, (size // 2, size // 2), size // 2, 1, -1)
    else:
        shape[:] = 1
    return shape.astype(bool)


def render(obj: np.ndarray,
           texture: Optional[str],
           cue: str,
           cue_kind: Optional[int],
           img_size: int,
           patch_size: int,
           cue_size: int,
           rng: np.random.Generator,
           erase_object: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Paste an object (and maybe a co-occurring object) on a background.

    Args:
        obj (np.ndarray): uint8 part-label map [s, s] of the object (0
            outside it), s <= img_size.
        texture (str, optional): Background texture; None for a BLANK
            background.
        cue (str): ``'background'`` (background pixels get the CUE code) or
            ``'cooccurring_object'``.
        cue_kind (int, optional): Co-occurring object to add, index into
            :data:`CUE_OBJECTS`; None adds none.
        img_size (int): Image side in pixels.
        patch_size (int): ViT patch side, for placing the co-occurring object
            on tokens of its own.
        cue_size (int): Side of the co-occurring object in pixels.
        rng (np.random.Generator): Source of randomness.
        erase_object (bool): Fill the object's bounding box with BLANK, as
            ImageNet-9's ``only_bg`` does (a silhouette-shaped hole would
            still show the class). Defaults to False.

    Returns:
        tuple[np.ndarray, np.ndarray]: BGR image [H, W, 3] uint8 and label map
        [H, W] uint8 (codes in :mod:`.masks`).
    """
    if texture is None:
        grey = np.full((img_size, img_size), BLANK_VALUE, dtype=np.uint8)
        label_map = np.full((img_size, img_size), BLANK, dtype=np.uint8)
    else:
        grey = random_crop(texture, img_size, rng)
        code = CUE if cue == 'background' else BACKGROUND
        label_map = np.full((img_size, img_size), code, dtype=np.uint8)
    img = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)

    (x0, y0), cue_xy = _place(obj, img_size, patch_size, cue_size,
                              cue_kind is not None, rng)
    inside = obj > 0
    box = (slice(y0, y0 + obj.shape[0]), slice(x0, x0 + obj.shape[1]))
    noise = rng.normal(0., 10., size=(int(inside.sum()), 3))
    img[box][inside] = _object_colour(rng) + noise
    label_map[box][inside] = obj[inside]

    if cue_xy is not None:
        shape = _draw_cue(cue_kind, cue_size)
        cue_box = (slice(cue_xy[1], cue_xy[1] + cue_size),
                   slice(cue_xy[0], cue_xy[0] + cue_size))
        img[cue_box][shape] = _CUE_GREY[cue_kind]
        label_map[cue_box][shape] = CUE

    if erase_object:
        rows, cols = np.nonzero(inside)
        hole = (slice(y0 + rows.min(), y0 + rows.max() + 1),
                slice(x0 + cols.min(), x0 + cols.max() + 1))
        img[hole] = BLANK_VALUE
        label_map[hole] = BLANK
    return np.clip(np.round(img), 0, 255).astype(np.uint8), label_map
