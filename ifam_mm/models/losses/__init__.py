# Copyright (c) ifam_mm contributors. All rights reserved.
from .background_prior_loss import BackgroundBorderLoss, border_weight
from .concentration_loss import ConcentrationLoss
from .equivariance_loss import AffineParams, EquivarianceLoss
from .orthogonality_loss import PartOrthogonalityLoss
from .pixel_entropy_loss import PixelEntropyLoss
from .presence_loss import PresenceLoss
from .total_variation_loss import TotalVariationLoss

__all__ = [
    'BackgroundBorderLoss', 'border_weight', 'ConcentrationLoss',
    'AffineParams', 'EquivarianceLoss', 'PartOrthogonalityLoss',
    'PixelEntropyLoss', 'PresenceLoss', 'TotalVariationLoss'
]
