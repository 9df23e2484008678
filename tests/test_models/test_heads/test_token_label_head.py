# Copyright (c) ifam_mm contributors. All rights reserved.
"""TokenLabelHead: per-token targets from pixel label maps."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ifam_mm  # noqa: F401
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

D, PARTS = 8, 3
HEAD = dict(type='TokenLabelHead', in_channels=D, num_parts=PARTS,
            extra_mask_keys=('gt_cue_mask', 'gt_fg_mask'))
CUE, FG = PARTS + 1, PARTS + 2  # labels of the extra masks


def build(**kwargs):
    torch.manual_seed(0)
    head = MODELS.build(dict(HEAD, **kwargs))
    head.init_weights()
    return head


def crafted_samples():
    """Two 16 x 16 pixel samples on a 2 x 2 grid of 8 x 8 px tokens.

    Sample 0 (numpy fields):

    - token (0, 0): part 2 on 20 px, part 1 on 10 px, background on 34 px:
      part 2, though background is the majority.
    - token (0, 1): part 1 on 15 px (< 16 = 0.25 * 64): background.
    - token (1, 0): part 1 on exactly 16 px, part 3 on 8 px: part 1.
    - token (1, 1): part 3 everywhere, the cue mask over 40 px: the cue.

    Sample 1 (torch fields): part 1 everywhere; the cue mask covers the
    top half of token (0, 1) and 40 px of token (1, 0), the object mask
    all of token (0, 1), drawn last, so over the cue.
    """
    part = np.zeros((16, 16), np.int64)
    part[0:2, 0:8] = 2
    part[2, 0:4] = 2
    part[3, 0:8] = 1
    part[4, 0:2] = 1
    part[0, 8:16] = 1
    part[1, 8:15] = 1
    part[8:10, 0:8] = 1
    part[10, 0:8] = 3
    part[8:16, 8:16] = 3
    cue = np.zeros((16, 16), bool)
    cue[8:13, 8:16] = True
    first = DataSample()
    first.set_field(part, 'gt_part_mask')
    first.set_field(cue, 'gt_cue_mask')
    first.set_field(np.zeros((16, 16), bool), 'gt_fg_mask')

    cue = torch.zeros(16, 16, dtype=torch.bool)
    cue[0:4, 8:16] = True
    cue[8:13, 0:8] = True
    fg = torch.zeros(16, 16, dtype=torch.bool)
    fg[0:8, 8:16] = True
    second = DataSample()
    second.set_field(torch.ones(16, 16, dtype=torch.long), 'gt_part_mask')
    second.set_field(cue, 'gt_cue_mask')
    second.set_field(fg, 'gt_fg_mask')
    return [first, second]


EXPECTED = torch.tensor([[[2, 0], [1, CUE]], [[1, FG], [CUE, 1]]])


def test_token_targets_of_crafted_maps():
    head = build()
    assert head.num_labels == PARTS + 3
    targets = head.token_targets(crafted_samples(), (2, 2))
    assert targets.dtype == torch.long
    assert torch.equal(targets, EXPECTED)


def test_min_fraction_is_the_threshold():
    # 15 px of part 1 in token (0, 1) is 0.234 of it: enough at 0.2.
    targets = build(min_fraction=0.2).token_targets(crafted_samples(),
                                                    (2, 2))
    assert targets[0, 0, 1] == 1
    # At 0.3 the 16 px of part 1 in token (1, 0) are too few; part 2's
    # 20 px (0.31) still pass.
    targets = build(min_fraction=0.3).token_targets(crafted_samples(),
                                                    (2, 2))
    assert targets[0, 1, 0] == 0
    assert targets[0, 0, 0] == 2


def test_missing_field_names_the_keys():
    sample = crafted_samples()[0]
    del sample.gt_fg_mask
    with pytest.raises(KeyError,
                       match=re.escape("reads ['gt_fg_mask'] from each")):
        build().token_targets([sample], (2, 2))
    with pytest.raises(KeyError, match=r'PackInputs\(algorithm_keys'):
        build().token_targets([sample], (2, 2))


def test_part_id_above_num_parts():
    sample = crafted_samples()[0]
    sample.gt_part_mask[0, 0] = PARTS + 1
    with pytest.raises(ValueError,
                       match='holds part id 4, but num_parts=3'):
        build().token_targets([sample], (2, 2))
    # The largest allowed id is fine.
    sample.gt_part_mask[0, 0] = PARTS
    build().token_targets([sample], (2, 2))


def test_loss_is_cross_entropy_on_the_targets_and_trains():
    head = build()
    torch.manual_seed(1)
    feats = (torch.randn(2, D, 2, 2), )
    samples = crafted_samples()
    loss = head.loss(feats, samples)
    assert set(loss) == {'loss_token'}
    assert torch.isfinite(loss['loss_token'])
    torch.testing.assert_close(loss['loss_token'],
                               F.cross_entropy(head(feats), EXPECTED))

    optim = torch.optim.SGD(head.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        optim.zero_grad()
        value = head.loss(feats, samples)['loss_token']
        value.backward()
        optim.step()
        losses.append(value.item())
    assert losses[-1] < 0.8 * losses[0]


def test_predict_stores_token_labels():
    head = build().eval()
    feats = (torch.randn(2, D, 3, 4), )
    with torch.no_grad():
        expected = head(feats).argmax(1)
        out = head.predict(feats, [DataSample(), DataSample()])
        fresh = head.predict(feats)
    assert head(feats).shape == (2, PARTS + 3, 3, 4)
    for results in (out, fresh):
        assert len(results) == 2
        for sample, labels in zip(results, expected):
            assert sample.pred_token_label.shape == (3, 4)
            assert torch.equal(sample.pred_token_label, labels)


def test_inside_a_stock_image_classifier():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='HardMaskViT',
                arch='vit_small_patch14_reg4_dinov2',
                img_size=32,
                patch_size=8,
                embed_dim=32,
                depth=1,
                num_heads=2,
                out_type='featmap',
                pretrained=None),
            head=dict(
                type='TokenLabelHead',
                in_channels=32,
                num_parts=2,
                extra_mask_keys=('gt_cue_mask', ))))
    model.init_weights()
    inputs = torch.rand(2, 3, 32, 32)
    samples = []
    for i in range(2):
        part = torch.zeros(32, 32, dtype=torch.long)
        part[:16, :16] = 1 + i  # the top-left 2 x 2 tokens
        cue = torch.zeros(32, 32, dtype=torch.bool)
        cue[24:, 24:] = True  # the bottom-right token
        sample = DataSample().set_gt_label(i)
        sample.set_field(part, 'gt_part_mask')
        sample.set_field(cue, 'gt_cue_mask')
        samples.append(sample)

    loss = model(inputs, samples, mode='loss')
    assert set(loss) == {'loss_token'}
    assert torch.isfinite(loss['loss_token'])
    loss['loss_token'].backward()
    grad = model.backbone.vit.patch_embed.proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    assert [s.pred_token_label.shape for s in out] == [(4, 4)] * 2
    assert all(int(s.pred_token_label.max()) < 4 for s in out)
