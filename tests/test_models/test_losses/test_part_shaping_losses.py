# Copyright (c) ifam_mm contributors. All rights reserved.
"""Part-shaping losses on hand-built maps with known values."""
import math

import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.models.losses import AffineParams
from mmpretrain.registry import MODELS

K = 3  # foreground parts; channel K is the background


def one_hot_maps(labels: torch.Tensor) -> torch.Tensor:
    """[B, h, w] part indices -> [B, K + 1, h, w] one-hot maps."""
    return torch.nn.functional.one_hot(labels, K + 1).permute(0, 3, 1,
                                                              2).float()


def build(type_, **kwargs):
    return MODELS.build(dict(type=type_, **kwargs))


def test_presence_is_zero_when_every_part_fills_a_3x3_block():
    labels = torch.full((2, 6, 6), K)
    labels[0, :3, :3] = 0
    labels[0, 3:, 3:] = 1
    labels[1, :3, 3:] = 2  # part 2 only in the second image: max over b
    assert build('PresenceLoss')(one_hot_maps(labels)) == 0


def test_presence_counts_missing_parts():
    labels = torch.full((1, 6, 6), K)
    labels[0, :3, :3] = 0  # parts 1 and 2 absent
    loss = build('PresenceLoss', loss_weight=2.0)(one_hot_maps(labels))
    assert loss.item() == pytest.approx(2.0 * (1 - 1 / 3))


def test_background_border_prior():
    corner_background = torch.zeros(1, 7, 7, dtype=torch.long)
    corner_background[0, :3, :3] = K  # pooled corner value 1 at weight 1
    loss = build('BackgroundBorderLoss', loss_weight=1.0)
    assert loss(one_hot_maps(corner_background)).item() == pytest.approx(0)
    # Background on the centre 3x3: the best pooled value is 3/9 at weight
    # 1/2 (middle of an edge of the 5x5 pooled grid), so -log(1/6).
    centre_background = torch.zeros(1, 7, 7, dtype=torch.long)
    centre_background[0, 2:5, 2:5] = K
    assert loss(one_hot_maps(centre_background)).item() == pytest.approx(
        math.log(6), rel=1e-5)
    # No background at all: log(0) is clamped at -100, as in PyTorch's BCE.
    no_background = torch.zeros(1, 7, 7, dtype=torch.long)
    assert loss(one_hot_maps(no_background)).item() == pytest.approx(100)


def test_total_variation_counts_edges_per_token():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, :, 2:] = K  # one vertical edge, 4 rows long
    # Two channels change across the edge: 2 channels * 4 rows / (1*4*4).
    loss = build('TotalVariationLoss')(one_hot_maps(labels))
    assert loss.item() == pytest.approx(0.5)
    assert build('TotalVariationLoss')(torch.full((2, K + 1, 5, 5),
                                                  0.25)) == 0


def test_entropy_of_uniform_and_one_hot_maps():
    loss = build('PixelEntropyLoss')
    uniform = torch.full((2, K + 1, 4, 4), 1 / (K + 1))
    assert loss(uniform).item() == pytest.approx(math.log(K + 1))
    assert loss(one_hot_maps(torch.zeros(2, 4, 4, dtype=torch.long))) == 0


def test_orthogonality_zero_for_orthonormal_parts():
    basis = torch.linalg.qr(torch.randn(16, K + 1))[0]  # orthonormal cols
    features = (basis * torch.tensor([1., 2., 3., 4.]))[None]  # any norms
    assert build('PartOrthogonalityLoss')(features).item() == pytest.approx(
        0, abs=1e-6)
    identical = torch.ones(1, 16, K + 1)
    # Every off-diagonal cosine is 1: (K+1)^2 - (K+1) ones over (K+1)^2.
    assert build('PartOrthogonalityLoss')(identical).item() == pytest.approx(
        1 - 1 / (K + 1))


def test_reference_orthogonality_decorrelates_feature_dimensions():
    basis = torch.linalg.qr(torch.randn(16, K + 1))[0][None]
    reference = build('PartOrthogonalityLoss', mode='reference_features')
    # Orthonormal parts still cost the reference variant: D > K + 1.
    assert reference(basis).item() > 0.1
    with pytest.raises(ValueError, match='mode must be one of'):
        build('PartOrthogonalityLoss', mode='features')


def test_concentration_zero_for_point_parts_and_positive_when_spread():
    labels = torch.full((1, 5, 5), K)
    labels[0, 1, 1], labels[0, 3, 3], labels[0, 0, 4] = 0, 1, 2
    loss = build('ConcentrationLoss', loss_weight=1.0)
    assert loss(one_hot_maps(labels)).item() == pytest.approx(0, abs=1e-7)
    labels[0, 4, 0] = 0  # part 0 now in two far corners
    assert loss(one_hot_maps(labels)).item() > 0


def test_equivariance_zero_for_identity_transform():
    maps = torch.rand(2, K + 1, 6, 6).softmax(dim=1)
    identity = AffineParams(angle=0.0, translate=(0, 0), scale=1.0)
    loss = build('EquivarianceLoss')(maps, maps, identity, image_width=48)
    assert loss.item() == pytest.approx(0, abs=1e-6)


def test_equivariance_inverts_a_rotation_and_shift():
    equivariance = build('EquivarianceLoss')
    maps = torch.rand(2, K + 1, 8, 8)
    maps[..., :2, :] = maps[..., -2:, :] = 0  # keep content inside after
    maps[..., :, :2] = maps[..., :, -2:] = 0  # the shift
    params = AffineParams(angle=90.0, translate=(8, 0), scale=1.0)
    # Move the maps as the images move: a shift of 8 px in a 64 px image is
    # one token; rotations by 90 degrees are exact on the grid.
    token_params = AffineParams(angle=90.0, translate=(1, 0), scale=1.0)
    forward = equivariance.transform_images(maps, token_params)
    loss = equivariance(maps, forward, params, image_width=64)
    assert loss.item() == pytest.approx(0, abs=1e-6)
    wrong = equivariance(maps, torch.rot90(maps, k=2, dims=(2, 3)), params,
                         image_width=64)
    assert wrong.item() > 0.05


def test_equivariance_samples_within_ranges():
    equivariance = build('EquivarianceLoss')
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        params = equivariance.sample((100, 200), generator)
        assert -90 <= params.angle <= 90 and 0.8 <= params.scale <= 1.4
        assert abs(params.translate[0]) <= 22 and abs(
            params.translate[1]) <= 11
    images = torch.rand(2, 3, 100, 200)
    assert equivariance.transform_images(images,
                                         params).shape == images.shape
