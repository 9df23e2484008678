# Copyright (c) ifam_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch

import ifam_mm  # noqa: F401
from ifam_mm.models.utils import pixel_to_token_mask
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

MODEL = dict(
    type='EarlyMaskClassifier',
    backbone=dict(
        type='HardMaskViT',
        arch='vit_small_patch14_reg4_dinov2',
        img_size=56,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        init_values=None),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=32))


def samples_with_masks(masks):
    out = []
    for i, mask in enumerate(masks):
        sample = DataSample().set_gt_label(i % 3)
        sample.set_field(mask, 'gt_fg_mask')
        out.append(sample)
    return out


def test_pixel_to_token_mask_uses_the_half_rule():
    pixels = torch.zeros(1, 4, 4, dtype=torch.bool)
    pixels[0, :2, :2] = True  # token (0, 0) full
    pixels[0, 0, 2:] = True  # token (0, 1) half
    pixels[0, 2, 0] = True  # token (1, 0) a quarter
    tokens = pixel_to_token_mask(pixels, (2, 2))
    assert tokens.tolist() == [[[True, True], [False, False]]]
    with pytest.raises(ValueError, match='not a multiple'):
        pixel_to_token_mask(torch.zeros(1, 5, 4), (2, 2))


def test_prediction_ignores_pixels_outside_the_mask():
    torch.manual_seed(0)
    model = MODELS.build(MODEL).eval()
    masks = [np.zeros((56, 56), bool) for _ in range(2)]
    masks[0][8:40, 8:32] = True
    masks[1][16:56, 0:24] = True
    images = torch.rand(2, 3, 56, 56)
    changed = images.clone()
    for i, mask in enumerate(masks):
        changed[i][:, ~torch.from_numpy(mask)] = torch.rand(
            int((~mask).sum())) * 5
    with torch.no_grad():
        a = model(images, samples_with_masks(masks), mode='predict')
        b = model(changed, samples_with_masks(masks), mode='predict')
        unmasked = model.head(model.backbone(changed))
    for x, y in zip(a, b):
        torch.testing.assert_close(x.pred_score, y.pred_score, atol=1e-6,
                                   rtol=0)
    assert not torch.allclose(unmasked.softmax(1),
                              torch.stack([s.pred_score for s in a]))
    losses = model.train()(images, samples_with_masks(masks), mode='loss')
    assert torch.isfinite(losses['loss'])


def test_missing_mask_names_the_fix():
    model = MODELS.build(MODEL)
    with pytest.raises(KeyError, match='PackInputs'):
        model(torch.rand(1, 3, 56, 56), [DataSample().set_gt_label(0)],
              mode='loss')


def test_no_mask_is_an_error_in_every_mode():
    """Without data samples there is no mask: never an unmasked forward."""
    model = MODELS.build(MODEL).eval()
    images = torch.rand(2, 3, 56, 56)
    for call in (lambda: model(images, mode='tensor'),
                 lambda: model(images, mode='predict'),
                 lambda: model.extract_feat(images, stage='backbone')):
        with pytest.raises(ValueError, match='got no data samples'):
            call()
    masks = [np.ones((56, 56), bool)] * 2
    logits = model(images, samples_with_masks(masks), mode='tensor')
    assert logits.shape == (2, 3)


def test_a_mask_of_another_size_is_refused():
    model = MODELS.build(MODEL)
    masks = [np.ones((112, 112), bool)]  # a multiple of the grid, too
    with pytest.raises(ValueError, match='must follow the image'):
        model(torch.rand(1, 3, 56, 56), samples_with_masks(masks),
              mode='loss')


def test_a_backbone_that_cannot_take_a_mask_is_refused():
    with pytest.raises(TypeError, match='needs a HardMaskViT'):
        MODELS.build(dict(
            MODEL,
            backbone=dict(type='VisionTransformer', arch='deit-tiny',
                          img_size=56, patch_size=8)))
