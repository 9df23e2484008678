# Copyright (c) ifam_mm contributors. All rights reserved.
"""Label-map codes of SpuriousShapes masks, and pixel-to-token helpers.

Each sample has one uint8 label map (a PNG next to the image) that says what
every pixel shows. The codes below turn it into the foreground, part and
cue masks (see :func:`decode_label_map`).
"""
from typing import Dict

import numpy as np

BACKGROUND = 0  # background texture that carries no spurious attribute
MAX_PART = 99  # foreground pixels hold their part id, 1..MAX_PART
CUE = 100  # pixels that carry the spurious attribute
BLANK = 255  # constant fill: an image region showing nothing
# Grey of BLANK pixels, also the TEXTURE_MEAN: an erased region adds no
# brightness cue.
BLANK_VALUE = 128


def decode_label_map(label_map: np.ndarray) -> Dict[str, np.ndarray]:
    """Split a label map into the masks a model or metric uses.

    Args:
        label_map (np.ndarray): uint8 label map [H, W].

    Returns:
        dict[str, np.ndarray]: ``gt_fg_mask`` (bool [H, W], the object),
        ``gt_part_mask`` (uint8 [H, W], part id on the object, 0 elsewhere)
        and ``gt_cue_mask`` (bool [H, W], the pixels that carry the spurious
        attribute: the background for the ``'background'`` cue, the small
        object for ``'cooccurring_object'``).
    """
    fg = (label_map >= 1) & (label_map <= MAX_PART)
    return dict(
        gt_fg_mask=fg,
        gt_part_mask=np.where(fg, label_map, 0).astype(np.uint8),
        gt_cue_mask=label_map == CUE)


def token_fractions(masks: np.ndarray, patch_size: int) -> np.ndarray:
    """Fraction of each patch's pixels inside the mask.

    Args:
        masks (np.ndarray): Bool pixel masks [..., H, W]; H and W must be
            multiples of ``patch_size``.
        patch_size (int): Side of a ViT patch in pixels.

    Returns:
        np.ndarray: float [..., H / patch_size, W / patch_size].
    """
    *lead, h, w = masks.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f'Mask size {h}x{w} is not a multiple of '
                         f'patch_size={patch_size}.')
    grid = masks.reshape(*lead, h // patch_size, patch_size, w // patch_size,
                         patch_size)
    return grid.mean(axis=(-3, -1))


def token_mask(masks: np.ndarray,
               patch_size: int,
               min_fraction: float = 0.5) -> np.ndarray:
    """Ground-truth token mask: patches whose mask fraction is high enough.

    Args:
        masks (np.ndarray): Bool pixel masks [..., H, W].
        patch_size (int): Side of a ViT patch in pixels.
        min_fraction (float): A patch is kept when at least this fraction of
            its pixels is in the mask; 0 keeps any patch it touches.
            Defaults to 0.5.

    Returns:
        np.ndarray: Bool [..., N] in raster order (N patches), as
        ``HardMaskViT(token_mask=...)`` takes it.
    """
    fractions = token_fractions(masks, patch_size)
    keep = fractions > 0 if min_fraction <= 0 else fractions >= min_fraction
    return keep.reshape(*keep.shape[:-2], -1)


def token_leakage(masks: np.ndarray,
                  patch_size: int,
                  min_fraction: float = 0.5) -> Dict[str, float]:
    """How far a ground-truth token mask is from the pixel mask.

    Args:
        masks (np.ndarray): Bool foreground masks [B, H, W].
        patch_size (int): Side of a ViT patch in pixels.
        min_fraction (float): Rule of :func:`token_mask`. Defaults to 0.5.

    Returns:
        dict[str, float]: ``bg_in_kept``: share of background pixels among
        the pixels of kept tokens (what leaks into a masked model);
        ``fg_dropped``: share of foreground pixels in dropped tokens (what
        the mask hides); ``kept_tokens``: share of tokens kept; and
        ``empty_masks``: share of images with no token kept.
    """
    keep = token_mask(masks, patch_size, min_fraction)
    fractions = token_fractions(masks, patch_size).reshape(keep.shape)
    fg_kept = (fractions * keep).sum()
    return dict(
        bg_in_kept=float(1 - fg_kept / max(keep.sum(), 1)),
        fg_dropped=float(1 - fg_kept / max(fractions.sum(), 1e-12)),
        kept_tokens=float(keep.mean()),
        empty_masks=float((~keep.any(axis=-1)).mean()))
