# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
from torch import nn

from mmpretrain.registry import MODELS


@MODELS.register_module()
class PixelEntropyLoss(nn.Module):
    """Mean Shannon entropy of each token's (K + 1)-way assignment.

    Pushes every token towards one part. A uniform map gives ``log(K + 1)``.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): [B, K + 1, h, w], summing to 1 over
                channels.

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        # p * log(max(p, tiny)): 0 * log 0 = 0, so one-hot maps give exactly
        # 0, and, unlike xlogy's, the gradient stays finite where a
        # probability underflowed to 0 (e.g. a token far from every part).
        tiny = torch.finfo(part_maps.dtype).tiny
        entropy = -(part_maps * part_maps.clamp_min(tiny).log()).sum(dim=1)
        return self.loss_weight * entropy.mean()
