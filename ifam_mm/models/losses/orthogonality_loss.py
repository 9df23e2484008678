# Copyright (c) ifam_mm contributors. All rights reserved.
import torch
import torch.nn.functional as F
from torch import nn

from mmpretrain.registry import MODELS

ORTHOGONALITY_MODES = ('parts', 'reference_features')


@MODELS.register_module()
class PartOrthogonalityLoss(nn.Module):
    """Decorrelate the K + 1 modulated part vectors.

    ``mode='parts'`` (PDiscoFormer's intent, default): normalise each part
    vector, ``G = F^T F`` is (K + 1) x (K + 1), loss ``mean (G - I)^2``;
    orthonormal parts give 0. ``mode='reference_features'`` reproduces the
    iFAM code, which transposes first and so decorrelates the D feature
    dimensions across parts (a D x D Gram that cannot reach 0 when
    D > K + 1; docs/method.md "Losses", "Where the reference code differs").
    Use it only to match published numbers.

    Args:
        mode (str): ``'parts'`` or ``'reference_features'``.
            Defaults to ``'parts'``.
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self, mode: str = 'parts', loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in ORTHOGONALITY_MODES:
            raise ValueError(f'mode must be one of {ORTHOGONALITY_MODES}, '
                             f'got {mode!r}.')
        self.mode = mode
        self.loss_weight = loss_weight

    def forward(self, part_features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_features (torch.Tensor): Modulated part vectors
                [B, D, K + 1].

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        vectors = part_features.float()
        if self.mode == 'reference_features':
            vectors = vectors.transpose(1, 2)
        # Columns are the vectors to decorrelate.
        unit = F.normalize(vectors, dim=1)
        gram = unit.transpose(1, 2) @ unit
        identity = torch.eye(gram.shape[-1], device=gram.device)
        return self.loss_weight * (gram - identity).pow(2).mean()
