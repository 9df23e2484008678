# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
from torch import nn

from mmpretrain.registry import MODELS


@MODELS.register_module()
class TotalVariationLoss(nn.Module):
    """Anisotropic total variation of all K + 1 part maps.

    ``L = sum |A_{i+1,j} - A_ij| + |A_{i,j+1} - A_ij| / (B h w)`` summed over
    channels (background included). The normaliser is computed per call;
    the reference caches it from the first batch (docs/method.md "Where the
    reference code differs").

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): [B, K + 1, h, w].

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        batch, _, h, w = part_maps.shape
        vertical = (part_maps[:, :, 1:] - part_maps[:, :, :-1]).abs().sum()
        horizontal = (part_maps[..., 1:] - part_maps[..., :-1]).abs().sum()
        return self.loss_weight * (vertical + horizontal) / (batch * h * w)
