# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
import torch.nn.functional as F
from torch import nn

from mmpretrain.registry import MODELS


def border_weight(h: int, w: int, device=None) -> torch.Tensor:
    """Radial weight, 0 at the centre and 1 at the corners: [h, w]."""
    u = torch.linspace(-1, 1, h, device=device)[:, None]
    v = torch.linspace(-1, 1, w, device=device)[None, :]
    radius = u**2 + v**2
    return radius / radius.max()


@MODELS.register_module()
class BackgroundBorderLoss(nn.Module):
    """The background must be strongly present near the image border.

    Per image, ``mu_b = max_ij omega_ij AvgPool3(A_K^b)_ij`` with ``omega``
    the radial weight (0 at the centre, 1 at the corners); the loss is
    ``-mean_b log mu_b`` (BCE to target 1, log clamped at -100 as PyTorch
    does), computed in fp32 (docs/method.md "Losses"). Use weight 0 where the
    prior does not hold (SIIM-ACR).

    Args:
        loss_weight (float): Weight of the term. Defaults to 2.0.
    """

    def __init__(self, loss_weight: float = 2.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_maps: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): [B, K + 1, h, w], background last.

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        with torch.autocast(part_maps.device.type, enabled=False):
            background = F.avg_pool2d(
                part_maps[:, -1:].float(), kernel_size=3, stride=1)[:, 0]
            weight = border_weight(*background.shape[-2:],
                                   device=background.device)
            peak = (weight * background).amax(dim=(1, 2)).clamp(0, 1)
            loss = F.binary_cross_entropy(peak, torch.ones_like(peak))
        return self.loss_weight * loss
