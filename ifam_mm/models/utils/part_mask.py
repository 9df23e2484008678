# Copyright (c) ifam_mm contributors. All rights reserved.
"""From stage-1 part maps to the token mask stage 2 sees."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def foreground_token_mask(logits: torch.Tensor,
                          part_maps: Optional[torch.Tensor] = None,
                          part_dropout: float = 0.0,
                          remove_parts: Sequence[int] = (),
                          max_distance: Optional[torch.Tensor] = None,
                          gumbel: Optional[torch.Tensor] = None
                          ) -> torch.Tensor:
    """Token mask: kept iff the token's part is a (kept) foreground part.

    In training (soft ``part_maps``, optionally with stage-2 part dropout):
    the value is the hard decision ``max_{k<K} A_k >= A_K`` and the gradient
    is that of ``S = sum_{k<K} A_k`` (straight-through; method.md §1.4).
    Dropped parts are zeroed and survivors are *not* rescaled; the
    background is never dropped. At evaluation (``part_maps=None``) the
    decision is ``argmax (logits + gumbel) < K`` (``gumbel`` None: noise-
    free). Both ways a foreground/background tie keeps the token, as the
    reference's argmax over [foreground, background] does.

    Args:
        logits (torch.Tensor): ``-distance`` [B, K + 1, h, w], background
            last.
        part_maps (torch.Tensor, optional): Soft maps (training); None
            uses the argmax of ``logits`` (+ ``gumbel``) (evaluation).
        part_dropout (float): Stage-2 part dropout rate; needs
            ``part_maps``. Defaults to 0.
        remove_parts (Sequence[int]): Foreground parts whose tokens become
            background (test-time intervention). Defaults to ().
        max_distance (torch.Tensor, optional): [K] per-part thresholds
            (evaluation only): a token whose squared distance to its
            assigned part's prototype exceeds that part's threshold becomes
            background (token-removal intervention). Defaults to None.
        gumbel (torch.Tensor, optional): Gumbel noise [B, K + 1, h, w]
            added to ``logits`` for the assignment only (evaluation with
            ``gumbel_at_eval``; distances stay noise-free). Defaults to
            None.

    Returns:
        torch.Tensor: Float mask [B, h, w]: exactly 0 or 1 in value; carries
        the straight-through gradient when ``logits`` requires grad.
    """
    num_parts = logits.shape[1] - 1
    check_remove_parts(remove_parts, num_parts)
    if part_maps is None:
        if part_dropout > 0:
            raise ValueError('Stage-2 part dropout needs soft part_maps.')
        # argmax returns the first maximum: ties go to foreground.
        assignment = (logits if gumbel is None else logits + gumbel).argmax(
            dim=1)
        keep = assignment < num_parts
        for part in remove_parts:
            keep &= assignment != part
        if max_distance is not None:
            distance = -logits.gather(1, assignment[:, None])[:, 0]
            limit = max_distance.to(logits.device)[assignment.clamp(
                max=num_parts - 1)]
            keep &= distance <= limit
        return keep.to(logits.dtype)
    foreground, background = part_maps[:, :-1], part_maps[:, -1]
    if part_dropout > 0:
        # dropout2d zeroes (sample, part) channels and rescales the rest;
        # multiplying back undoes the rescaling.
        foreground = F.dropout2d(
            foreground, p=part_dropout, training=True) * (1 - part_dropout)
    if remove_parts:
        keep_part = torch.ones(num_parts, device=logits.device)
        keep_part[list(remove_parts)] = 0
        foreground = foreground * keep_part[:, None, None]
    hard = (foreground.amax(dim=1) >= background).to(part_maps.dtype)
    surrogate = foreground.sum(dim=1)
    # Parenthesised so the value is exactly 0 or 1 (the reference's
    # ``(1 - S) + S`` is 1 +- 1 ulp).
    return hard + (surrogate - surrogate.detach())


def check_remove_parts(remove_parts: Sequence[int], num_parts: int) -> None:
    """Raise unless ``remove_parts`` lists foreground parts and keeps one.

    Removing every part is an error, not a warning: stage 2 would see its
    prefix tokens alone and give every image the same prediction.
    """
    if not isinstance(remove_parts, (list, tuple)):
        raise TypeError(f'remove_parts must be a list of part indices, e.g. '
                        f'[3], got {remove_parts!r}.')
    bad = [p for p in remove_parts if not 0 <= p < num_parts]
    if bad:
        raise ValueError(f'remove_parts {bad} out of range: foreground parts '
                         f'are 0..{num_parts - 1}.')
    if len(set(remove_parts)) == num_parts:
        raise ValueError(
            f'remove_parts {sorted(set(remove_parts))} removes every '
            f'foreground part (K={num_parts}): stage 2 would see no patch '
            'token and predict the same class for every image. Keep at '
            'least one part.')


def reference_dot_logits(dots: torch.Tensor,
                         min_dot: torch.Tensor) -> torch.Tensor:
    """The reference code's token removal: logits become dot products.

    Foreground logits are ``<x, p_k>``, or -inf where below the part's
    threshold; the background logit is ``<x, p_K>`` (method.md §4.6). A
    token below threshold may thus move to another foreground part.

    Args:
        dots (torch.Tensor): ``<x, p_k>`` [B, K + 1, h, w], background last.
        min_dot (torch.Tensor): [K] per-part lower thresholds.

    Returns:
        torch.Tensor: Logits [B, K + 1, h, w] for ``foreground_token_mask``.
    """
    foreground = dots[:, :-1]
    below = foreground < min_dot.to(dots.device)[None, :, None, None]
    foreground = foreground.masked_fill(below, float('-inf'))
    return torch.cat([foreground, dots[:, -1:]], dim=1)


def resample_token_mask(mask: torch.Tensor, grid_size: Sequence[int]):
    """Resample a [B, h, w] token mask to another patch grid (nearest).

    A stage-2 token is kept iff the stage-1 token nearest to its centre is
    kept (``nearest`` interpolation), which keeps the mask binary.
    """
    if tuple(mask.shape[-2:]) == tuple(grid_size):
        return mask
    return F.interpolate(mask[:, None], size=tuple(grid_size),
                         mode='nearest')[:, 0]


def soft_foreground_mask(logits: torch.Tensor,
                         part_maps: Optional[torch.Tensor] = None,
                         temperature: float = 1.0,
                         part_dropout: float = 0.0) -> torch.Tensor:
    """Soft-mask ablation: the largest foreground probability per token.

    Args:
        logits (torch.Tensor): ``-distance`` [B, K + 1, h, w].
        part_maps (torch.Tensor, optional): Soft maps; None uses the
            noise-free softmax of ``logits``.
        temperature (float): Softmax temperature. Defaults to 1.
        part_dropout (float): Stage-2 part dropout rate (training).

    Returns:
        torch.Tensor: [B, h, w] in [0, 1], differentiable.
    """
    if part_maps is None:
        part_maps = (logits / temperature).softmax(dim=1)
    foreground = part_maps[:, :-1]
    if part_dropout > 0:
        foreground = F.dropout2d(
            foreground, p=part_dropout, training=True) * (1 - part_dropout)
    return foreground.amax(dim=1)


def pixel_to_token_mask(masks: torch.Tensor, grid_size: Sequence[int],
                        threshold: float = 0.5) -> torch.Tensor:
    """Pixel masks [B, H, W] -> token masks [B, h, w] (bool).

    A token is kept iff at least ``threshold`` of its pixels are set (the
    ``>= 50 %`` rule of our evaluation docs); H and W must be multiples of
    the grid, as they are for a ViT's patches.
    """
    height, width = masks.shape[-2:]
    h, w = grid_size
    if height % h or width % w:
        raise ValueError(f'Mask size {(height, width)} is not a multiple of '
                         f'the patch grid {tuple(grid_size)}.')
    fraction = F.avg_pool2d(
        masks[:, None].float(), kernel_size=(height // h, width // w))
    return fraction[:, 0] >= threshold
