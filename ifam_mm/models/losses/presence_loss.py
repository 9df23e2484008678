# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
import torch.nn.functional as F
from torch import nn

from mmpretrain.registry import MODELS


@MODELS.register_module()
class PresenceLoss(nn.Module):
    """Every foreground part must be clearly present in some image.

    ``L = 1 - mean_k max_b max_ij AvgPool3(A_k^b)_ij`` over the K foreground
    channels (docs/method.md "Losses"). The max runs over the local
    (per-process) batch, as in the paper, so its strength depends on the
    per-GPU batch.

    Args:
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): [B, K + 1, h, w], background last.

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        pooled = F.avg_pool2d(part_maps[:, :-1], kernel_size=3, stride=1)
        peak = pooled.amax(dim=(0, 2, 3))
        return self.loss_weight * (1 - peak.mean())
