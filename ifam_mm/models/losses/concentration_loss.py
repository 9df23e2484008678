# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
from torch import nn

from mmpretrain.registry import MODELS


@MODELS.register_module()
class ConcentrationLoss(nn.Module):
    """Each foreground part should be spatially compact.

    Soft centroid ``c_k = sum A_k (i, j) / stopgrad(sum A_k)``; the loss is
    the mean over images, foreground parts and tokens of
    ``A_kij [((c_row - i) / w)^2 + ((c_col - j) / h)^2]`` (docs/method.md
    "Losses"; the reference divides the row offset by w, which matters only for
    non-square maps). Off by default in the paper (weight 0).

    Args:
        loss_weight (float): Weight of the term. Defaults to 0.0.
    """

    def __init__(self, loss_weight: float = 0.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): [B, K + 1, h, w], background last.

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        maps = part_maps[:, :-1]
        h, w = maps.shape[-2:]
        rows = torch.arange(h, device=maps.device, dtype=maps.dtype)
        cols = torch.arange(w, device=maps.device, dtype=maps.dtype)
        mass = maps.sum(dim=(2, 3)).detach().clamp_min(1e-6)
        row_c = (maps.sum(dim=3) * rows).sum(dim=2) / mass
        col_c = (maps.sum(dim=2) * cols).sum(dim=2) / mass
        spread = (((row_c[..., None, None] - rows[:, None]) / w)**2 +
                  ((col_c[..., None, None] - cols[None, :]) / h)**2)
        return self.loss_weight * (maps * spread).mean()
