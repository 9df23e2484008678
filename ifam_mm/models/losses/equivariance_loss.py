# Copyright (c) ifam_mm contributors. All rights reserved.
"""Equivariance of the part maps under one random affine per batch."""
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn
from torchvision.transforms import InterpolationMode

from mmpretrain.registry import MODELS


@dataclass(frozen=True)
class AffineParams:
    """One affine transform: rotation (deg), integer pixel shift, scale."""
    angle: float
    translate: Sequence[int]
    scale: float


@MODELS.register_module()
class EquivarianceLoss(nn.Module):
    """Part maps of a transformed image, transformed back, must match.

    The classifier samples one transform per batch (:meth:`sample`), runs
    stage 1 only on ``T(images)`` (:meth:`transform_images`) and calls this
    loss with both maps: ``1 - mean_{b, k<K} cos(A_k, T^-1(A'_k))`` over the
    foreground channels, with ``T^-1`` applied at map resolution
    (docs/method.md "Losses").

    Args:
        degrees (float): Rotation range (+-). Defaults to 90.
        translate (float): Shift range as a fraction of the image size.
            Defaults to 0.11.
        scale (Sequence[float]): Scale range. Defaults to (0.8, 1.4).
        loss_weight (float): Weight of the term. Defaults to 1.0.
    """

    def __init__(self,
                 degrees: float = 90.0,
                 translate: float = 0.11,
                 scale: Sequence[float] = (0.8, 1.4),
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.degrees = degrees
        self.translate = translate
        self.scale = tuple(scale)
        self.loss_weight = loss_weight

    def sample(self,
               image_size: Sequence[int],
               generator: Optional[torch.Generator] = None) -> AffineParams:
        """Draw one transform for a batch of ``image_size`` (H, W) images."""

        def uniform(low, high):
            return float(low + (high - low) * torch.rand(
                (), generator=generator))

        height, width = image_size
        shift_x = round(uniform(-self.translate, self.translate) * width)
        shift_y = round(uniform(-self.translate, self.translate) * height)
        return AffineParams(
            angle=uniform(-self.degrees, self.degrees),
            translate=(shift_x, shift_y),
            scale=uniform(*self.scale))

    @staticmethod
    def transform_images(images: torch.Tensor,
                         params: AffineParams) -> torch.Tensor:
        """Apply ``T`` to a batch of images (bilinear, zero fill)."""
        return TF.affine(
            images,
            angle=params.angle,
            translate=list(params.translate),
            scale=params.scale,
            shear=[0.0],
            interpolation=InterpolationMode.BILINEAR)

    @staticmethod
    def invert_maps(maps: torch.Tensor, params: AffineParams,
                    image_width: int) -> torch.Tensor:
        """Apply ``T^-1`` to maps [B, C, h, w] of ``image_width`` images."""
        ratio = maps.shape[-1] / image_width
        shift = [-round(t * ratio) for t in params.translate]
        maps = TF.affine(
            maps, angle=0.0, translate=shift, scale=1.0, shear=[0.0])
        return TF.affine(
            maps,
            angle=-params.angle,
            translate=[0, 0],
            scale=1 / params.scale,
            shear=[0.0])

    def forward(self, part_maps: torch.Tensor,
                transformed_maps: torch.Tensor, params: AffineParams,
                image_width: int) -> torch.Tensor:
        """
        Args:
            part_maps (torch.Tensor): Maps of the images [B, K + 1, h, w].
            transformed_maps (torch.Tensor): Maps of ``T(images)``.
            params (AffineParams): The transform ``T``.
            image_width (int): Input width, to rescale the shift.

        Returns:
            torch.Tensor: Weighted scalar loss.
        """
        restored = self.invert_maps(transformed_maps[:, :-1], params,
                                    image_width)
        cosine = F.cosine_similarity(
            part_maps[:, :-1].flatten(2), restored.flatten(2), dim=2)
        return self.loss_weight * (1 - cosine.mean())
